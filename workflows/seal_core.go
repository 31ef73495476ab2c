package workflows

// What the seal shares with the other step kinds beyond the step core
// (core.go, runner.go, steps.go), and why it keeps what it does not share.
//
// The seal runs its steps with the step runner (steps: retries, stalls,
// abandoning a stalled step once lifted), takes its signals in its main
// loop through an inbox, reports to its response with reportToParent, and
// continues as new with continueAsNewWhenQuiet. It keeps three things of
// its own, because the recorded seal histories replay only with them:
//
//   - seal.changed upserts the search attributes only when they change (the
//     step state of other kinds is upserted on every change of state), so
//     the step core's stepWorkflow.changed would add commands to every
//     recorded seal; it also tells its response of retries only behind the
//     "seal-reports-retrying" version.
//   - SealCompound ends without the final search-attribute upsert of
//     stepWorkflow.finish, and seals recorded before the step core
//     (version "seal-step-core") report a continue-as-new as failed.
//   - seals recorded before the step core wait without an inbox and
//     continue as new without draining (seal.await, seal.continueAsNew).

import (
	"slices"

	"go.temporal.io/sdk/workflow"
)

// receiveAlways applies every signal of one name as it arrives, in a
// goroutine of its own. The main loop takes signals through its inbox, but
// a step stalled in the step runner waits on a condition alone (a retry,
// or a lift that abandons it), which only such a receiver can make true
// while it waits.
func receiveAlways[T any](ctx workflow.Context, signal string, apply func(workflow.Context, T)) {
	ch := workflow.GetSignalChannel(ctx, signal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var v T
			if !ch.Receive(ctx, &v) {
				return
			}
			apply(ctx, v)
		}
	})
}

// pendingRetries lists the steps with an operator retry not yet taken, in
// order, for a step to carry them into its next run.
func pendingRetries(retry map[string]bool) []string {
	var out []string
	//workflowcheck:ignore the steps are sorted below
	for step, ok := range retry {
		if ok {
			out = append(out, step)
		}
	}
	slices.Sort(out)
	return out
}
