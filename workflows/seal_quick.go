package workflows

// A seal's quick set-up (workflow version "seal-quick-setup" ≥ 1): fewer
// commands for the same steps, progress, events and notices, so a district
// of a thousand seals sets up at the pace of its server.
//
//   - Search attributes are gathered while the workflow task runs and
//     upserted once, when every other coroutine waits: a step done and the
//     next one running in the same task are one upsert (each upsert is a
//     visibility write on the server), and a value the execution already
//     has (the incident, runbook, level and area path its response started
//     it with) is not upserted again.
//   - Every gate's checkpoint opens in one activity (OpenCheckpoints); a
//     gate it could not open is opened on its own as before, with the
//     step's retries and stalls.
//   - The version marker of the change stands for the changes before it
//     (seal-step-core, seal-staffing, seal-notice-messages, retrying-state):
//     a quick seal records none of them, each of which is a marker and an
//     upsert of TemporalChangeVersion.

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// sealQuickChange gates the quick set-up; seals recorded before it upsert
// every change at once and open one checkpoint an activity.
const sealQuickChange = "seal-quick-setup"

// pendingSA is a search attribute value waiting for the next upsert.
type pendingSA struct {
	update temporal.SearchAttributeUpdate
	value  any
}

// upsert sets search attributes: at once on seals recorded before the
// quick set-up, else gathered for the next flush.
func (s *seal) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) error {
	if !s.quick {
		return workflow.UpsertTypedSearchAttributes(ctx, updates...)
	}
	if s.saPending == nil {
		s.saPending = map[string]pendingSA{}
	}
	for _, u := range updates {
		//workflowcheck:ignore one value: the update sets a single key
		for k, v := range temporal.NewSearchAttributes(u).GetUntypedValues() {
			s.saPending[k.GetName()] = pendingSA{update: u, value: v}
		}
	}
	s.saChanges++
	return nil
}

// flushWhenQuiet upserts the gathered search attributes once the other
// coroutines of the workflow task have had their turn and changed nothing
// more. It runs for the whole seal, out of reach of its cancellation, so a
// cancelled seal's clean-up shows too.
func (s *seal) flushWhenQuiet(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(dctx, func(ctx workflow.Context) {
		for {
			if err := workflow.Await(ctx, func() bool { return len(s.saPending) > 0 }); err != nil {
				return
			}
			for {
				// A coroutine started now runs after every coroutine there
				// is: when it has run and no change came meanwhile, the
				// others wait on something outside the workflow.
				seen, turned := s.saChanges, false
				workflow.Go(ctx, func(workflow.Context) { turned = true })
				if err := workflow.Await(ctx, func() bool { return turned }); err != nil {
					return
				}
				if s.saChanges == seen {
					break
				}
			}
			s.flushSA(ctx)
		}
	})
}

// flushSA upserts, in one command, the gathered values that differ from
// the execution's.
func (s *seal) flushSA(ctx workflow.Context) {
	if len(s.saPending) == 0 {
		return
	}
	current := map[string]any{}
	//workflowcheck:ignore copied into a map, order does not matter
	for k, v := range workflow.GetTypedSearchAttributes(ctx).GetUntypedValues() {
		current[k.GetName()] = v
	}
	names := make([]string, 0, len(s.saPending))
	//workflowcheck:ignore the names are sorted below
	for name := range s.saPending {
		names = append(names, name)
	}
	slices.Sort(names)
	var updates []temporal.SearchAttributeUpdate
	for _, name := range names {
		if p := s.saPending[name]; !sameSAValue(current[name], p.value) {
			updates = append(updates, p.update)
		}
	}
	s.saPending = nil
	if len(updates) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Error("Upsert search attributes", "error", err)
	}
}

// sameSAValue compares two search attribute values as the SDK holds them.
func sameSAValue(a, b any) bool {
	if x, ok := a.([]string); ok {
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	}
	if _, ok := b.([]string); ok {
		return false
	}
	return a == b
}

// openAtOnce opens every gate's checkpoint in one activity and marks the
// gates it opened done, as their own activities would have. It returns the
// indexes of the gates left to open one by one (those that failed, or all
// when the activity did), and for each gate that failed with an error no
// retry can mend, that error, which stalls it without another attempt.
func (s *seal) openAtOnce(ctx workflow.Context) ([]int, map[int]error) {
	all := make([]int, len(s.plan.Gates))
	for i, g := range s.plan.Gates {
		all[i] = i
		s.r.begin(ctx, "checkpoint/"+g.Code, fmt.Sprintf("Checkpoint at %s (%s)", g.Name, s.progress.Checkpoints[i].Mode))
	}
	// One attempt: whatever it leaves undone gets the step's retries.
	opts := activityOptions(fmt.Sprintf("Checkpoints at %d gates", len(s.plan.Gates)), s.in.Retry)
	opts.RetryPolicy.MaximumAttempts = 1
	var res activities.CheckpointsResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.OpenCheckpoints, activities.CheckpointsInput{
		Ref: s.ref("muster"), AreaID: s.plan.AreaID, Gates: s.plan.Gates, RequiredStaff: s.in.StaffPerCheckpoint,
	}).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("Open checkpoints at once", "compound", s.plan.Code, "error", err)
		return all, nil
	}
	opened := make(map[string]activities.CheckpointResult, len(res.Opened))
	for _, cp := range res.Opened {
		opened[cp.Gate] = cp
	}
	failed := map[string]activities.GateFailure{}
	for _, f := range res.Failed {
		failed[f.Gate] = f
	}
	var left []int
	permanent := map[int]error{}
	for i, g := range s.plan.Gates {
		cp, ok := opened[g.Code]
		if !ok {
			left = append(left, i)
			if f, ok := failed[g.Code]; ok && f.NonRetryable {
				permanent[i] = temporal.NewNonRetryableApplicationError(f.Error, f.Type, nil)
			}
			continue
		}
		s.progress.Checkpoints[i].Staff, s.progress.Checkpoints[i].Shortfall = len(cp.Staff), cp.Shortfall
		s.r.mark(ctx, "checkpoint/"+g.Code, StateDone, s.checkpointDetail(cp))
	}
	return left, permanent
}
