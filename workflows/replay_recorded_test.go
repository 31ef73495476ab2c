package workflows

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// recordedHistory is an entry of an index.json that `make record-histories`
// writes beside the histories it records.
type recordedHistory struct {
	File       string `json:"file"`
	Type       string `json:"type"`
	WorkflowID string `json:"workflow_id"`
}

// newReplayer registers every workflow type the worker runs.
func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	for name, fn := range map[string]any{
		ResponseName:            Response,
		SealCompoundName:        SealCompound,
		NoticeStepName:          NoticeStep,
		ApprovalStepName:        ApprovalStep,
		WaitStepName:            WaitStep,
		ComplianceSweepStepName: ComplianceSweepStep,
		MassTestingStepName:     MassTestingStep,
		StaffSupplyStepName:     StaffSupplyStep,
		InspectionStepName:      InspectionFollowUpStep,
		FindingFollowUpName:     FindingFollowUp,
		InspectionTickName:      InspectionTick,
	} {
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
	return r
}

// TestReplayRecorded replays every history `make record-histories` recorded
// (workflows/testdata/histories/<commit>/), one per workflow type and
// recording. Each folder holds histories recorded on that commit, so a
// change to a workflow's commands that is not gated with
// workflow.GetVersion fails here on the histories recorded before it.
func TestReplayRecorded(t *testing.T) {
	indexes, err := filepath.Glob("testdata/histories/*/index.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(indexes) == 0 {
		t.Fatal("no recorded histories under testdata/histories (make record-histories)")
	}
	types := map[string]bool{}
	for _, index := range indexes {
		b, err := os.ReadFile(index)
		if err != nil {
			t.Fatal(err)
		}
		var entries []recordedHistory
		if err := json.Unmarshal(b, &entries); err != nil {
			t.Fatalf("%s: %v", index, err)
		}
		for _, e := range entries {
			path := filepath.Join(filepath.Dir(index), e.File)
			types[e.Type] = true
			t.Run(filepath.Base(filepath.Dir(index))+"/"+e.Type, func(t *testing.T) {
				t.Parallel()
				replayFile(t, path, e.WorkflowID)
			})
		}
	}
	// Every registered type has a history; a new type needs a recording.
	for _, name := range []string{ResponseName, SealCompoundName, NoticeStepName, ApprovalStepName, WaitStepName,
		ComplianceSweepStepName, MassTestingStepName, StaffSupplyStepName, InspectionStepName, FindingFollowUpName, InspectionTickName} {
		if !types[name] {
			t.Errorf("no recorded history of %s (make record-histories)", name)
		}
	}
}

// replayFile replays one history under the workflow ID it ran with: child
// workflow IDs derive from it.
func replayFile(t *testing.T, path, workflowID string) {
	t.Helper()
	if err := replayErr(t, path, workflowID); err != nil {
		t.Fatalf("replay of %s = %v", path, err)
	}
}

// replayErr replays one history and returns the replay's error.
func replayErr(t *testing.T, path, workflowID string) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	return newReplayer().ReplayWorkflowHistoryWithOptions(logger, history, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: workflowID, RunID: "replay"},
	})
}
