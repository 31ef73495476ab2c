package workflows

import (
	"log/slog"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySealCompound replays the history of a real seal (recorded from
// `starter demo`: set up, compliance rounds, lift, reopen). A change to the
// workflow that would break running seals fails here; gate such a change
// with workflow.GetVersion and record a new history beside this one.
func TestReplaySealCompound(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(SealCompound, workflow.RegisterOptions{Name: SealCompoundName})
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := r.ReplayWorkflowHistoryFromJSONFile(logger, "testdata/seal-compound.json"); err != nil {
		t.Fatalf("replay of testdata/seal-compound.json = %v", err)
	}
}
