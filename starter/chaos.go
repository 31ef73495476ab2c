package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lib/pq"
	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/api"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/service"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// chaosRunbook tests every community of the generated city at once. One
// resident in a hundred never comes, so every round closes at its deadline
// (--deadline scenario hours, a second each at chaosTimeScale) with its
// missing list.
const chaosRunbook = `name: chaos-round
title: A testing round over the city, under faults
level: 1
area: district
steps:
  - id: test
    for_each:
      areas: {level: community}
      steps:
        - id: round
          kind: mass-testing
          params: {deadline: %dh, check_every: 1h, revisit_after: 1h, cohorts: "student,teacher"}
`

// chaosTimeScale makes a scenario hour a real second.
const chaosTimeScale = 3600

// chaosBatch is the rows a station sends in one upload.
const chaosBatch = 5000

type chaosOptions struct {
	cluster       clusterOptions
	residents     int
	communities   int
	seed          int64
	workerKills   int
	pgRestarts    int
	historyKills  int
	frontendKills int
	sameBatch     int
	uploaderKills int
	dbDownStarts  int
	deadline      int
	timeout       time.Duration
	keep          bool
}

func (a *app) chaosCommand() *cobra.Command {
	o := chaosOptions{}
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run a testing round over a generated city on the native cluster while killing its parts, and check nothing was lost or doubled",
		Long: `chaos brings the native cluster up (as ` + "`muster cluster up`" + ` does, with a
private PostgreSQL it may restart), loads a generated city, and runs a
testing round over every community twice: once clean, to measure its wall
time, and once under faults. One resident in a hundred never comes, so the
rounds close at their deadline with a missing list.

The faults, at moments drawn from --seed (printed): SIGKILL of a Muster
worker (restarted at once; one as the rounds close), PostgreSQL restarts
(one across the rounds' deadline), SIGKILL of Temporal's history and
frontend services (restarted), an upload (muster samples upload) killed
mid-statement and sent again, the same batch sent by three stations at
once, and a worker started while Muster's database refuses connections.
Recovery is the time until a query of the response answers again (and a
restarted worker polls).

After every fault and at the end it checks invariants with SQL: no resident
sampled twice in a round, none both sampled and missing, checkpoints and
notices once, no step event twice, no overlapping bookings; at the end also
the workflow's figures against the database's and every workflow completed.
It prints a table of faults and invariants and exits non-zero on any
violation or fault the cluster did not recover from. The cluster is
stopped at the end unless --keep.`,
		Example: `  muster chaos                                   # 100,000 residents, the full battery
  muster chaos --seed 7                          # the same moments again
  muster chaos --residents 4000 --communities 4 --deadline 30 --worker-kills 2 --pg-restarts 1 \
    --history-kills 1 --frontend-kills 1 --same-batch 1 --uploader-kills 1 --db-down-starts 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.chaos(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cluster.dataDir, "data-dir", ".muster/chaos", "folder for the cluster's logs, state and private PostgreSQL")
	f.StringVar(&o.cluster.binDir, "bin", "bin", "folder holding temporal-server, temporal-sql-tool, temporal-ui-server and muster-worker")
	f.IntVar(&o.cluster.temporalPort, "temporal-port", 17233, "port of Temporal's frontend")
	f.IntVar(&o.cluster.uiPort, "ui-port", 18233, "port of the Temporal Web UI")
	f.IntVar(&o.residents, "residents", 100_000, "residents of the generated city")
	f.IntVar(&o.communities, "communities", 20, "communities of the generated city (one testing round each)")
	f.Int64Var(&o.seed, "seed", 0, "seed of the city and of the faults' moments (0 picks one, printed)")
	f.IntVar(&o.workerKills, "worker-kills", 10, "SIGKILLs of a Muster worker")
	f.IntVar(&o.pgRestarts, "pg-restarts", 3, "PostgreSQL restarts")
	f.IntVar(&o.historyKills, "history-kills", 2, "SIGKILLs of Temporal's history service")
	f.IntVar(&o.frontendKills, "frontend-kills", 2, "SIGKILLs of Temporal's frontend service")
	f.IntVar(&o.sameBatch, "same-batch", 2, "batches sent by three stations at once")
	f.IntVar(&o.uploaderKills, "uploader-kills", 2, "uploads (muster samples upload) killed mid-statement and sent again")
	f.IntVar(&o.dbDownStarts, "db-down-starts", 1, "workers killed and started again while PostgreSQL is down")
	f.IntVar(&o.deadline, "deadline", 60, "the rounds' deadline in scenario hours (a second each); one PostgreSQL restart spans it")
	f.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	f.BoolVar(&o.keep, "keep", false, "leave the cluster running at the end (stop it with `muster cluster down --data-dir ...`)")
	return cmd
}

// chaosFault is one kind of fault: how many times it happened and how long
// the cluster took to serve again each time.
type chaosFault struct {
	name     string
	count    int
	recovery []time.Duration
	failed   []string
}

// chaosInvariant is one invariant and the violations found.
type chaosInvariant struct {
	name       string
	checks     int
	violations []string
}

// chaosRun is the harness's state while it runs.
type chaosRun struct {
	a     *app
	st    devenv.ClusterState
	ms    *store.Store
	c     client.Client
	bins  map[string]string
	rng   *rand.Rand
	mu    sync.Mutex
	inv   map[string]*chaosInvariant
	order []string

	// deadline is the rounds' deadline in wall time after the response
	// starts.
	deadline   time.Duration
	incident   string
	responseID string
	lastBatch  atomic.Pointer[[]store.SampleRow]
	lateMu     sync.Mutex
	late       map[int64][]store.SampleRow
	refused    atomic.Int64
	// faultMu lets one fault happen at a time; faults holds their counts
	// and recovery times; watched are the incidents checked after each.
	faultMu sync.Mutex
	faults  map[string]*chaosFault
	watched []string
	// acrossAt is when the restart across the deadline begins; acrossDone
	// is closed once it is done.
	acrossAt   time.Time
	acrossDone chan struct{}
	// lifted are the incidents the harness lifted.
	lifted map[string]bool
}

func (a *app) chaos(ctx context.Context, o chaosOptions) error {
	if o.residents < o.communities || o.communities < 1 {
		return fmt.Errorf("--residents %d, --communities %d: want at least one community and one resident a community", o.residents, o.communities)
	}
	for name, n := range map[string]int{"--worker-kills": o.workerKills, "--pg-restarts": o.pgRestarts, "--history-kills": o.historyKills, "--frontend-kills": o.frontendKills, "--same-batch": o.sameBatch,
		"--uploader-kills": o.uploaderKills, "--db-down-starts": o.dbDownStarts} {
		if n < 0 {
			return fmt.Errorf("%s %d: want 0 or more", name, n)
		}
	}
	if o.deadline < 10 {
		return fmt.Errorf("--deadline %d: want at least 10 scenario hours (10 s), time for the faults", o.deadline)
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fmt.Fprintf(a.out, "Fault battery: seed %d, %d residents in %d communities.\n", o.seed, o.residents, o.communities)

	// The cluster always gets a private PostgreSQL: the harness restarts it.
	os.Setenv(config.EnvDatabaseURL, "")
	o.cluster.workers = devenv.ClusterWorkers
	o.cluster.retention = 24 * time.Hour
	started := time.Now()
	st, err := a.clusterUp(ctx, o.cluster)
	if err != nil {
		return err
	}
	if !o.keep {
		defer func() {
			// The state file holds the processes the harness restarted too.
			a.clusterDown(context.WithoutCancel(ctx), st.Dir)
		}()
	}
	fmt.Fprintf(a.out, "Cluster up in %s.\n", time.Since(started).Round(time.Second))
	r := &chaosRun{a: a, st: st, faults: map[string]*chaosFault{}, lifted: map[string]bool{}, rng: rand.New(rand.NewPCG(uint64(o.seed), 0x6368616f73)), inv: map[string]*chaosInvariant{}}
	r.bins = map[string]string{}
	for _, b := range []string{devenv.TemporalServerBin, devenv.MusterWorkerBin, "muster"} {
		p, err := filepath.Abs(filepath.Join(o.cluster.binDir, b))
		if err != nil {
			return err
		}
		r.bins[b] = p
	}
	if r.ms, err = service.OpenStore(ctx, st.DatabaseURL, nil); err != nil {
		return err
	}
	defer r.ms.Close()
	if r.c, err = client.Dial(client.Options{HostPort: st.FrontendAddr, Namespace: st.Namespace, Logger: quiet{}}); err != nil {
		return err
	}
	defer r.c.Close()

	// The city.
	t := time.Now()
	city, err := scenario.GenerateCity(o.residents, o.communities, o.seed)
	if err != nil {
		return err
	}
	rows := city.Rows()
	registry := rows.Registry
	rows.Registry = nil
	if _, err := r.ms.LoadScenario(ctx, rows); err != nil {
		return err
	}
	if _, err := r.ms.LoadResidents(ctx, rows.Scenario, registry); err != nil {
		return err
	}
	if _, _, err := r.ms.PublishRunbook(ctx, "chaos-steer", "Seal a community and staff it, then lift it", []byte(chaosSteerRunbook), "chaos"); err != nil {
		return err
	}
	if _, _, err := r.ms.PublishRunbook(ctx, "chaos-round", "A testing round over the city, under faults", []byte(fmt.Sprintf(chaosRunbook, o.deadline)), "chaos"); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "City generated and loaded in %s.\n", time.Since(t).Round(time.Second))

	// The clean run.
	r.deadline = time.Duration(o.deadline) * time.Hour / chaosTimeScale
	// Incidents are named after the seed and the run's start, so a seed
	// replayed on the same cluster data starts new responses.
	run := fmt.Sprintf("%d-%s", o.seed, started.UTC().Format("150405"))
	clean := "chaos-clean-" + run
	cleanWall, err := r.response(ctx, clean, o.communities, nil)
	if err != nil {
		return fmt.Errorf("clean run: %w", err)
	}
	r.check(ctx, clean, true)
	fmt.Fprintf(a.out, "Clean run: %s.\n", cleanWall.Round(time.Millisecond))

	// The run under faults: most at random moments before the rounds'
	// deadline, one PostgreSQL restart across it and one worker killed
	// while the rounds close.
	var random []string
	counts := map[string]int{faultWorker: o.workerKills, faultPostgres: o.pgRestarts, faultHistory: o.historyKills, faultFrontend: o.frontendKills,
		faultSameBatch: o.sameBatch, faultUploader: o.uploaderKills, faultDBDownStart: o.dbDownStarts}
	var plan []plannedFault
	across := counts[faultPostgres] > 0
	if across {
		counts[faultPostgres]--
	}
	if counts[faultWorker] > 1 {
		counts[faultWorker]--
		plan = append(plan, plannedFault{at: r.deadline + time.Second, name: faultWorker})
	}
	for name, n := range counts {
		for range n {
			random = append(random, name)
		}
	}
	sort.Strings(random)
	r.rng.Shuffle(len(random), func(i, j int) { random[i], random[j] = random[j], random[i] })
	window := max(r.deadline-6*time.Second, 2*time.Second)
	for _, name := range random {
		plan = append(plan, plannedFault{at: time.Second + time.Duration(r.rng.Int64N(int64(window-time.Second))), name: name})
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	fmt.Fprintln(a.out, "Faults planned (seconds after the response starts):")
	for _, p := range plan {
		fmt.Fprintf(a.out, "  %6.1f  %s\n", p.at.Seconds(), p.name)
	}
	if across {
		fmt.Fprintf(a.out, "  %6.1f  %s\n", (r.deadline - time.Second).Seconds(), faultPostgresAcross)
	}
	faulty := "chaos-" + run
	steer := "chaos-steer-" + run
	r.watched = []string{faulty, steer}
	inject := func(ctx context.Context, start time.Time) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.steer(ctx, start, steer, "c-001")
		}()
		if across {
			// The restart across the deadline keeps its moment: other
			// faults wait from acrossReserve before it until it is done.
			r.acrossAt = start.Add(r.deadline - time.Second)
			r.acrossDone = make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(r.acrossDone)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(r.acrossAt)):
				}
				r.do(ctx, faultPostgresAcross, "", start)
			}()
		}
		for _, p := range plan {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(p.at))):
			}
			r.do(ctx, p.name, "", start)
		}
		wg.Wait()
	}
	faultyWall, err := r.response(ctx, faulty, o.communities, inject)
	if err != nil {
		return fmt.Errorf("run under faults: %w", err)
	}
	r.check(ctx, faulty, true)
	r.check(ctx, steer, true)
	var made struct {
		Checkpoints int `db:"checkpoints"`
		Posted      int `db:"posted"`
		Bookings    int `db:"bookings"`
	}
	if err := r.ms.DB().GetContext(ctx, &made, `SELECT
		(SELECT count(*) FROM checkpoints WHERE incident = $1) AS checkpoints,
		(SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1) AS posted,
		(SELECT count(*) FROM staff_assignments WHERE incident = $1) AS bookings`, steer); err == nil {
		fmt.Fprintf(a.out, "Lifted response %s: %d checkpoints, %d staff posted at them, %d supply bookings.\n", steer, made.Checkpoints, made.Posted, made.Bookings)
	}
	fmt.Fprintf(a.out, "Run under faults: %s.\n\n", faultyWall.Round(time.Millisecond))

	// The table.
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tCOUNT\tRECOVERY (MEDIAN)\tRECOVERY (MAX)\tRESULT")
	bad := 0
	var faultOrder []string
	for name := range r.faults {
		faultOrder = append(faultOrder, name)
	}
	sort.Strings(faultOrder)
	for _, name := range faultOrder {
		f := r.faults[name]
		sort.Slice(f.recovery, func(i, j int) bool { return f.recovery[i] < f.recovery[j] })
		med, most := time.Duration(0), time.Duration(0)
		if len(f.recovery) > 0 {
			med, most = f.recovery[len(f.recovery)/2], f.recovery[len(f.recovery)-1]
		}
		result := "ok"
		if len(f.failed) > 0 {
			bad++
			result = "FAILED: " + f.failed[0]
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, f.count, med.Round(time.Millisecond), most.Round(time.Millisecond), result)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "INVARIANT\tCHECKS\tVIOLATIONS\t\t")
	for _, name := range r.order {
		v := r.inv[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t\t%s\n", name, v.checks, len(v.violations), strings.Join(first(v.violations, 3), "; "))
		bad += len(v.violations)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "samples refused (round closed)\t\t%d\t\t\n", r.refused.Load())
	fmt.Fprintf(tw, "clean run, wall time\t\t%s\t\t\n", cleanWall.Round(time.Millisecond))
	fmt.Fprintf(tw, "run under faults, wall time\t\t%s\t\t(%.2f× the clean run)\n", faultyWall.Round(time.Millisecond), faultyWall.Seconds()/cleanWall.Seconds())
	tw.Flush()
	if bad > 0 {
		return fmt.Errorf("fault battery (seed %d): %d violations or failed faults", o.seed, bad)
	}
	fmt.Fprintf(a.out, "\nNo violation (seed %d).\n", o.seed)
	return nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// The faults.
const (
	faultWorker         = "kill worker"
	faultPostgres       = "restart PostgreSQL"
	faultPostgresAcross = "restart PostgreSQL across the deadline"
	faultHistory        = "kill history"
	faultFrontend       = "kill frontend"
	faultSameBatch      = "same batch, 3 stations at once"
	faultUploader       = "kill uploader mid-statement, re-send"
	faultDBDownStart    = "start worker while Muster's database down"
	faultRespondTwice   = "respond twice at once"
	faultLiftTwice      = "lift during supply, twice at once"
)

type plannedFault struct {
	at   time.Duration
	name string
}

// chaosSteerRunbook seals every compound of a community, then staffs its
// sampling points; the harness lifts it while the staffing runs.
const chaosSteerRunbook = `name: chaos-steer
title: Seal a community and staff it, then lift it
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas: {level: compound, under: response}
      steps:
        - id: seal-compound
          kind: seal
  - id: supply
    kind: staff-supply
    params: {duration: 24h, shift: 12h, check_every: 1h, per_sampling_point: 1, ack_within: 1h}
`

// do does one fault, records it, says how it went (phase, when not empty,
// says what the cluster was doing) and checks the invariants of the
// watched incidents.
func (r *chaosRun) do(ctx context.Context, name, phase string, start time.Time) {
	r.reserve(ctx, name)
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	d, err := r.fault(ctx, name, start)
	r.record(name, phase, start, d, err)
	for _, incident := range r.watched {
		r.check(ctx, incident, false)
	}
}

func (r *chaosRun) record(name, phase string, start time.Time, d time.Duration, err error) {
	f := r.faults[name]
	if f == nil {
		f = &chaosFault{name: name}
		r.faults[name] = f
	}
	f.count++
	f.recovery = append(f.recovery, d)
	label := name
	if phase != "" {
		label += " (" + phase + ")"
	}
	if err != nil {
		f.failed = append(f.failed, err.Error())
		fmt.Fprintf(r.a.out, "  %6.1f s  %-44s FAILED: %v\n", time.Since(start).Seconds(), label, err)
	} else {
		fmt.Fprintf(r.a.out, "  %6.1f s  %-44s recovered in %s\n", time.Since(start).Seconds(), label, d.Round(time.Millisecond))
	}
}

// acrossReserve is how long before the restart across the deadline no
// other fault begins: longer than the slowest recovery seen.
const acrossReserve = 12 * time.Second

// reserve waits, for any fault but the restart across the deadline, while
// that restart is near or under way.
func (r *chaosRun) reserve(ctx context.Context, name string) {
	if name == faultPostgresAcross || r.acrossDone == nil || time.Now().Before(r.acrossAt.Add(-acrossReserve)) {
		return
	}
	select {
	case <-ctx.Done():
	case <-r.acrossDone:
	}
}

// steer runs a second response beside the testing round: it is started
// twice at once, a worker is killed while its compounds are sealed and
// while its sampling points are staffed, it is lifted twice at once while
// the staffing runs, and a worker is killed while the lift is carried out.
func (r *chaosRun) steer(ctx context.Context, start time.Time, incident, area string) {
	time.Sleep(2 * time.Second)
	began := time.Now()
	type started struct {
		id       string
		existing bool
		err      error
	}
	var both [2]started
	var wg sync.WaitGroup
	for i := range both {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, both[i].err = retrying(ctx, func() (struct{}, error) {
				var err error
				both[i].id, both[i].existing, err = service.StartResponse(ctx, r.c, r.st.TaskQueue, workflows.ResponseInput{Incident: incident, Runbook: "chaos-steer", Area: area, TimeScale: chaosTimeScale}, "chaos")
				return struct{}{}, err
			})
		}()
	}
	wg.Wait()
	var err error
	switch {
	case both[0].err != nil || both[1].err != nil:
		err = errors.Join(both[0].err, both[1].err)
	case both[0].id != both[1].id:
		err = fmt.Errorf("two responses: %s and %s", both[0].id, both[1].id)
	default:
		// Both calls may say they started it (the second start joins the
		// first execution); what counts is that one execution runs.
		err = r.oneExecution(ctx, both[0].id)
	}
	r.faultMu.Lock()
	r.record(faultRespondTwice, "", start, time.Since(began), err)
	r.faultMu.Unlock()
	if err != nil {
		return
	}
	id := both[0].id
	r.do(ctx, faultWorker, "seal", start)
	// Wait for the staffing to run.
	state := ""
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(500 * time.Millisecond) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := r.c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		cancel()
		var p workflows.ResponseProgress
		if err != nil || v.Get(&p) != nil {
			continue
		}
		if n := p.Find("supply"); n != nil {
			state = n.State
		}
		if state == workflows.StateRunning {
			break
		}
	}
	if state != workflows.StateRunning {
		r.faultMu.Lock()
		r.record(faultLiftTwice, "", start, 0, fmt.Errorf("the staffing step never ran (last state %q)", state))
		r.faultMu.Unlock()
		return
	}
	r.do(ctx, faultWorker, "supply", start)
	r.reserve(ctx, faultLiftTwice)
	r.faultMu.Lock()
	began = time.Now()
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			errs[i] = api.Update(uctx, r.c, id, workflows.UpdateLift, workflows.LiftInput{Reason: "fault battery", By: "chaos"}, nil)
		}()
	}
	wg.Wait()
	err = nil
	if errs[0] != nil && errs[1] != nil {
		err = fmt.Errorf("neither lift was taken: %w", errors.Join(errs...))
	} else {
		r.mu.Lock()
		r.lifted[incident] = true
		r.mu.Unlock()
	}
	r.record(faultLiftTwice, "", start, time.Since(began), err)
	r.faultMu.Unlock()
	r.do(ctx, faultWorker, "lift", start)
	_, err = retrying(ctx, func() (struct{}, error) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return struct{}{}, r.c.GetWorkflow(wctx, id, "").Get(wctx, nil)
	})
	if err != nil {
		r.violation("every workflow completed", fmt.Sprintf("%s: %v", id, err))
	}
}

// oneExecution checks that a workflow ID has one execution, as the
// visibility store lists them once it has caught up.
func (r *chaosRun) oneExecution(ctx context.Context, id string) error {
	n := 0
	for range 20 {
		resp, err := r.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: r.st.Namespace, Query: fmt.Sprintf("WorkflowId = '%s'", id),
		})
		if err == nil {
			if n = len(resp.GetExecutions()); n == 1 {
				return nil
			}
			if n > 1 {
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s has %d executions, want 1", id, n)
}

// response starts a response over the city, plays the field until every
// round has closed, waits for the response to complete and returns its wall
// time. inject, when given, runs beside the field; the response is not
// done until inject has returned.
func (r *chaosRun) response(ctx context.Context, incident string, rounds int, inject func(ctx context.Context, start time.Time)) (time.Duration, error) {
	start := time.Now()
	r.incident = incident
	r.late = map[int64][]store.SampleRow{}
	r.lastBatch.Store(nil)
	id, err := retrying(ctx, func() (string, error) {
		id, _, err := service.StartResponse(ctx, r.c, r.st.TaskQueue, workflows.ResponseInput{Incident: incident, Runbook: "chaos-round", Area: "city", TimeScale: chaosTimeScale}, "chaos")
		return id, err
	})
	if err != nil {
		return 0, err
	}
	r.responseID = id
	injected := make(chan struct{})
	if inject != nil {
		go func() {
			defer close(injected)
			inject(ctx, start)
		}()
	} else {
		close(injected)
	}
	err = r.field(ctx, start, rounds)
	if err == nil {
		_, err = retrying(ctx, func() (struct{}, error) {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return struct{}{}, r.c.GetWorkflow(wctx, id, "").Get(wctx, nil)
		})
	}
	wall := time.Since(start)
	<-injected
	return wall, err
}

// ingest sends a batch as a station does, again and again until the
// database takes it. Rows refused (a round already closed) are counted.
func (r *chaosRun) ingest(ctx context.Context, rows []store.SampleRow) error {
	out, err := retrying(ctx, func() (store.IngestResult, error) {
		return r.ms.IngestSamples(ctx, store.IngestBatch{Incident: r.incident, Rows: rows, Max: max(chaosBatch, len(rows))})
	})
	if err != nil {
		return err
	}
	if out.Accepted+out.AlreadyRecorded+len(out.Rejected) != len(rows) {
		return fmt.Errorf("batch of %d: %d accepted, %d already recorded, %d refused", len(rows), out.Accepted, out.AlreadyRecorded, len(out.Rejected))
	}
	r.refused.Add(int64(len(out.Rejected)))
	return nil
}

// field plays the stations and grid workers at full speed: for every
// round as it opens, a sample for each resident but one in a hundred who
// never comes and one in a hundred who comes late (two thirds into the
// round's time, unless a killed upload brought them earlier), and every
// home visit sampled. It returns when rounds rounds have opened and none
// is open.
func (r *chaosRun) field(ctx context.Context, start time.Time, rounds int) error {
	uploaded := map[int64]bool{}
	lateAt := start.Add(r.deadline * 2 / 3)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		open, err := r.ms.OpenRoundsFor(ctx, r.incident)
		if err != nil {
			// The database may be restarting.
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if len(open) == 0 && len(uploaded) >= rounds {
			return nil
		}
		for _, info := range open {
			if !uploaded[info.ID] {
				qs, err := r.ms.RoundQueues(ctx, info.ID, []string{"student", "teacher"})
				if err != nil {
					continue
				}
				now := time.Now()
				var batch, late []store.SampleRow
				k := 0
				for _, q := range qs {
					for _, code := range q.Residents {
						k++
						row := store.SampleRow{Tube: fmt.Sprintf("%s-%d-%s", r.incident, info.ID, code), Resident: code, Point: q.PointCode, TakenAt: now, Result: "negative"}
						switch k % 100 {
						case 7:
							continue
						case 3:
							late = append(late, row)
							continue
						}
						batch = append(batch, row)
						if len(batch) == chaosBatch {
							if err := r.ingest(ctx, batch); err != nil {
								return err
							}
							sent := batch
							r.lastBatch.Store(&sent)
							batch = nil
						}
					}
				}
				if len(batch) > 0 {
					if err := r.ingest(ctx, batch); err != nil {
						return err
					}
					sent := batch
					r.lastBatch.Store(&sent)
				}
				r.lateMu.Lock()
				r.late[info.ID] = late
				r.lateMu.Unlock()
				uploaded[info.ID] = true
			}
			if time.Now().After(lateAt) {
				if rows := r.takeLate(info.ID); len(rows) > 0 {
					if err := r.ingest(ctx, rows); err != nil {
						return err
					}
				}
			}
			vs, err := r.ms.PendingVisits(ctx, info.ID)
			if err != nil {
				continue
			}
			for _, v := range vs {
				if _, err := retrying(ctx, func() (struct{}, error) {
					return struct{}{}, r.ms.RecordHomeVisit(ctx, info.ID, v.Resident, v.Attempt, true, fmt.Sprintf("%s-%d-%s", r.incident, info.ID, v.Resident), time.Now())
				}); err != nil {
					return err
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// takeLate takes the late comers of a round (any round when id is 0) once.
func (r *chaosRun) takeLate(id int64) []store.SampleRow {
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	if id == 0 {
		for k, rows := range r.late {
			if len(rows) > 0 {
				id = k
				break
			}
		}
	}
	rows := r.late[id]
	delete(r.late, id)
	return rows
}

// retrying calls f until it succeeds, backing off up to 2 s between tries,
// for as long as ctx allows: the harness's own calls must outlast the
// faults it causes.
func retrying[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		v, err := f()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// fault does one fault and returns how long the cluster took to serve
// again (see serving).
func (r *chaosRun) fault(ctx context.Context, name string, start time.Time) (time.Duration, error) {
	began := time.Now()
	var err error
	newWorker := 0
	switch name {
	case faultWorker:
		workers := r.processes("muster-worker-")
		newWorker, err = r.killAndRestart(workers[r.rng.IntN(len(workers))])
	case faultHistory:
		_, err = r.killAndRestart(r.processes("temporal-history")[0])
	case faultFrontend:
		_, err = r.killAndRestart(r.processes("temporal-frontend")[0])
	case faultPostgres:
		if err = r.stopPostgres(ctx); err == nil {
			err = r.startPostgres(ctx)
		}
	case faultPostgresAcross:
		deadlineAt := start.Add(r.deadline)
		if time.Now().After(deadlineAt) {
			return 0, fmt.Errorf("began %s after the deadline (faults before it ran late)", time.Since(deadlineAt).Round(time.Millisecond))
		}
		if err = r.stopPostgres(ctx); err == nil {
			time.Sleep(time.Until(deadlineAt.Add(2 * time.Second)))
			err = r.startPostgres(ctx)
		}
	case faultDBDownStart:
		// Muster's database alone goes away (Temporal's, on the same
		// server, stays): no connection is allowed and those open are cut.
		if err = r.musterDatabase(ctx, false); err != nil {
			break
		}
		workers := r.processes("muster-worker-")
		newWorker, err = r.killAndRestart(workers[r.rng.IntN(len(workers))])
		if err == nil {
			// The new worker must serve (poll the task queue) before the
			// database is back.
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_, err = retrying(wctx, func() (struct{}, error) { return struct{}{}, r.polls(wctx, newWorker) })
			cancel()
			if err != nil {
				err = fmt.Errorf("the worker started while the database was down does not poll: %w (its log: %s)", err, r.logTail(newWorker))
			}
		}
		if serr := r.musterDatabase(ctx, true); serr != nil {
			err = errors.Join(err, serr)
		}
	case faultSameBatch:
		p := r.lastBatch.Load()
		if p == nil {
			return 0, errors.New("no batch sent yet")
		}
		rows := *p
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = r.ingest(ctx, rows)
			}()
		}
		wg.Wait()
		err = errors.Join(errs...)
	case faultUploader:
		err = r.killedUpload(ctx)
	default:
		return 0, fmt.Errorf("no fault %q", name)
	}
	if err != nil {
		return time.Since(began), err
	}
	return r.serving(ctx, began, newWorker)
}

// killedUpload writes late comers (or the last batch) to a file, starts
// `muster samples upload` on it and SIGKILLs it a random moment later,
// most likely mid-statement, then sends the file again to completion and
// checks that every row of it is recorded once.
func (r *chaosRun) killedUpload(ctx context.Context) error {
	rows := r.takeLate(0)
	if len(rows) == 0 {
		if p := r.lastBatch.Load(); p != nil {
			rows = *p
		}
	}
	if len(rows) == 0 {
		return errors.New("no rows to upload")
	}
	var b strings.Builder
	b.WriteString("tube,resident,point,taken_at,result\n")
	tubes := make([]string, len(rows))
	for i, row := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", row.Tube, row.Resident, row.Point, row.TakenAt.Format(time.RFC3339Nano), row.Result)
		tubes[i] = row.Tube
	}
	file := filepath.Join(r.st.Dir, fmt.Sprintf("upload-%d.csv", time.Now().UnixNano()))
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return err
	}
	defer os.Remove(file)
	upload := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, r.bins["muster"], "samples", "upload", file, "--incident", r.incident, "-o", "json")
		cmd.Env = append(os.Environ(), config.EnvDatabaseURL+"="+r.st.DatabaseURL)
		return cmd
	}
	killed := upload()
	if err := killed.Start(); err != nil {
		return err
	}
	time.Sleep(time.Duration(50+r.rng.IntN(250)) * time.Millisecond)
	killed.Process.Kill()
	killed.Wait()
	out, err := upload().Output()
	if err != nil {
		return fmt.Errorf("upload sent again: %v: %s", err, out)
	}
	var res store.IngestResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("upload sent again: %v: %s", err, out)
	}
	if res.Accepted+res.AlreadyRecorded+len(res.Rejected) != len(rows) {
		return fmt.Errorf("upload sent again: %d accepted, %d already recorded, %d refused of %d rows", res.Accepted, res.AlreadyRecorded, len(res.Rejected), len(rows))
	}
	r.refused.Add(int64(len(res.Rejected)))
	var n int
	if err := r.ms.DB().GetContext(ctx, &n, `SELECT count(*) FROM samples WHERE tube = ANY($1)`, pq.Array(tubes)); err != nil {
		return err
	}
	if n != len(rows)-len(res.Rejected) {
		return fmt.Errorf("after the killed upload was sent again, %d of its %d rows are recorded (%d refused)", n, len(rows), len(res.Rejected))
	}
	return nil
}

func (r *chaosRun) processes(prefix string) []devenv.ClusterProcess {
	var ps []devenv.ClusterProcess
	for _, p := range r.st.Processes {
		if strings.HasPrefix(p.Name, prefix) {
			ps = append(ps, p)
		}
	}
	return ps
}

// killAndRestart SIGKILLs a process of the cluster and starts it again as
// `cluster up` did, recording the new process in the state file so
// `cluster down` stops it. It returns the new process's id.
func (r *chaosRun) killAndRestart(p devenv.ClusterProcess) (int, error) {
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	for p.Alive() && !zombieProcess(p.PID) {
		time.Sleep(20 * time.Millisecond)
	}
	var np devenv.ClusterProcess
	var err error
	if svc, ok := strings.CutPrefix(p.Name, "temporal-"); ok {
		np, err = devenv.StartProcess(p.Name, p.Log, nil, r.bins[devenv.TemporalServerBin],
			"--root", filepath.Join(r.st.Dir, "temporal"), "--config", "config", "--env", svc, "--allow-no-auth", "start", "--service", svc)
	} else {
		mport, perr := devenv.FreePort()
		if perr != nil {
			return 0, perr
		}
		np, err = devenv.StartProcess(p.Name, p.Log, []string{
			config.EnvDatabaseURL + "=" + r.st.DatabaseURL,
			"TEMPORAL_ADDRESS=" + r.st.FrontendAddr,
			"TEMPORAL_NAMESPACE=" + r.st.Namespace,
			config.EnvTaskQueue + "=" + r.st.TaskQueue,
			config.EnvMetricsAddr + fmt.Sprintf("=127.0.0.1:%d", mport),
		}, r.bins[devenv.MusterWorkerBin])
	}
	if err != nil {
		return 0, err
	}
	for i := range r.st.Processes {
		if r.st.Processes[i].PID == p.PID {
			r.st.Processes[i] = np
		}
	}
	return np.PID, devenv.SaveClusterState(r.st)
}

func zombieProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// stopPostgres stops the private PostgreSQL with a fast shutdown: every
// connection is cut.
func (r *chaosRun) stopPostgres(ctx context.Context) error {
	return devenv.StopPostgresDir(ctx, r.st.PostgresDir)
}

// startPostgres starts the private PostgreSQL again on its port.
func (r *chaosRun) startPostgres(ctx context.Context) error {
	u, err := url.Parse(r.st.DatabaseURL)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("port of the cluster's database: %w", err)
	}
	_, err = devenv.StartPostgres(ctx, r.st.PostgresDir, port, nil)
	return err
}

// musterDatabase allows or refuses connections to Muster's database,
// cutting those open when it refuses, as the private PostgreSQL's
// superuser.
func (r *chaosRun) musterDatabase(ctx context.Context, allow bool) error {
	u, err := url.Parse(r.st.DatabaseURL)
	if err != nil {
		return err
	}
	admin := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", u.Host)
	_, err = retrying(ctx, func() (struct{}, error) {
		db, err := sql.Open("postgres", admin)
		if err != nil {
			return struct{}{}, err
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", pq.QuoteIdentifier(config.DatabaseName), allow)); err != nil {
			return struct{}{}, err
		}
		if !allow {
			_, err = db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, config.DatabaseName)
		}
		return struct{}{}, err
	})
	return err
}

// logTail is the last lines of the log of the cluster's process pid.
func (r *chaosRun) logTail(pid int) string {
	for _, p := range r.st.Processes {
		if p.PID == pid {
			b, err := os.ReadFile(p.Log)
			if err != nil {
				return err.Error()
			}
			return tailLines(string(b), 3)
		}
	}
	return "no log"
}

// polls reports whether the worker with the process id pid polls the task
// queue (the SDK's default identity begins with the process id).
func (r *chaosRun) polls(ctx context.Context, pid int) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := r.c.WorkflowService().DescribeTaskQueue(qctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: r.st.Namespace, TaskQueue: &taskqueue.TaskQueue{Name: r.st.TaskQueue},
	})
	if err != nil {
		return err
	}
	for _, p := range resp.GetPollers() {
		if strings.HasPrefix(p.GetIdentity(), fmt.Sprintf("%d@", pid)) {
			return nil
		}
	}
	return fmt.Errorf("worker pid %d does not poll yet", pid)
}

// serving waits until the cluster serves again: Muster's database answers,
// a query of the response answers (frontend, history, matching and a
// worker), and a restarted worker (pid, when not 0) polls. It returns the
// time since began.
func (r *chaosRun) serving(ctx context.Context, began time.Time, pid int) (time.Duration, error) {
	_, err := retrying(ctx, func() (struct{}, error) {
		if err := r.ms.DB().PingContext(ctx); err != nil {
			return struct{}{}, err
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := r.c.QueryWorkflow(qctx, r.responseID, "", workflows.QueryProgress); err != nil {
			return struct{}{}, err
		}
		if pid != 0 {
			return struct{}{}, r.polls(ctx, pid)
		}
		return struct{}{}, nil
	})
	return time.Since(began), err
}

// check runs the invariants over an incident; final adds those that hold
// only once the response has completed.
func (r *chaosRun) check(ctx context.Context, incident string, final bool) {
	count := func(name, query string, args ...any) {
		n, err := retrying(ctx, func() (int, error) {
			var n int
			err := r.ms.DB().GetContext(ctx, &n, query, args...)
			return n, err
		})
		switch {
		case err != nil:
			r.violation(name, fmt.Sprintf("%s: cannot check: %v", incident, err))
		case n != 0:
			r.violation(name, fmt.Sprintf("%s: %d", incident, n))
		default:
			r.violation(name, "")
		}
	}
	count("no resident sampled twice in a round", `SELECT count(*) FROM (
		SELECT s.round_id, s.resident_id FROM samples s JOIN testing_rounds t ON t.id = s.round_id
		WHERE t.incident = $1 GROUP BY 1, 2 HAVING count(*) > 1) x`, incident)
	count("none both sampled and missing", `SELECT count(*) FROM round_missing m
		JOIN samples s ON s.round_id = m.round_id AND s.resident_id = m.resident_id
		JOIN testing_rounds t ON t.id = m.round_id WHERE t.incident = $1`, incident)
	count("checkpoints once", `SELECT count(*) FROM (
		SELECT gate_id FROM checkpoints WHERE incident = $1 GROUP BY 1 HAVING count(*) > 1) x`, incident)
	count("notices once", `SELECT count(*) FROM (
		SELECT 1 FROM notices WHERE incident = $1 GROUP BY area_id, audience, kind, body HAVING count(*) > 1) x`, incident)
	// A step event twice is the same state written twice in a row for one
	// step of one workflow.
	count("no step event twice", `SELECT count(*) FROM (
		SELECT state, reason, lag(state) OVER w AS prev_state, lag(reason) OVER w AS prev_reason
		FROM step_events WHERE incident = $1 WINDOW w AS (PARTITION BY workflow_id, step ORDER BY id)) x
		WHERE state = prev_state AND reason = prev_reason`, incident)
	count("no overlapping bookings", `SELECT
		(SELECT count(*) FROM staff_assignments a JOIN staff_assignments b
		   ON a.staff_id = b.staff_id AND a.id < b.id AND a.shift && b.shift
		 WHERE a.state IN ('notified', 'acknowledged') AND b.state IN ('notified', 'acknowledged'))
		+ (SELECT count(*) FROM (SELECT staff_id FROM checkpoint_staff WHERE released_at IS NULL GROUP BY 1 HAVING count(*) > 1) x)`)
	if !final {
		return
	}
	r.figures(ctx, incident)
	r.completed(ctx, incident)
	r.mu.Lock()
	lifted := r.lifted[incident]
	r.mu.Unlock()
	if lifted {
		// A lifted seal closes its checkpoints and releases their staff.
		count("a lift releases checkpoint staff", `SELECT count(*) FROM checkpoint_staff cs
			JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1 AND cs.released_at IS NULL`, incident)
	}
}

// figures compares every round's figures the response reports with the
// database's.
func (r *chaosRun) figures(ctx context.Context, incident string) {
	const name = "workflow figures = database"
	id := workflows.ResponseWorkflowID(incident)
	var final workflows.ResponseProgress
	_, err := retrying(ctx, func() (struct{}, error) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return struct{}{}, r.c.GetWorkflow(wctx, id, "").Get(wctx, &final)
	})
	if err != nil {
		r.violation(name, fmt.Sprintf("%s: %v", incident, err))
		return
	}
	type dbRound struct {
		Area    string `db:"code"`
		Sampled int    `db:"sampled"`
		Missing int    `db:"missing"`
	}
	var rows []dbRound
	if err := r.ms.DB().SelectContext(ctx, &rows, `SELECT a.code,
		(SELECT count(*) FROM samples s WHERE s.round_id = t.id) AS sampled,
		(SELECT count(*) FROM round_missing m WHERE m.round_id = t.id) AS missing
		FROM testing_rounds t JOIN areas a ON a.id = t.area_id WHERE t.incident = $1`, incident); err != nil {
		r.violation(name, fmt.Sprintf("%s: %v", incident, err))
		return
	}
	db := map[string]dbRound{}
	for _, d := range rows {
		db[d.Area] = d
	}
	var bad []string
	seen := 0
	var walk func(n *workflows.Node)
	walk = func(n *workflows.Node) {
		if n == nil {
			return
		}
		if n.Type == workflows.KindMassTesting && n.Area != nil {
			seen++
			d, ok := db[n.Area.Code]
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("%s: no round in the database", n.Area.Code))
			case int(n.Outputs["sampled"]) != d.Sampled || int(n.Outputs["missing"]) != d.Missing:
				bad = append(bad, fmt.Sprintf("%s: workflow %v sampled, %v missing; database %d, %d", n.Area.Code, n.Outputs["sampled"], n.Outputs["missing"], d.Sampled, d.Missing))
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(final.Root)
	if seen != len(db) {
		bad = append(bad, fmt.Sprintf("%d rounds reported, %d in the database", seen, len(db)))
	}
	if len(bad) == 0 {
		r.violation(name, "")
	}
	for _, b := range bad {
		r.violation(name, incident+": "+b)
	}
}

// completed checks that no execution of the incident still runs or ended
// other than completed.
func (r *chaosRun) completed(ctx context.Context, incident string) {
	const name = "every workflow completed"
	r.mu.Lock()
	lifted := r.lifted[incident]
	r.mu.Unlock()
	var bad []string
	n := 0
	_, err := retrying(ctx, func() (struct{}, error) {
		bad, n = nil, 0
		var token []byte
		for {
			resp, err := r.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: r.st.Namespace, Query: fmt.Sprintf("%s = '%s'", workflows.SAIncident.GetName(), incident), NextPageToken: token,
			})
			if err != nil {
				return struct{}{}, err
			}
			for _, e := range resp.GetExecutions() {
				n++
				s := e.GetStatus()
				// A lift cancels the steps that still run, by design; the
				// response itself must still complete.
				if s == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED && lifted && e.GetExecution().GetWorkflowId() != workflows.ResponseWorkflowID(incident) {
					continue
				}
				if s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && s != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
					bad = append(bad, fmt.Sprintf("%s: %s", e.GetExecution().GetWorkflowId(), s))
				}
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				return struct{}{}, nil
			}
		}
	})
	switch {
	case err != nil:
		r.violation(name, fmt.Sprintf("%s: %v", incident, err))
	case n == 0:
		r.violation(name, incident+": no execution listed")
	case len(bad) == 0:
		r.violation(name, "")
	}
	for _, b := range bad {
		r.violation(name, incident+": "+b)
	}
}

// violation counts a check of an invariant, with what broke it if
// anything.
func (r *chaosRun) violation(name, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.inv[name]
	if v == nil {
		v = &chaosInvariant{name: name}
		r.inv[name] = v
		r.order = append(r.order, name)
	}
	v.checks++
	if what != "" {
		v.violations = append(v.violations, what)
		fmt.Fprintf(r.a.out, "  VIOLATION %s: %s\n", name, what)
	}
}

// tailLines is the last n lines of s, on one line.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
