// The invariants the battery checks after each fault and at the end.

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// check runs the invariants over an incident; final adds those that hold
// only once the response has completed.
func (r *chaosRun) check(ctx context.Context, incident string, final bool) {
	breaches, err := retrying(ctx, func() ([]store.Breach, error) { return r.ms.Breaches(ctx, incident) })
	if err != nil {
		r.violation("records keep their rules", fmt.Sprintf("%s: cannot check: %v", incident, err))
	}
	for _, b := range breaches {
		r.countViolation(b.Rule, incident, b.Count)
	}
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
		const name = "a lift releases checkpoint staff"
		rec, err := retrying(ctx, func() (store.SealRecords, error) { return r.ms.SealRecords(ctx, incident, 0) })
		if err != nil {
			r.violation(name, fmt.Sprintf("%s: cannot check: %v", incident, err))
		} else {
			r.countViolation(name, incident, rec.StaffOnDuty)
		}
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
	rows, err := r.ms.RoundFigures(ctx, incident)
	if err != nil {
		r.violation(name, fmt.Sprintf("%s: %v", incident, err))
		return
	}
	db := map[string]store.RoundFigures{}
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
	// Visibility lags the executions it lists: a workflow whose result has
	// just been read may still be listed running for a moment, so a list
	// with executions not completed is read again until visibilityLag has
	// passed.
	settle := time.Now().Add(visibilityLag)
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
				if len(bad) > 0 && time.Now().Before(settle) {
					return struct{}{}, errors.New("visibility lists executions not completed yet")
				}
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

// visibilityLag is how long the check that every workflow completed waits
// for visibility to catch up with executions that have ended.
const visibilityLag = 30 * time.Second

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

// countViolation records a check of an invariant that n records of the
// incident break.
func (r *chaosRun) countViolation(name, incident string, n int) {
	if n != 0 {
		r.violation(name, fmt.Sprintf("%s: %d", incident, n))
		return
	}
	r.violation(name, "")
}
