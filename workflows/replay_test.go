package workflows

import (
	"log/slog"
	"os"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySealCompound replays the history of a real seal (recorded from
// `muster demo`: set up, compliance rounds, lift, reopen). A change to the
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

// TestReplayResponse replays a real response (recorded from `muster demo`:
// the community-outbreak-level-1 runbook over Longbao, from the first
// notice to the lift). Its child workflow IDs derive from its own ID, so the
// replay runs under the recorded ID.
func TestReplayResponse(t *testing.T) {
	f, err := os.Open("testdata/response-level-1.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(Response, workflow.RegisterOptions{Name: ResponseName})
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := r.ReplayWorkflowHistoryWithOptions(logger, history, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: "response/xd-1128-184002", RunID: "replay"},
	}); err != nil {
		t.Fatalf("replay of testdata/response-level-1.json = %v", err)
	}
}

// TestReplayStaffSupply replays a real staff-supply step (recorded from
// `muster demo`: Longbao's sampling points and suppliers staffed,
// acknowledgements as updates, one reassignment, restock orders delivered).
func TestReplayStaffSupply(t *testing.T) {
	f, err := os.Open("testdata/staff-supply.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(StaffSupplyStep, workflow.RegisterOptions{Name: StaffSupplyStepName})
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := r.ReplayWorkflowHistoryWithOptions(logger, history, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: "response/xd-1128-supply/supply", RunID: "replay"},
	}); err != nil {
		t.Fatalf("replay of testdata/staff-supply.json = %v", err)
	}
}
