package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// Sizes of the sealed district: 1,000 compounds of five gates each, in 100
// communities of 10 sub-districts.
const (
	districtCompounds    = 1000
	districtGates        = 5
	districtPerCommunity = 10
	districtTargetWall   = 60 * time.Second
	// districtTimeScale keeps the seals' compliance checks (every 24
	// scenario hours) and shift changes (every 8) out of the measured
	// minute: a scenario hour is a real minute.
	districtTimeScale = 60
)

// districtRunbook seals every compound of the response's district with
// one staff member a gate; the district has a volunteer for every post.
const districtRunbook = `name: district-seal
title: Seal every compound of the district
level: 1
area: district
steps:
  - id: seal
    for_each:
      areas: {level: compound, under: response}
      steps:
        - id: seal-compound
          kind: seal
          params: {check_every: 24h, staff_per_checkpoint: 1, shift: 8h}
`

// districtScenario is a district of compounds compounds with gates gates
// each, and three volunteers a gate (one for each shift).
func districtScenario(compounds, gates int) string {
	var b strings.Builder
	b.WriteString("name: sealed-district\nareas:\n  - code: dist\n    name: Sealed District\n    level: district\n    areas:\n")
	communities := compounds / districtPerCommunity
	for c := range communities {
		if c%10 == 0 {
			fmt.Fprintf(&b, "      - code: dist-sd%02d\n        name: Sub-district %d\n        level: sub-district\n        areas:\n", c/10+1, c/10+1)
		}
		fmt.Fprintf(&b, "          - code: dist-c%03d\n            name: Community %d\n            level: community\n            areas:\n", c+1, c+1)
		for k := range districtPerCommunity {
			code := fmt.Sprintf("dist-c%03d-k%02d", c+1, k+1)
			fmt.Fprintf(&b, "              - code: %s\n                name: Compound %d-%d\n                level: compound\n                population: 400\n                gates:\n", code, c+1, k+1)
			for g := range gates {
				fmt.Fprintf(&b, "                  - {code: g%d, name: Gate %d, entrance: %v}\n", g+1, g+1, g == 0)
			}
			fmt.Fprintf(&b, "                staff:\n                  - {code: %s-v, name: Resident volunteer, role: volunteer, count: %d}\n", code, 3*gates)
		}
	}
	return b.String()
}

// BenchmarkDistrictSealed seals a generated district of 1,000 compounds
// and 5,000 gates with one for_each runbook, from respond to every
// compound holding, on a dev server with one worker in this process. Its
// baseline, measured first on the same server, is a parent workflow that
// starts 1,000 trivial child workflows, each running the activities a seal
// runs before it holds (plan, notice, one checkpoint a gate at once, roads,
// disinfection) with nothing in them. It prints both walls, the seal's
// rate as a share of the baseline's, and when the last seal started. Run
// it with `make bench` or
//
//	go test -run '^$' -bench DistrictSealed -benchtime 1x -timeout 15m ./app/e2e/
func BenchmarkDistrictSealed(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: needs the temporal CLI and PostgreSQL")
	}
	for range b.N {
		districtSealed(b)
	}
}

func districtSealed(b *testing.B) {
	ctx := context.Background()
	row := benchRow
	fmt.Printf("A district sealed: %d compounds, %d gates — %s\n\n", districtCompounds, districtCompounds*districtGates, machine())
	st, err := store.Open(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	f, err := scenario.Parse("sealed-district", []byte(districtScenario(districtCompounds, districtGates)))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, f.Rows()); err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.PublishRunbook(ctx, "district-seal", "Seal every compound of the district", []byte(districtRunbook), "bench"); err != nil {
		b.Fatal(err)
	}
	row("load the district (not measured)", "%7.2f s", time.Since(start).Seconds())

	c := devServer(ctx, b)

	b.ResetTimer()
	base := trivialChildren(ctx, b, c, districtCompounds, 4+districtGates)
	row(fmt.Sprintf("baseline: %d trivial children × %d activities", districtCompounds, 4+districtGates), "%7.2f s   %6.1f children/s", base.Seconds(), districtCompounds/base.Seconds())
	seal, started, held := sealDistrict(ctx, b, c, st)
	b.StopTimer()

	// Over the time limit, the rate is that of the seals holding by then.
	rate := float64(held) / seal.Seconds()
	ratio := rate / (districtCompounds / base.Seconds())
	row("respond → last seal started", "%7.2f s", started.Seconds())
	row(fmt.Sprintf("respond → %d of %d compounds holding", held, districtCompounds), "%7.2f s   %6.1f compounds/s   target < 60 s  %s", seal.Seconds(), rate, verdict(held == districtCompounds && seal < districtTargetWall))
	row("seal rate ÷ baseline rate", "%9.2f×   target ≥ 0.50×        %s", ratio, verdict(ratio >= 0.5))
	b.ReportMetric(seal.Seconds(), "s/district")
	b.ReportMetric(ratio, "x-baseline")
	if held < districtCompounds {
		b.Errorf("%d of %d compounds holding after %s", held, districtCompounds, seal.Round(time.Second))
	}
}

// sealDistrict starts the district's response and returns when every
// compound holds, or after 15 minutes, with when the last seal had started
// and how many hold. It prints the count every half minute.
func sealDistrict(ctx context.Context, b *testing.B, c client.Client, st *store.Store) (wall, started time.Duration, held int) {
	taskQueue := pgtest.Name("seal")
	w := service.NewWorker(c, taskQueue, st)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	incident := pgtest.Name("district")
	start := time.Now()
	id, _, err := service.StartResponse(ctx, c, taskQueue, workflows.ResponseInput{Incident: incident, Runbook: "district-seal", Area: "dist", TimeScale: districtTimeScale}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	said := start
	for deadline := start.Add(15 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		cancel()
		var p workflows.ResponseProgress
		if err != nil || v.Get(&p) != nil {
			continue
		}
		seals := 0
		held = 0
		var walk func(n *workflows.Node)
		walk = func(n *workflows.Node) {
			if n == nil {
				return
			}
			if n.Type == workflows.KindSeal && n.WorkflowID != "" {
				seals++
				if n.Held {
					held++
				}
			}
			for _, ch := range n.Children {
				walk(ch)
			}
		}
		walk(p.Root)
		if time.Since(said) > 30*time.Second {
			said = time.Now()
			fmt.Printf("  … %3.0f s: %d seals started, %d holding\n", time.Since(start).Seconds(), seals, held)
		}
		if started == 0 && seals >= districtCompounds {
			started = time.Since(start)
		}
		if held >= districtCompounds || p.State == workflows.ResponseHolding {
			if held < districtCompounds {
				b.Fatalf("response holding with %d of %d seals held", held, districtCompounds)
			}
			return time.Since(start), started, held
		}
		if p.State == workflows.ResponseFailed {
			b.Fatalf("response failed: %+v", p.Root)
		}
	}
	return time.Since(start), started, held
}

// trivialChildren runs the baseline: a parent that starts children trivial
// child workflows at once, each running activities empty activities in the
// seal's order, and returns its wall time.
func trivialChildren(ctx context.Context, b *testing.B, c client.Client, children, activities int) time.Duration {
	taskQueue := pgtest.Name("baseline")
	w := worker.New(c, taskQueue, service.WorkerOptions(worker.Options{}))
	w.RegisterWorkflowWithOptions(baselineParent, workflow.RegisterOptions{Name: "BaselineParent"})
	w.RegisterWorkflowWithOptions(baselineChild, workflow.RegisterOptions{Name: "BaselineChild"})
	w.RegisterActivityWithOptions(func(context.Context, int) (int, error) { return 0, nil }, activity.RegisterOptions{Name: "BaselineStep"})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pgtest.Name("baseline"), TaskQueue: taskQueue}, "BaselineParent", children, activities)
	if err != nil {
		b.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// baselineParent starts children at once and waits for all of them.
func baselineParent(ctx workflow.Context, children, activities int) error {
	futures := make([]workflow.ChildWorkflowFuture, children)
	for i := range futures {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fmt.Sprintf("%s/child-%d", workflow.GetInfo(ctx).WorkflowExecution.ID, i)})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, "BaselineChild", activities)
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// baselineChild runs activities empty activities as a seal runs its
// set-up: two in turn, the gates' at once, then two more.
func baselineChild(ctx workflow.Context, activities int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	step := func(ctx workflow.Context, i int) workflow.Future {
		return workflow.ExecuteActivity(ctx, "BaselineStep", i)
	}
	for i := range 2 {
		if err := step(ctx, i).Get(ctx, nil); err != nil {
			return err
		}
	}
	gates := make([]workflow.Future, max(0, activities-4))
	for i := range gates {
		gates[i] = step(ctx, 2+i)
	}
	for _, f := range gates {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	for i := range 2 {
		if err := step(ctx, activities-2+i).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}
