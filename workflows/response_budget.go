package workflows

// The response's history budget. A response over a city (a for_each of a
// thousand communities, each a child workflow) cannot wait for a quiet
// moment to continue as new: its children start and report for as long as
// the round lasts, and each report writes to the event log. So once the
// history is long the response closes: it starts no new step, child or
// area selection, keeps the event log entries it would write for the next
// run, lets what is in flight end and continues as new; the next run
// writes those entries and starts the steps this one held back.
//
// The server reports the history length at each workflow task, and a
// response starts a thousand steps in one task; so the response also
// counts the events its own commands will add since the length it last
// read, and closes as soon as that estimate passes the limit.

import (
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/domain"
)

// historyBudgetChange gates the budget: runs recorded before it started
// every step at once and continued as new only at a quiet moment.
const historyBudgetChange = "response-history-budget"

// Estimated history events of what the response does: three per activity
// (scheduled, started, completed), two per child start (initiated,
// started), one per signal or child end, two per timer, external signal
// or cancel request, each with one more for its share of the workflow
// task that handles it; one per search-attribute upsert, which wakes
// nothing.
const (
	costActivity   = 4
	costChildStart = 3
	costSignal     = 2
	costCommand    = 3
	costUpsert     = 1
)

// budget is the response's count of its history.
type budget struct {
	// on: the run keeps the budget (workflow version historyBudgetChange
	// ≥ 1).
	on bool
	// draining: the run has decided to continue as new; ending: to end.
	draining, ending bool
	// seen is the history length the server last reported, since when
	// the run has added about since events.
	seen, since int
	// deferred are event log entries kept for the next run.
	deferred []domain.Event
}

// cost counts n events the response is adding to its history.
func (r *response) cost(ctx workflow.Context, n int) {
	if l := workflow.GetInfo(ctx).GetCurrentHistoryLength(); l != r.b.seen {
		r.b.seen, r.b.since = l, 0
	}
	r.b.since += n
}

// historyEstimate is the history length the server last reported and what
// the response has added since.
func (r *response) historyEstimate(ctx workflow.Context) int {
	l := workflow.GetInfo(ctx).GetCurrentHistoryLength()
	if l != r.b.seen {
		return l
	}
	return l + r.b.since
}

// closing reports whether the run is on its way to continuing as new: it
// starts nothing new and keeps its event log entries for the next run.
func (r *response) closing(ctx workflow.Context) bool {
	return r.b.on && !r.b.ending && (r.b.draining || r.shouldContinueAsNew(ctx))
}

// hold waits while the run is closing: what waits is started by the next
// run, which walks the tree again. A lift that comes meanwhile ends the
// run (its steps are cancelled with ctx), so what waits never starts.
func (r *response) hold(ctx workflow.Context) error {
	if !r.closing(ctx) {
		return nil
	}
	return workflow.Await(ctx, func() bool { return !r.closing(ctx) && r.lift == nil })
}

// deferEvent keeps an event log entry for the next run when the run is
// closing, and reports whether it did.
func (r *response) deferEvent(ctx workflow.Context, e domain.Event) bool {
	if !r.closing(ctx) {
		return false
	}
	e.Incident, e.WorkflowID = "", ""
	r.b.deferred = append(r.b.deferred, e)
	return true
}

// writeDeferred writes the event log entries kept for a later run, each
// as it would have been written then (the same dedup key). Each counts as
// in flight from now, so that nothing waiting for a quiet moment takes
// the run as quiet before the entry is written or kept again.
func (r *response) writeDeferred(ctx workflow.Context) {
	list := r.b.deferred
	r.b.deferred = nil
	r.inflight += len(list)
	for _, e := range list {
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { r.inflight-- }()
			r.record(ctx, e)
		})
	}
}

// flushDeferred writes the event log entries kept for a later run when
// the response is about to end, and waits until they are written. It
// reports whether some are left because the run's history is full: the
// response then continues as new and ends in its next run. Once it
// returns false, nothing more is deferred.
func (r *response) flushDeferred(ctx workflow.Context) (more bool, err error) {
	if !r.b.on {
		return false, nil
	}
	r.writeDeferred(ctx)
	if err := workflow.Await(ctx, func() bool { return r.inflight == 0 }); err != nil {
		return false, err
	}
	if len(r.b.deferred) > 0 {
		return true, nil
	}
	r.b.ending = true
	return false, nil
}

// record writes one event log entry, or keeps it for the next run.
func (r *response) record(ctx workflow.Context, e domain.Event) {
	if r.deferEvent(ctx, e) {
		return
	}
	e.Incident, e.WorkflowID = r.in.Incident, r.id
	if err := r.activity(ctx, "Log "+e.Step+" "+e.State, a.RecordEvent, e, nil); err != nil {
		workflow.GetLogger(ctx).Error("Event log", "step", e.Step, "state", e.State, "error", err)
	}
}

// packs reports whether the response packs its tree in its result and
// carried state (response_pack.go).
func (r *response) packs(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, packedTreeChange, workflow.DefaultVersion, 1) >= 1
}

// nextInput is the input of the response's next run, its tree packed when
// pack is set.
func (r *response) nextInput(pack bool) ResponseInput {
	next := r.in
	next.Resume = &ResponseState{Progress: r.result(pack), Definition: r.def, Lift: r.lift, Events: r.b.deferred}
	return next
}

// result is what the response returns when it ends, its tree packed when
// pack is set.
func (r *response) result(pack bool) ResponseProgress {
	p := r.p
	if pack {
		p.Root = packedTree(p.Root, r.id)
	}
	return p
}

// resume takes the state a previous run carried.
func (r *response) resume() {
	s := r.in.Resume
	r.p, r.def, r.lift, r.b.deferred = s.Progress, s.Definition, s.Lift, s.Events
	r.in.Resume = nil
	r.treeDone = r.p.Root != nil && terminal(r.p.Root.State)
	r.index(r.p.Root)
}
