package workflows

import "go.temporal.io/sdk/workflow"

// longHistory says a long-running step should continue as new: the server
// suggests it, or the run's history, as the server reports it or as the
// step estimates it (events), has passed limit (0 means
// DefaultHistoryLimit). The estimate keeps the decision independent of how
// the server reports history length.
func longHistory(ctx workflow.Context, limit, events int) bool {
	if limit == 0 {
		limit = DefaultHistoryLimit
	}
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit || events > limit
}
