// The invariants the battery checks after each fault and at the end.

package main

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/musterhq/muster/workflows"
)

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
