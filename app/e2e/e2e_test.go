// Package e2e runs Muster end to end: a real Temporal dev server (the pinned
// temporal CLI), a real PostgreSQL, a worker and the reference scenario.
package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stack is a dev server, a database with the reference scenario and a worker.
type stack struct {
	srv       *testsuite.DevServer
	c         client.Client
	st        *store.Store
	taskQueue string
	// metrics is the worker's registry, as a Prometheus would scrape it.
	metrics *metrics.Metrics
}

func newStack(t *testing.T) *stack {
	t.Helper()
	srv := temporaltest.Server(t)
	s := &stack{srv: srv, c: srv.Client(), st: pgtest.New(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The dev server registered the attributes; registering again is a no-op.
	if err := service.RegisterSearchAttributes(ctx, s.c, "default"); err != nil {
		t.Fatalf("RegisterSearchAttributes() = %v", err)
	}
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	s.taskQueue, s.metrics = temporaltest.Worker(t, s.c, s.st, "e2e")
	recordOnCleanup(t, s.c)
	return s
}

// scrape returns the worker's metrics in Prometheus' text format.
func (s *stack) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.metrics.HTTPHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d, %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func (s *stack) progress(t *testing.T, id string) workflows.SealProgress {
	t.Helper()
	v, err := s.c.QueryWorkflow(context.Background(), id, "", workflows.QueryProgress)
	if err != nil {
		t.Fatalf("QueryWorkflow(%s) = %v", id, err)
	}
	var p workflows.SealProgress
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last seen: %s", what, timeout, last)
}

func TestSealAndLiftEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	incident := pgtest.Name("e2e")
	area, err := s.st.AreaByCode(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.st.SealPlan(ctx, area.Code)
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.SealCompoundInput{Incident: incident, Compound: area.Code, TimeScale: 3600, CheckEveryHours: 2, RequestedBy: "e2e"}
	id, existing, err := service.StartSeal(ctx, s.c, s.taskQueue, in, area)
	if err != nil || existing {
		t.Fatalf("StartSeal() = %s, %v, %v; want a new seal", id, existing, err)
	}
	if want := "response/" + incident + "/seal/longbao-jiayuan"; id != want {
		t.Errorf("workflow ID = %s, want %s", id, want)
	}

	// A second trigger for the same incident and compound finds the running seal.
	if _, existing, err := service.StartSeal(ctx, s.c, s.taskQueue, in, area); err != nil || !existing {
		t.Errorf("second StartSeal() = existing %v, %v; want the running seal", existing, err)
	}

	eventually(t, 60*time.Second, "sealed with two compliance rounds", func() (bool, string) {
		p := s.progress(t, id)
		return p.Phase == workflows.PhaseSealed && p.ComplianceRounds >= 2, fmt.Sprintf("phase %s, %d rounds", p.Phase, p.ComplianceRounds)
	})
	p := s.progress(t, id)
	if len(p.Checkpoints) != len(plan.Gates) {
		t.Errorf("Progress().Checkpoints = %d, want %d (one per gate)", len(p.Checkpoints), len(plan.Gates))
	}
	for _, cp := range p.Checkpoints {
		if cp.Staff != workflows.DefaultStaffPerCheckpoint {
			t.Errorf("checkpoint %s staff = %d, want %d", cp.Gate, cp.Staff, workflows.DefaultStaffPerCheckpoint)
		}
	}

	desc, err := s.c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if summary, err := desc.GetStaticSummary(); err != nil || !strings.Contains(summary, area.Name) {
		t.Errorf("static summary = %q (%v), want it to name %s", summary, err, area.Name)
	}

	// A lift without a reason is refused by the validator.
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateLift, workflows.LiftInput{By: "e2e"}); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("lift without a reason = %v, want a refusal asking for a reason", err)
	}

	h, err := s.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.UpdateLift, Args: []any{workflows.LiftInput{Reason: "two rounds negative", By: "duty-officer"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("lift = %v", err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatalf("lift result = %v", err)
	}
	var res workflows.SealCompoundResult
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &res); err != nil {
		t.Fatalf("seal result = %v", err)
	}
	if res.LiftedBy != "duty-officer" || res.ComplianceRounds < 2 || res.Checkpoints != len(plan.Gates) {
		t.Errorf("result = %+v, want lifted by duty-officer after ≥ 2 rounds with %d checkpoints", res, len(plan.Gates))
	}

	// A lift of a seal that is no longer sealed is refused.
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateLift, workflows.LiftInput{Reason: "again"}); err == nil {
		t.Error("lift of a lifted seal was accepted, want a refusal")
	}

	t.Run("rows", func(t *testing.T) {
		r, err := s.st.SealRecords(ctx, incident, area.ID)
		if err != nil {
			t.Fatal(err)
		}
		closable := 0
		for _, rd := range plan.Roads {
			if !rd.Entrance {
				closable++
			}
		}
		checks := []struct {
			name      string
			got, want int
		}{
			{"checkpoints", r.Checkpoints, len(plan.Gates)},
			{"open checkpoints after lift", r.OpenCheckpoints, 0},
			{"staff assigned", r.StaffAssigned, len(plan.Gates) * workflows.DefaultStaffPerCheckpoint},
			{"staff on duty after lift", r.StaffOnDuty, 0},
			{"road closures", r.RoadClosures, closable},
			{"roads closed after lift", r.RoadsClosedNow, 0},
			{"disinfection tasks", r.DisinfectionTasks, len(plan.PublicAreas)},
			{"compliance checks", r.ComplianceChecks, res.ComplianceRounds * len(plan.Gates)},
			{"failed compliance checks", r.ComplianceFailed, 0},
			{"notices", r.Notices, 2},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("SealRecords().%s = %d, want %d", c.name, c.got, c.want)
			}
		}
	})

	t.Run("event log", func(t *testing.T) {
		evs, err := s.st.Events(ctx, incident, id)
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, e := range evs {
			if e.State != "done" {
				t.Errorf("event %s state = %s, want done", e.Step, e.State)
			}
			if !strings.HasPrefix(e.Step, "checkpoint/") && (len(steps) == 0 || steps[len(steps)-1] != e.Step) {
				steps = append(steps, e.Step)
			}
		}
		want := []string{"plan", "notify-residents", "close-roads", "disinfect", "compliance-check", "reopen", "notify-lifted"}
		if strings.Join(steps, " ") != strings.Join(want, " ") {
			t.Errorf("event steps = %v, want %v", steps, want)
		}
		gates, rounds := 0, 0
		for _, e := range evs {
			switch {
			case strings.HasPrefix(e.Step, "checkpoint/"):
				gates++
			case e.Step == "compliance-check":
				rounds++
			case e.Step == "reopen":
				if e.Actor != "duty-officer" || e.Reason != "two rounds negative" {
					t.Errorf("reopen event = %s / %q, want duty-officer / the lift's reason", e.Actor, e.Reason)
				}
			}
		}
		if gates != len(plan.Gates) || rounds != res.ComplianceRounds {
			t.Errorf("events: %d checkpoint, %d compliance; want %d and %d", gates, rounds, len(plan.Gates), res.ComplianceRounds)
		}
	})

	t.Run("search attributes", func(t *testing.T) {
		q := fmt.Sprintf("MusterIncident = '%s' AND MusterAreaPath = 'xiaodian/beiying' AND MusterRunbook = 'seal-compound' "+
			"AND MusterStep = 'notify-lifted' AND MusterStepState = 'done' AND MusterLevel = 1", incident)
		eventually(t, 20*time.Second, "visible through "+q, func() (bool, string) {
			resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q})
			if err != nil {
				return false, err.Error()
			}
			n := len(resp.GetExecutions())
			return n == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == id, fmt.Sprintf("%d executions", n)
		})
	})
}

// sendUpdate sends an update and returns its refusal or failure, if any.
func sendUpdate(ctx context.Context, c client.Client, id, name string, arg any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageAccepted,
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// A seal of a compound that is not on file stalls once on its plan, for a
// person: the plan ran once, the step reads stalled and not retryable,
// naming the compound, and nothing tries it again; cancelled, it ends.
func TestSealUnknownCompoundStallsForAPerson(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	in := workflows.SealCompoundInput{Incident: pgtest.Name("e2e"), Compound: "no-such-compound"}
	id := workflows.SealWorkflowID(in.Incident, in.Compound)
	run, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue}, workflows.SealCompoundName, in)
	if err != nil {
		t.Fatal(err)
	}
	var plan workflows.StepProgress
	eventually(t, 30*time.Second, "plan stalled", func() (bool, string) {
		for _, st := range s.progress(t, id).Steps {
			if st.Name == "plan" {
				plan = st
			}
		}
		return plan.State == workflows.StateStalled, plan.State
	})
	if !strings.Contains(plan.Detail, "not retryable") || !strings.Contains(plan.LastError, "no-such-compound") {
		t.Errorf("plan = %q (error %q), want not retryable, naming the compound", plan.Detail, plan.LastError)
	}
	// Nothing retries it on its own: a few seconds later the plan's
	// activity has still run once.
	time.Sleep(3 * time.Second)
	scheduled := 0
	it := s.c.GetWorkflowHistory(ctx, id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "PlanSeal" {
			scheduled++
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			t.Errorf("activity attempt %d started, want no retry", a.GetAttempt())
		}
	}
	if scheduled != 1 {
		t.Errorf("PlanSeal scheduled %d times, want 1", scheduled)
	}
	if err := s.c.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run.Get(rctx, nil); err == nil || rctx.Err() != nil {
		t.Fatalf("seal cancelled while stalled = %v (wait: %v), want it to end cancelled", err, rctx.Err())
	}
}
