package e2e

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// outbreakVariant is the built-in level-1 runbook under another name, with
// the schools notice made to stall after two quick attempts and to wait for
// an operator rather than retry on its own.
func outbreakVariant(t *testing.T, name string) []byte {
	t.Helper()
	srcs, err := builtin.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Name != "community-outbreak-level-1.yaml" {
			continue
		}
		text := strings.Replace(string(s.Data), "name: community-outbreak-level-1", "name: "+name, 1)
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			if strings.TrimSpace(l) == "- id: schools" {
				indent := strings.Repeat(" ", strings.Index(l, "-")+2)
				retry := []string{indent + "retry:", indent + "  max_attempts: 2", indent + "  initial_interval: 100ms",
					indent + "  maximum_interval: 100ms", indent + "  stall_retry: 1000h"}
				lines = append(lines[:i+1], append(retry, lines[i+1:]...)...)
				text = strings.Join(lines, "\n")
				if _, err := runbook.Parse(name, []byte(text), workflows.Kinds); err != nil {
					t.Fatalf("test variant of the built-in runbook: %v", err)
				}
				return []byte(text)
			}
		}
		t.Fatal("the built-in runbook has no step \"schools\": update outbreakVariant")
		return []byte(text)
	}
	t.Fatal("no built-in community-outbreak-level-1")
	return nil
}

// testEveryone plays the field until ctx ends: in every open round of the
// incident, every resident comes to their point and every home visit
// samples, so each round closes with everyone sampled.
func testEveryone(ctx context.Context, st *store.Store, incident string) {
	for ctx.Err() == nil {
		rounds, _ := st.OpenRoundsFor(ctx, incident)
		for _, r := range rounds {
			queues, err := st.RoundQueues(ctx, r.ID, nil)
			if err != nil {
				continue
			}
			var rows []store.SampleRow
			for _, q := range queues {
				for _, code := range q.Residents {
					rows = append(rows, store.SampleRow{Tube: fmt.Sprintf("T-%d-%s", r.ID, code), Resident: code, Point: q.PointCode, TakenAt: time.Now(), Result: "negative"})
				}
			}
			for i := 0; i < len(rows); i += 5000 {
				_, _ = st.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows[i:min(i+5000, len(rows))], Max: 10000})
			}
			visits, _ := st.PendingVisits(ctx, r.ID)
			for _, v := range visits {
				_ = st.RecordHomeVisit(ctx, r.ID, v.Resident, v.Attempt, true, fmt.Sprintf("H-%d-%s", r.ID, v.Resident), time.Now())
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// responseProgress queries a response; a response still opening answers
// with an empty tree.
func (s *stack) responseProgress(t *testing.T, id string) workflows.ResponseProgress {
	t.Helper()
	var p workflows.ResponseProgress
	v, err := s.c.QueryWorkflow(context.Background(), id, "", workflows.QueryProgress)
	if err != nil {
		t.Logf("QueryWorkflow(%s) = %v", id, err)
		return p
	}
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommunityOutbreakLevel1EndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	db := s.st.DB()
	name := "outbreak-e2e"
	if _, _, err := s.st.PublishRunbook(ctx, name, "Level-1 response (test variant)", outbreakVariant(t, name), "e2e"); err != nil {
		t.Fatal(err)
	}
	// The outbox refuses the schools notice until the fault is mended.
	if _, err := db.ExecContext(ctx, `
		CREATE FUNCTION refuse_schools() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		    IF NEW.kind = 'schools-postponed' THEN RAISE EXCEPTION 'outbox unavailable'; END IF;
		    RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_schools BEFORE INSERT ON notices FOR EACH ROW EXECUTE FUNCTION refuse_schools();`); err != nil {
		t.Fatal(err)
	}

	incident := pgtest.Name("lvl1")
	// The field tests everyone in every round: no lift without evidence,
	// so rounds that sample nobody would never let the response reach
	// its lift decision.
	fctx, stopField := context.WithCancel(ctx)
	defer stopField()
	go testEveryone(fctx, s.st, incident)
	in := workflows.ResponseInput{Incident: incident, Runbook: name, Area: "longbao", TimeScale: 3600, RequestedBy: "e2e"}
	id, existing, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test")
	if err != nil || existing {
		t.Fatalf("StartResponse() = %v, existing %v", err, existing)
	}
	if _, existing, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test"); err != nil || !existing {
		t.Errorf("second StartResponse() = existing %v, %v; want the running response", existing, err)
	}

	const schools = "schools"
	eventually(t, 60*time.Second, "schools notice stalled", func() (bool, string) {
		n := s.responseProgress(t, id).Find(schools)
		if n == nil {
			return false, "no step yet"
		}
		return n.State == workflows.StateStalled, n.State
	})
	p := s.responseProgress(t, id)
	if n := p.Find(schools); n.Inner != "publish" || !strings.Contains(n.LastError, "outbox unavailable") {
		t.Errorf("stalled step = %+v, want the publish activity and the outbox error", n)
	}
	eventually(t, 20*time.Second, "stalled response visible", func() (bool, string) {
		q := fmt.Sprintf("MusterIncident = '%s' AND MusterStepState = 'stalled' AND MusterStep = '%s'", incident, schools)
		resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetWorkflowId() == id {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d executions", len(resp.GetExecutions()))
	})

	// A retry of a step that is not stalled is refused; of the stalled one,
	// once the outbox works again, it heals the step.
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateRetry, workflows.RetryInput{Step: "declare"}); err == nil || !strings.Contains(err.Error(), "not stalled") {
		t.Errorf("retry of a done step = %v, want a refusal", err)
	}
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateRetry, workflows.RetryInput{Step: "no-such-step"}); err == nil || !strings.Contains(err.Error(), "unknown step") {
		t.Errorf("retry of an unknown step = %v, want a refusal", err)
	}
	if _, err := db.ExecContext(ctx, `DROP TRIGGER refuse_schools ON notices`); err != nil {
		t.Fatal(err)
	}
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateRetry, workflows.RetryInput{Step: schools, By: "duty-officer"}); err != nil {
		t.Fatalf("retry of the stalled step = %v", err)
	}

	eventually(t, 90*time.Second, "awaiting the lift decision", func() (bool, string) {
		p := s.responseProgress(t, id)
		n := p.Find("approve-lift")
		if n == nil {
			return false, "not reached"
		}
		return n.State == workflows.StateAwaitingDecision, n.State + "; unfinished: " + s.unfinished(p.Root)
	})
	// Filtering for decisions finds the approval that waits and the
	// response, which names it as its step; the six holding seals are
	// found under holding instead.
	approval := id + "/approve-lift"
	list := func(state string) (map[string]string, error) {
		q := fmt.Sprintf("MusterIncident = '%s' AND MusterStepState = '%s'", incident, state)
		resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100})
		if err != nil {
			return nil, err
		}
		found := map[string]string{}
		for _, e := range resp.GetExecutions() {
			var step string
			if f := e.GetSearchAttributes().GetIndexedFields()[workflows.SAStep.GetName()]; f != nil {
				_ = converter.GetDefaultDataConverter().FromPayload(f, &step)
			}
			found[e.GetExecution().GetWorkflowId()] = step
		}
		return found, nil
	}
	eventually(t, 20*time.Second, "only the approval awaiting a decision", func() (bool, string) {
		found, err := list(workflows.StateAwaitingDecision)
		if err != nil {
			return false, err.Error()
		}
		want := map[string]string{approval: "approve-lift", id: "approve-lift"}
		return maps.Equal(found, want), fmt.Sprintf("awaiting-decision finds %v, want %v", found, want)
	})
	eventually(t, 20*time.Second, "seals holding", func() (bool, string) {
		found, err := list(workflows.StateHolding)
		if err != nil {
			return false, err.Error()
		}
		return len(found) == 6, fmt.Sprintf("holding finds %d executions, want the 6 seals: %v", len(found), found)
	})

	p = s.responseProgress(t, id)
	if n := p.Find(schools); n.State != workflows.StateDone {
		t.Errorf("schools notice after retry = %s, want done", n.State)
	}
	// The question shows each testing round's coverage and positives,
	// from the database's figures at the close.
	if ask := p.Find("approve-lift").Detail; !strings.Contains(ask, "Lift the seals of Longbao Community? Testing: round 1 of Longbao Community: 100% sampled (7013 of 7013), 0 positive; round 2") {
		t.Errorf("approve-lift asks %q, want the area and every round's coverage", ask)
	}
	if n := p.Find("testing"); n.State != workflows.StateDone || n.Round != 2 {
		t.Errorf("testing = %s after %d rounds (%s), want done after 2 clean rounds", n.State, n.Round, n.Detail)
	}
	rounds := p.Find("rounds")
	if rounds.State != workflows.StateDone || rounds.Round < 2 {
		t.Errorf("rounds = %s after %d rounds, want done after at least 2", rounds.State, rounds.Round)
	}
	seals := 0
	for _, n := range p.Leaves() {
		if n.Type == workflows.KindSeal {
			seals++
			if !n.Held || n.Outputs["checkpoints"] == 0 {
				t.Errorf("seal %s = held %v, outputs %v; want holding with checkpoints", n.Path, n.Held, n.Outputs)
			}
		}
	}
	if seals != 6 {
		t.Errorf("seal steps = %d, want 6 (Longbao's compounds)", seals)
	}
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateDecide, workflows.Decision{Step: "approve-lift", Decision: "maybe"}); err == nil {
		t.Error("decision \"maybe\" was accepted, want a refusal")
	}
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateDecide, workflows.Decision{Step: "approve-lift", Decision: "approve", By: "district-command", Reason: "two clean rounds"}); err != nil {
		t.Fatalf("approve = %v", err)
	}

	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var final workflows.ResponseProgress
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		t.Fatalf("response result = %v", err)
	}
	if final.State != workflows.ResponseClosed || final.Version != 1 {
		t.Errorf("response = %s version %d, want closed, version 1", final.State, final.Version)
	}
	for _, n := range final.Leaves() {
		if n.State != workflows.StateDone || n.Held {
			t.Errorf("step %s = %s (held %v), want done", n.Path, n.State, n.Held)
		}
	}
	if n := final.Find("lift"); n.Outputs["lifted"] != 6 {
		t.Errorf("lift step lifted %v seals, want 6", n.Outputs["lifted"])
	}

	t.Run("rows", func(t *testing.T) {
		var open, closures, topics int
		if err := db.GetContext(ctx, &open, `SELECT count(*) FROM checkpoints WHERE incident = $1 AND closed_at IS NULL`, incident); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &closures, `SELECT count(*) FROM road_closures WHERE incident = $1 AND reopened_at IS NULL`, incident); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &topics, `SELECT count(DISTINCT kind) FROM notices WHERE incident = $1 AND kind IN ('level-1-declared', 'schools-postponed', 'seal-announced', 'seal-lifted')`, incident); err != nil {
			t.Fatal(err)
		}
		if open != 0 || closures != 0 || topics != 4 {
			t.Errorf("after the lift: %d open checkpoints, %d road closures in force, %d notice topics; want 0, 0, 4", open, closures, topics)
		}
		var state string
		var version int
		if err := db.QueryRowContext(ctx, `SELECT state, runbook_version FROM responses WHERE incident = $1`, incident).Scan(&state, &version); err != nil {
			t.Fatal(err)
		}
		if state != "closed" || version != 1 {
			t.Errorf("responses row = %s, version %d; want closed, version 1", state, version)
		}
		var running int
		if err := db.GetContext(ctx, &running, `SELECT count(*) FROM step_events WHERE incident = $1 AND step = 'response' AND state = 'running'`, incident); err != nil {
			t.Fatal(err)
		}
		if running != 1 {
			t.Errorf("response running events = %d, want 1", running)
		}
		var stallNotices int
		if err := db.GetContext(ctx, &stallNotices, `SELECT count(*) FROM notices WHERE incident = $1 AND kind LIKE 'stalled/%'`, incident); err != nil {
			t.Fatal(err)
		}
		if stallNotices != 1 {
			t.Errorf("stall notices = %d, want 1", stallNotices)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// What a Prometheus scraping the worker sees: the SDK's counts and
		// Muster's own, the stall among them, each counted once.
		text := s.scrape(t)
		for _, want := range []string{
			`muster_step_stalled_total{`,
			`temporal_workflow_completed_total{`,
			`temporal_activity_execution_latency_seconds_bucket{`,
			`muster_round_expected{`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics have no %s", want)
			}
		}
		var stalls []string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "muster_step_stalled_total{") {
				stalls = append(stalls, line)
			}
		}
		if len(stalls) != 1 || !strings.HasSuffix(stalls[0], " 1") || !strings.Contains(stalls[0], `workflow_type="NoticeStep"`) {
			t.Errorf("muster_step_stalled_total = %q, want one NoticeStep stall counted once", stalls)
		}
	})

	t.Run("event log", func(t *testing.T) {
		evs, err := s.st.Events(ctx, incident, id)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{
			"response opened": false, schools + " stalled": false, schools + " retry-requested": false,
			"approve-lift approved": false, "lift done": false, "response closed": false,
		}
		for _, e := range evs {
			k := e.Step + " " + e.State
			if _, ok := want[k]; ok {
				want[k] = true
			}
			if k == schools+" retry-requested" && e.Actor != "duty-officer" {
				t.Errorf("retry event actor = %s, want duty-officer", e.Actor)
			}
		}
		for k, seen := range want {
			if !seen {
				t.Errorf("event log has no %q", k)
			}
		}
	})

	t.Run("search attributes", func(t *testing.T) {
		q := fmt.Sprintf("MusterIncident = '%s' AND MusterRunbook = '%s' AND MusterAreaPath = 'xiaodian/beiying/longbao' AND MusterStepState = 'done' AND MusterLevel = 1", incident, name)
		eventually(t, 20*time.Second, "closed response visible", func() (bool, string) {
			resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q + " AND WorkflowType = 'Response'"})
			if err != nil {
				return false, err.Error()
			}
			return len(resp.GetExecutions()) == 1, fmt.Sprintf("%d executions", len(resp.GetExecutions()))
		})
	})
}

// A response keeps the runbook version it started with, whatever is
// published while it runs.
func TestRunningResponseKeepsItsVersion(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	v1 := `name: pinned
title: Pinned version test
level: 2
area: community
steps:
  - id: tell
    kind: notice
    params: {audience: residents, topic: v1-notice, body: "version one"}
  - id: hold-on
    kind: approval
    params: {question: "Go on?", timeout: 1000h, default: approve}
`
	v2 := strings.ReplaceAll(v1, "v1-notice", "v2-notice") + `  - id: extra
    kind: wait
    params: {duration: 1h}
`
	if ver, _, err := s.st.PublishRunbook(ctx, "pinned", "Pinned", []byte(v1), "e2e"); err != nil || ver != 1 {
		t.Fatalf("publish v1 = %d, %v", ver, err)
	}
	first := pgtest.Name("pin")
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{Incident: first, Runbook: "pinned", Area: "longbao", TimeScale: 3600}, "pinned")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "first response waiting", func() (bool, string) {
		p := s.responseProgress(t, id)
		n := p.Find("hold-on")
		return n != nil && n.State == workflows.StateAwaitingDecision, fmt.Sprintf("%s: %+v", p.State, p.Root)
	})
	if ver, _, err := s.st.PublishRunbook(ctx, "pinned", "Pinned", []byte(v2), "e2e"); err != nil || ver != 2 {
		t.Fatalf("publish v2 = %d, %v", ver, err)
	}
	second := pgtest.Name("pin")
	id2, _, err := service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{Incident: second, Runbook: "pinned", Area: "longbao", TimeScale: 3600}, "pinned")
	if err != nil {
		t.Fatal(err)
	}
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateDecide, workflows.Decision{Step: "hold-on", Decision: "approve"}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var p workflows.ResponseProgress
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.Find("extra") != nil {
		t.Errorf("first response ran version %d (extra step %v), want version 1 without the extra step", p.Version, p.Find("extra") != nil)
	}
	var kinds []string
	if err := s.st.DB().SelectContext(ctx, &kinds, `SELECT kind FROM notices WHERE incident = $1`, first); err != nil {
		t.Fatal(err)
	}
	if strings.Join(kinds, ",") != "v1-notice" {
		t.Errorf("first response's notices = %v, want [v1-notice]", kinds)
	}
	eventually(t, 30*time.Second, "second response on version 2", func() (bool, string) {
		p2 := s.responseProgress(t, id2)
		extra := p2.Find("extra")
		return p2.Version == 2 && extra != nil && extra.State == workflows.StatePending, fmt.Sprintf("version %d", p2.Version)
	})
}

// A response whose history grows past its limit continues as new and
// carries on: steps report to the new run, the tree is kept.
func TestResponseContinuesAsNew(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	if err := service.PublishBuiltins(ctx, s.st); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("can")
	fctx, stopField := context.WithCancel(ctx)
	defer stopField()
	go testEveryone(fctx, s.st, incident)
	in := workflows.ResponseInput{Incident: incident, Runbook: "community-outbreak-level-1", Area: "longbao", TimeScale: 3600, HistoryLimit: 150}
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "awaiting the lift decision", func() (bool, string) {
		p := s.responseProgress(t, id)
		n := p.Find("approve-lift")
		if n == nil {
			return false, "not reached"
		}
		return n.State == workflows.StateAwaitingDecision, n.State + "; unfinished: " + s.unfinished(p.Root)
	})
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateDecide, workflows.Decision{Step: "approve-lift", Decision: "approve"}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var final workflows.ResponseProgress
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		t.Fatalf("response result = %v", err)
	}
	for _, n := range final.Leaves() {
		if n.State != workflows.StateDone || n.Held {
			t.Errorf("step %s = %s (held %v), want done", n.Path, n.State, n.Held)
		}
	}
	var runs int
	eventually(t, 20*time.Second, "runs listed", func() (bool, string) {
		resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", id)})
		if err != nil {
			return false, err.Error()
		}
		runs = len(resp.GetExecutions())
		return runs > 1, fmt.Sprintf("%d runs", runs)
	})
	var dupes int
	if err := s.st.DB().GetContext(ctx, &dupes, `SELECT count(*) FROM (SELECT gate_id FROM checkpoints WHERE incident = $1 GROUP BY gate_id HAVING count(*) > 1) d`, incident); err != nil {
		t.Fatal(err)
	}
	if dupes != 0 {
		t.Errorf("%d gates with more than one checkpoint, want none", dupes)
	}
	t.Logf("%d runs", runs)
}

// unfinished lists the steps of a progress tree that are not done, with
// their state and detail, and for a step's workflow what Temporal says of
// it (status, pending activities and their last failure), to say where a
// response stands.
func (s *stack) unfinished(n *workflows.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(n *workflows.Node)
	walk = func(n *workflows.Node) {
		if n.State != workflows.StateDone && n.State != workflows.StatePending && n.Path != "" {
			fmt.Fprintf(&b, "%s=%s (%s)", n.Path, n.State, n.Detail)
			if n.WorkflowID != "" {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				d, err := s.c.DescribeWorkflow(ctx, n.WorkflowID, "")
				cancel()
				if err != nil {
					fmt.Fprintf(&b, " [describe: %v]", err)
				} else {
					fmt.Fprintf(&b, " [%s", d.Status)
					for _, pa := range d.RawResponse.GetPendingActivities() {
						fmt.Fprintf(&b, "; activity %s attempt %d: %s", pa.GetActivityType().GetName(), pa.GetAttempt(), pa.GetLastFailure().GetMessage())
					}
					b.WriteString("]")
				}
			}
			b.WriteString(" ")
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
