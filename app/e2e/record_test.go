package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// recordEnv names the folder where end-to-end tests write the histories of
// the workflows they ran (`make record-histories`). Unset, nothing is
// recorded.
const recordEnv = "MUSTER_RECORD_HISTORIES"

// RecordedHistory is one entry of the index the replay test reads: the
// history file, its workflow type, and the workflow ID it ran under (child
// workflow IDs derive from it, so a replay runs under the same ID).
type RecordedHistory struct {
	File       string `json:"file"`
	Type       string `json:"type"`
	WorkflowID string `json:"workflow_id"`
	Events     int    `json:"events"`
	Status     string `json:"status"`
}

// recordMu serialises writes to the index.
var recordMu sync.Mutex

// recordOnCleanup makes the test write, when it ends and before its dev
// server stops, one history per workflow type it ran.
func recordOnCleanup(t *testing.T, c client.Client) {
	dir := os.Getenv(recordEnv)
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := recordHistories(ctx, c, dir); err != nil {
			t.Errorf("record histories into %s: %v", dir, err)
		}
	})
}

// recordHistories writes, for each workflow type on the server not yet in
// the folder's index.json, the longest history among its closed runs (or,
// when none closed, among its running ones) as <type>.json, and adds it to
// the index. The first test that ran a type records it, so the tests
// `make record-histories` runs, one after another, give one history per type.
func recordHistories(ctx context.Context, c client.Client, dir string) error {
	type run struct {
		id, runID, status string
		events            int64
		closed            bool
	}
	best := map[string]run{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000, NextPageToken: token})
		if err != nil {
			return err
		}
		for _, e := range resp.GetExecutions() {
			status := e.GetStatus()
			if status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING && status != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED &&
				status != enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				continue
			}
			r := run{id: e.GetExecution().GetWorkflowId(), runID: e.GetExecution().GetRunId(), status: status.String(),
				events: e.GetHistoryLength(), closed: status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING}
			typ := e.GetType().GetName()
			old, ok := best[typ]
			if !ok || r.closed && !old.closed || r.closed == old.closed && r.events > old.events {
				best[typ] = r
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	types := make([]string, 0, len(best))
	for typ := range best {
		types = append(types, typ)
	}
	sort.Strings(types)

	recordMu.Lock()
	defer recordMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	index := filepath.Join(dir, "index.json")
	var entries []RecordedHistory
	if b, err := os.ReadFile(index); err == nil {
		if err := json.Unmarshal(b, &entries); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Type] = true
	}
	for _, typ := range types {
		if have[typ] {
			continue
		}
		r := best[typ]
		h := &historypb.History{}
		iter := c.GetWorkflowHistory(ctx, r.id, r.runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				return err
			}
			h.Events = append(h.Events, e)
		}
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
		if err != nil {
			return err
		}
		file := typ + ".json"
		if err := os.WriteFile(filepath.Join(dir, file), append(b, '\n'), 0o644); err != nil {
			return err
		}
		entries = append(entries, RecordedHistory{File: file, Type: typ, WorkflowID: r.id, Events: len(h.Events), Status: r.status})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].File < entries[j].File })
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(index, append(b, '\n'), 0o644)
}
