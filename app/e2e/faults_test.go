package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// The faults a response must survive: a worker that dies in the middle of
// a step, and PostgreSQL unavailable for a while. Either way the response
// ends complete and no row is written twice.

// faultTimeScale makes an hour last a second: the seals' compliance rounds
// come every 2 s, the approval waits 12 s, a stalled step is retried after
// a quarter of a second.
const faultTimeScale = 3600

// faultRunbook is the built-in level-1 runbook: six seals over Longbao.
const faultRunbook = "community-outbreak-level-1"

// faultStack is a dev server and a database, with workers started and
// stopped as separate processes would be.
type faultStack struct {
	srv       *testsuite.DevServer
	c         client.Client // the command center's client
	dbURL     string
	st        *store.Store // the test's own connection, for setup and checks
	taskQueue string
	logDir    string
}

func newFaultStack(t *testing.T, dbURL string) *faultStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := devenv.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStack{dbURL: dbURL, taskQueue: pgtest.Name("faults"), logDir: t.TempDir()}
	logFile, err := os.Create(filepath.Join(fs.logDir, "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	fs.srv, err = devenv.StartTemporal(ctx, devenv.TemporalOptions{Bin: bin, SearchAttributes: workflows.SearchAttributes, Output: logFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fs.srv.Stop()
		if t.Failed() {
			logTail(t, logFile.Name(), 20)
		}
		logFile.Close()
	})
	fs.c = fs.srv.Client()

	fs.st, err = store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.st.Close() })
	if _, err := fs.st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	if err := service.PublishBuiltins(ctx, fs.st); err != nil {
		t.Fatal(err)
	}
	// Closing a seal's roads takes a second a road, so every seal is
	// still being set up for a while after its first checkpoint opens:
	// the fault lands in the middle of the setup, with transactions in
	// flight, not between steps by luck.
	if _, err := fs.st.DB().ExecContext(ctx, `
		CREATE FUNCTION slow_road_closures() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		    PERFORM pg_sleep(1);
		    RETURN NEW;
		END $$;
		CREATE TRIGGER slow_road_closures BEFORE INSERT ON road_closures FOR EACH ROW EXECUTE FUNCTION slow_road_closures();`); err != nil {
		t.Fatal(err)
	}
	return fs
}

// workerProcess is what a worker process holds: its own Temporal client,
// its own connection pool and the worker.
type workerProcess struct {
	c    client.Client
	st   *store.Store
	w    worker.Worker
	done bool
}

// startWorker starts a worker as a fresh process would: new client, new
// store connection, new worker on the task queue.
func (fs *faultStack) startWorker(t *testing.T, name string) *workerProcess {
	t.Helper()
	return fs.startWorkerAt(t, name, fs.srv.FrontendHostPort())
}

// startWorkerAt starts a worker that reaches Temporal at hostPort.
func (fs *faultStack) startWorkerAt(t *testing.T, name, hostPort string) *workerProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logFile, err := os.Create(filepath.Join(fs.logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &workerProcess{}
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p.c, err = service.Dial(ctx, client.Options{HostPort: hostPort, Namespace: "default"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	p.st, err = store.Open(ctx, fs.dbURL)
	if err != nil {
		p.c.Close()
		t.Fatal(err)
	}
	p.w = service.NewWorker(p.c, fs.taskQueue, p.st)
	if err := p.w.Start(); err != nil {
		p.st.Close()
		p.c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			logTail(t, logFile.Name(), 30)
		}
		logFile.Close()
	})
	return p
}

// stop ends the worker process: the worker stops at once, cancelling the
// activities it runs, then its connections close.
func (p *workerProcess) stop() {
	if p.done {
		return
	}
	p.done = true
	p.w.Stop()
	p.c.Close()
	p.st.Close()
}

func logTail(t *testing.T, path string, n int) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return
	}
	// A worker cut off from Temporal logs every failed poll; those say
	// nothing about why a test failed.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.Contains(l, "Failed to poll for task") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("last lines of %s:\n%s", filepath.Base(path), strings.Join(lines, "\n"))
}

// startResponse starts the level-1 response over Longbao.
func (fs *faultStack) startResponse(t *testing.T, incident string) string {
	t.Helper()
	// The field tests everyone in every round (see testEveryone): a round
	// that samples nobody is no evidence for the lift.
	fctx, stopField := context.WithCancel(context.Background())
	t.Cleanup(stopField)
	go testEveryone(fctx, fs.st, incident)
	in := workflows.ResponseInput{Incident: incident, Runbook: faultRunbook, Area: "longbao", TimeScale: faultTimeScale, RequestedBy: "e2e"}
	id, existing, err := service.StartResponse(context.Background(), fs.c, fs.taskQueue, in, "fault test")
	if err != nil || existing {
		t.Fatalf("StartResponse() = %v, existing %v", err, existing)
	}
	t.Cleanup(func() {
		if t.Failed() {
			fs.diagnose(t, incident)
		}
	})
	return id
}

// diagnose logs what the incident's workflows are stuck on: pending
// workflow tasks and activities, and the last workflow task failures.
func (fs *faultStack) diagnose(t *testing.T, incident string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := fs.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("MusterIncident = '%s'", incident)})
	if err != nil {
		t.Logf("diagnose: list workflows: %v", err)
		return
	}
	for _, e := range resp.GetExecutions() {
		wid := e.GetExecution().GetWorkflowId()
		d, err := fs.c.DescribeWorkflow(ctx, wid, "")
		if err != nil {
			t.Logf("diagnose: %s: %v", wid, err)
			continue
		}
		desc := d.RawResponse
		info := desc.GetWorkflowExecutionInfo()
		line := fmt.Sprintf("%s: %s, %d events", wid, info.GetStatus(), info.GetHistoryLength())
		if wt := desc.GetPendingWorkflowTask(); wt != nil {
			line += fmt.Sprintf("; workflow task %s attempt %d", wt.GetState(), wt.GetAttempt())
		}
		for _, a := range desc.GetPendingActivities() {
			line += fmt.Sprintf("; activity %s %s attempt %d", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt())
			if f := a.GetLastFailure(); f != nil {
				line += ": " + f.GetMessage()
			}
		}
		var failures []string
		it := fs.c.GetWorkflowHistory(ctx, wid, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
				failures = append(failures, fmt.Sprintf("%s: %.300s", a.GetCause(), a.GetFailure().GetMessage()))
			}
			if ev.GetWorkflowTaskTimedOutEventAttributes() != nil {
				failures = append(failures, "workflow task timed out")
			}
		}
		if len(failures) > 3 {
			failures = failures[len(failures)-3:]
		}
		if len(failures) > 0 {
			line += "; last workflow task failures: " + strings.Join(failures, " | ")
		}
		t.Log("diagnose: " + line)
	}
}

// link forwards TCP connections to Temporal until it is cut; then every
// connection through it drops and new ones are closed at once, as if the
// process on the other side had died.
type link struct {
	l        net.Listener
	upstream string
	mu       sync.Mutex
	conns    []net.Conn
	down     bool
}

func newLink(t *testing.T, upstream string) *link {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &link{l: l, upstream: upstream}
	go k.serve()
	t.Cleanup(func() {
		l.Close()
		k.cut()
	})
	return k
}

func (k *link) addr() string { return k.l.Addr().String() }

func (k *link) serve() {
	for {
		c, err := k.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", k.upstream)
		if err != nil {
			c.Close()
			continue
		}
		k.mu.Lock()
		if k.down {
			k.mu.Unlock()
			c.Close()
			u.Close()
			continue
		}
		k.conns = append(k.conns, c, u)
		k.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// cut drops every connection through the link and refuses new ones.
func (k *link) cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = true
	for _, c := range k.conns {
		c.Close()
	}
	k.conns = nil
}

// awaitSetupUnderway waits until the first checkpoint of the incident is
// in the database: the seals are being set up.
func (fs *faultStack) awaitSetupUnderway(t *testing.T, incident string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := fs.st.DB().Get(&n, `SELECT count(*) FROM checkpoints WHERE incident = $1`, incident); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no checkpoint opened within 60s")
}

func queryProgress(c client.Client, id string) (workflows.ResponseProgress, error) {
	var p workflows.ResponseProgress
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

// finish approves the lift once the response asks for it and returns the
// response's final progress.
func (fs *faultStack) finish(t *testing.T, id string, within time.Duration) workflows.ResponseProgress {
	t.Helper()
	ctx := context.Background()
	eventually(t, within, "awaiting the lift decision", func() (bool, string) {
		p, err := queryProgress(fs.c, id)
		if err != nil {
			return false, err.Error()
		}
		n := p.Find("approve-lift")
		if n == nil {
			return false, describeTree(p)
		}
		return n.State == workflows.StateAwaitingDecision, describeTree(p)
	})
	if err := sendUpdate(ctx, fs.c, id, workflows.UpdateDecide, workflows.Decision{Step: "approve-lift", Decision: "approve", By: "district-command", Reason: "fault test"}); err != nil {
		t.Fatalf("approve = %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var final workflows.ResponseProgress
	if err := fs.c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		t.Fatalf("response result = %v", err)
	}
	return final
}

// describeTree summarises the steps' states for failure messages.
func describeTree(p workflows.ResponseProgress) string {
	counts := map[string]int{}
	for _, n := range p.Leaves() {
		s := n.State
		if n.Held {
			s = "holding"
		}
		counts[s]++
	}
	var parts []string
	for s, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, s))
	}
	sort.Strings(parts)
	return fmt.Sprintf("response %s: %s", p.State, strings.Join(parts, ", "))
}

// checkCompleteOnce checks that the response closed with every step done and
// that every row and every logged transition of its seals is there once.
func (fs *faultStack) checkCompleteOnce(t *testing.T, incident, id string, final workflows.ResponseProgress) {
	t.Helper()
	ctx := context.Background()
	db := fs.st.DB()
	if final.State != workflows.ResponseClosed {
		t.Errorf("response = %s, want closed", final.State)
	}
	var seals []*workflows.Node
	for _, n := range final.Leaves() {
		if n.State != workflows.StateDone || n.Held {
			t.Errorf("step %s = %s (held %v), want done", n.Path, n.State, n.Held)
		}
		if n.Type == workflows.KindSeal {
			seals = append(seals, n)
		}
	}
	if len(seals) != 6 {
		t.Fatalf("seal steps = %d, want 6 (Longbao's compounds)", len(seals))
	}
	if n := final.Find("lift"); n == nil || n.Outputs["lifted"] != 6 {
		t.Errorf("lift step = %+v, want 6 seals lifted", n)
	}

	// What the seals should have written, from their plans.
	var gates, roads, zones int
	wantOnce := map[string]bool{} // workflow|step|state seen exactly once
	for _, n := range seals {
		plan, err := fs.st.SealPlan(ctx, n.Area.Code)
		if err != nil {
			t.Fatal(err)
		}
		closable := 0
		for _, r := range plan.Roads {
			if !r.Entrance {
				closable++
			}
		}
		gates += len(plan.Gates)
		roads += closable
		zones += len(plan.PublicAreas)
		var res workflows.SealCompoundResult
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = fs.c.GetWorkflow(rctx, n.WorkflowID, "").Get(rctx, &res)
		cancel()
		if err != nil {
			t.Errorf("seal %s result = %v", n.WorkflowID, err)
		} else {
			// Staff stand in shifts, so a seal releases every shift's
			// staff: the figure it reports is the database's count of
			// its checkpoint duty.
			var duty int
			if err := db.GetContext(ctx, &duty, `SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
				WHERE c.incident = $1 AND c.area_id = $2`, incident, plan.Compound.ID); err != nil {
				t.Fatal(err)
			}
			if res.Checkpoints != len(plan.Gates) || res.StaffReleased != duty || duty < len(plan.Gates)*workflows.DefaultStaffPerCheckpoint || res.RoadsReopened != closable {
				t.Errorf("seal %s = %d checkpoints, %d staff released, %d roads reopened; want %d, %d (its duty rows, at least %d), %d",
					n.Area.Code, res.Checkpoints, res.StaffReleased, res.RoadsReopened, len(plan.Gates), duty, len(plan.Gates)*workflows.DefaultStaffPerCheckpoint, closable)
			}
		}
		for _, step := range []string{"plan", "notify-residents", "close-roads", "disinfect", "reopen", "notify-lifted"} {
			wantOnce[n.WorkflowID+"|"+step+"|done"] = true
		}
		for _, g := range plan.Gates {
			wantOnce[n.WorkflowID+"|checkpoint/"+g.Code+"|done"] = true
		}
		wantOnce[id+"|"+n.Path+"|holding"] = true
	}
	for _, k := range []string{"response|opened", "approve-lift|approved", "lift|done", "response|closed"} {
		wantOnce[id+"|"+k] = true
	}

	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.GetContext(ctx, &n, q, incident); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{"checkpoints", count(`SELECT count(*) FROM checkpoints WHERE incident = $1`), gates},
		{"gates with a checkpoint", count(`SELECT count(DISTINCT gate_id) FROM checkpoints WHERE incident = $1`), gates},
		{"checkpoints still open", count(`SELECT count(*) FROM checkpoints WHERE incident = $1 AND closed_at IS NULL`), 0},
		{"shifts of a checkpoint not staffed exactly as required", count(`SELECT count(*) FROM (SELECT c.id, cs.shift FROM checkpoints c
			JOIN checkpoint_staff cs ON cs.checkpoint_id = c.id WHERE c.incident = $1
			GROUP BY c.id, cs.shift, c.required_staff HAVING count(cs.staff_id) <> c.required_staff) x`), 0},
		{"checkpoints never staffed", count(`SELECT count(*) FROM checkpoints c WHERE c.incident = $1
			AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.checkpoint_id = c.id)`), 0},
		{"staff still on duty", count(`SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1 AND cs.released_at IS NULL`), 0},
		{"road closures", count(`SELECT count(*) FROM road_closures WHERE incident = $1`), roads},
		{"closed (compound, road) pairs", count(`SELECT count(DISTINCT (area_id, road_id)) FROM road_closures WHERE incident = $1`), roads},
		{"roads still closed", count(`SELECT count(*) FROM road_closures WHERE incident = $1 AND reopened_at IS NULL`), 0},
		{"disinfection tasks", count(`SELECT count(*) FROM disinfection_tasks WHERE incident = $1`), zones},
		{"level-1 notices", count(`SELECT count(*) FROM notices WHERE incident = $1 AND kind = 'level-1-declared'`), 1},
		{"schools notices", count(`SELECT count(*) FROM notices WHERE incident = $1 AND kind = 'schools-postponed'`), 1},
		{"seal notices", count(`SELECT count(*) FROM notices WHERE incident = $1 AND kind = 'seal-announced'`), 6},
		{"lift notices", count(`SELECT count(*) FROM notices WHERE incident = $1 AND kind = 'seal-lifted'`), 6},
		{"notices per (area, kind) beyond the first", count(`SELECT count(*) - count(DISTINCT (coalesce(area_id, 0), kind)) FROM notices WHERE incident = $1`), 0},
		{"sweep checks per (checkpoint, sweep) beyond the first", count(`SELECT count(*) - count(DISTINCT (checkpoint_id, sweep)) FROM compliance_checks WHERE incident = $1 AND sweep <> ''`), 0},
		{"responses", count(`SELECT count(*) FROM responses WHERE incident = $1`), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}

	// The event log: each seal step's transition once, the response's
	// milestones once, and no transition logged twice except those that
	// repeat by design (stalls, a seal's compliance rounds and shifts).
	var rows []struct {
		WorkflowID string `db:"workflow_id"`
		Step       string `db:"step"`
		State      string `db:"state"`
		N          int    `db:"n"`
	}
	if err := db.SelectContext(ctx, &rows, `SELECT workflow_id, step, state, count(*) AS n FROM step_events
		WHERE incident = $1 GROUP BY workflow_id, step, state`, incident); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		k := r.WorkflowID + "|" + r.Step + "|" + r.State
		seen[k] = r.N
		repeats := r.State == workflows.StateStalled || ((r.Step == "compliance-check" || r.Step == "shift") && r.State == workflows.StateDone)
		if r.N > 1 && !repeats {
			t.Errorf("event %s logged %d times, want once", k, r.N)
		}
	}
	var missing []string
	for k := range wantOnce {
		if seen[k] != 1 {
			missing = append(missing, fmt.Sprintf("%s (%d)", k, seen[k]))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("event %s: want exactly one", m)
	}
	t.Logf("%d gates × %d staff, %d road closures, %d zones, %d distinct transitions logged", gates, workflows.DefaultStaffPerCheckpoint, roads, zones, len(rows))
}

// TestWorkerKilledMidStep kills the only worker while the seals are being
// set up: the process drops off the network while a seal's road closures
// are being written, its transactions commit, and it exits without telling
// Temporal. A new worker process starts a few seconds later; the activities
// the dead one ran time out and run again over rows already written. The
// response must end complete, with every row and every logged transition
// once.
func TestWorkerKilledMidStep(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test: needs the temporal CLI (run `make test`)")
	}
	start := time.Now()
	fs := newFaultStack(t, pgtest.URL(t))
	ctx := context.Background()
	db := fs.st.DB()
	// The first worker reaches Temporal through a link the test can cut.
	link := newLink(t, fs.srv.FrontendHostPort())
	first := fs.startWorkerAt(t, "worker-1", link.addr())
	incident := pgtest.Name("kill")
	id := fs.startResponse(t, incident)

	// A seal's road closures are being written: its checkpoints are open,
	// and no seal is holding yet.
	eventually(t, 60*time.Second, "road closures being written", func() (bool, string) {
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
			  AND query LIKE '%INSERT INTO road_closures%'`); err != nil {
			return false, err.Error()
		}
		return n > 0, "no road closure in flight"
	})
	link.cut()
	cutAt := time.Now()
	events := func() int {
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM step_events WHERE incident = $1`, incident); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := events()
	// The dead process's transactions finish; whatever they wrote,
	// Temporal never hears of.
	eventually(t, 30*time.Second, "the cut-off worker's writes committed", func() (bool, string) {
		var open int
		if err := db.GetContext(ctx, &open, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'`); err != nil {
			return false, err.Error()
		}
		n := events()
		return open == 0 && n > before, fmt.Sprintf("%d transactions open, %d events written since the cut", open, n-before)
	})
	unreported := events() - before
	first.stop()
	var checkpoints, sealsSetUp int
	if err := db.GetContext(ctx, &checkpoints, `SELECT count(*) FROM checkpoints WHERE incident = $1`, incident); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &sealsSetUp, `SELECT count(*) FROM step_events WHERE incident = $1 AND step = 'disinfect'`, incident); err != nil {
		t.Fatal(err)
	}
	t.Logf("worker cut off after %s and stopped %s later: %d checkpoints open, %d of 6 seals set up, %d writes never reported",
		cutAt.Sub(start).Round(time.Millisecond), time.Since(cutAt).Round(time.Millisecond), checkpoints, sealsSetUp, unreported)
	if sealsSetUp >= 6 {
		t.Fatal("all 6 seals were set up before the worker died; the test did not kill it mid-setup")
	}

	// Nothing moves while no worker runs. Then a new process takes over.
	time.Sleep(3 * time.Second)
	fs.startWorker(t, "worker-2")
	restartedAt := time.Now()

	final := fs.finish(t, id, 2*time.Minute)
	t.Logf("response closed %s after the new worker started (%s in all)", time.Since(restartedAt).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	fs.checkCompleteOnce(t, incident, id, final)

	// The writes the dead worker never reported were made again.
	rerun := 0
	for _, n := range final.Leaves() {
		if n.Type != workflows.KindSeal {
			continue
		}
		it := fs.c.GetWorkflowHistory(ctx, n.WorkflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			// A write runs again either as a later attempt of the same
			// activity or, once the step's first attempt runs on its own
			// (so the step reads retrying), as the activity scheduled after
			// the dead worker's attempt timed out.
			if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
				rerun++
			}
			if e.GetActivityTaskTimedOutEventAttributes() != nil {
				rerun++
			}
		}
	}
	if rerun == 0 {
		t.Error("no seal activity ran a second time; the test did not exercise a repeated write")
	}
	t.Logf("%d seal activities ran again after an attempt the dead worker never finished", rerun)
}

// TestStoreOutageHeals stops PostgreSQL for 20 seconds while the seals are
// being set up and starts it again on the same port. Activities fail and
// back off meanwhile, by 1, 2, 4, 8 and 16 s, so PostgreSQL is back before
// the retry after the 16-second wait; the connection pools reconnect; the
// response must end complete, with every row and every logged transition
// once. A longer outage would only add failed retries and longer waits.
func TestStoreOutageHeals(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test: needs the temporal CLI and PostgreSQL server binaries (run `make test`)")
	}
	if _, err := devenv.PostgresBinDir(); err != nil {
		t.Skipf("needs a PostgreSQL cluster of its own to stop and start: %v", err)
	}
	const outage = 20 * time.Second
	// Noticing the outage may take longer than the outage on a loaded
	// machine; PostgreSQL then stays down until both checks have passed.
	const notice = 30 * time.Second
	start := time.Now()
	ctx := context.Background()

	// A private cluster, which the test may stop. As root the cluster runs
	// as the postgres user, so its folder is one that user can reach.
	dir, err := os.MkdirTemp("", "muster-outage-")
	if err != nil {
		t.Fatal(err)
	}
	pgLog, err := os.Create(filepath.Join(t.TempDir(), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	port, err := quietPort()
	if err != nil {
		t.Fatal(err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pg, err := devenv.StartPostgres(startCtx, dir, port, pgLog)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Stop()
		if t.Failed() {
			logTail(t, filepath.Join(dir, "server.log"), 20)
		}
		os.RemoveAll(dir)
		pgLog.Close()
	})
	if err := devenv.CreateDatabase(startCtx, pg.URL("postgres"), "muster"); err != nil {
		t.Fatal(err)
	}

	fs := newFaultStack(t, pg.URL("muster"))
	fs.startWorker(t, "worker")
	incident := pgtest.Name("outage")
	id := fs.startResponse(t, incident)

	fs.awaitSetupUnderway(t, incident)
	p, err := queryProgress(fs.c, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	downAt := time.Now()
	t.Logf("PostgreSQL stopped after %s, while %s", downAt.Sub(start).Round(time.Millisecond), describeTree(p))
	held := 0
	for _, n := range p.Leaves() {
		if n.Type == workflows.KindSeal && n.Held {
			held++
		}
	}
	if held >= 6 {
		t.Fatal("all 6 seals were holding before the outage; the test did not hit the setup")
	}

	// The outage is felt: some seal's activity fails and is retried.
	eventually(t, notice, "an activity failing for the outage", func() (bool, string) {
		for _, n := range p.Leaves() {
			if n.Type != workflows.KindSeal {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			desc, err := fs.c.DescribeWorkflow(dctx, workflows.SealWorkflowID(incident, n.Area.Code), "")
			cancel()
			if err != nil {
				continue
			}
			for _, a := range desc.RawResponse.GetPendingActivities() {
				if a.GetAttempt() > 1 && a.GetLastFailure() != nil {
					return true, ""
				}
			}
		}
		return false, "no activity retrying"
	})
	// The progress query answers during the outage, and a seal whose
	// activity fails reads retrying, with the error, from its first failed
	// attempt.
	eventually(t, notice, "a seal step reading retrying", func() (bool, string) {
		seen := ""
		for _, n := range p.Leaves() {
			if n.Type != workflows.KindSeal {
				continue
			}
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := fs.c.QueryWorkflow(qctx, workflows.SealWorkflowID(incident, n.Area.Code), "", workflows.QueryProgress)
			cancel()
			if err != nil {
				return false, "progress query: " + err.Error()
			}
			var sp workflows.SealProgress
			if err := v.Get(&sp); err != nil {
				t.Fatal(err)
			}
			for _, st := range sp.Steps {
				if st.State == workflows.StateRetrying && st.LastError != "" && strings.Contains(st.Detail, "retrying since") {
					return true, ""
				}
				seen += " " + st.Name + "=" + st.State
			}
		}
		return false, seen
	})

	time.Sleep(time.Until(downAt.Add(outage)))
	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if pg, err = devenv.StartPostgres(restartCtx, dir, port, pgLog); err != nil {
		t.Fatalf("restart PostgreSQL on port %d: %v", port, err)
	}
	upAt := time.Now()
	t.Logf("PostgreSQL back after %s", upAt.Sub(downAt).Round(time.Millisecond))

	final := fs.finish(t, id, 2*time.Minute+30*time.Second)
	t.Logf("response closed %s after PostgreSQL came back (%s in all)", time.Since(upAt).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	fs.checkCompleteOnce(t, incident, id, final)

	var stalls int
	if err := fs.st.DB().GetContext(ctx, &stalls, `SELECT count(*) FROM step_events WHERE incident = $1 AND state = 'stalled'`, incident); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d stalls logged", stalls)
}

// quietPort finds a free port below the kernel's ephemeral range, so no
// outgoing connection takes it while the cluster is down.
func quietPort() (int, error) {
	for range 50 {
		port := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return devenv.FreePort()
}
