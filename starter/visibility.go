package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/musterhq/muster/workflows"
)

// execution is one Muster workflow execution as visibility reports it.
type execution struct {
	ID        string    `json:"workflow_id"`
	RunID     string    `json:"run_id"`
	Status    string    `json:"status"`
	Incident  string    `json:"incident"`
	Runbook   string    `json:"runbook"`
	Step      string    `json:"step"`
	StepState string    `json:"step_state"`
	AreaPath  []string  `json:"area_path"`
	Level     int64     `json:"level"`
	StartedAt time.Time `json:"started_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

func (e execution) running() bool { return e.Status == "running" }

// listExecutions runs a visibility query, newest first.
func listExecutions(ctx context.Context, c client.Client, query string) ([]execution, error) {
	var out []execution
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 500})
		if err != nil {
			return nil, fmt.Errorf("list executions (%s): %w", query, err)
		}
		for _, ex := range resp.GetExecutions() {
			e := execution{
				ID:        ex.GetExecution().GetWorkflowId(),
				RunID:     ex.GetExecution().GetRunId(),
				Status:    statusName(ex.GetStatus()),
				StartedAt: ex.GetStartTime().AsTime(),
			}
			if ex.GetCloseTime() != nil {
				e.ClosedAt = ex.GetCloseTime().AsTime()
			}
			fields := ex.GetSearchAttributes().GetIndexedFields()
			decode(fields, workflows.SAIncident.GetName(), &e.Incident)
			decode(fields, workflows.SARunbook.GetName(), &e.Runbook)
			decode(fields, workflows.SAStep.GetName(), &e.Step)
			decode(fields, workflows.SAStepState.GetName(), &e.StepState)
			decode(fields, workflows.SAAreaPath.GetName(), &e.AreaPath)
			decode(fields, workflows.SALevel.GetName(), &e.Level)
			out = append(out, e)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

func decode(fields map[string]*commonpb.Payload, name string, into any) {
	if p, ok := fields[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, into)
	}
}

func statusName(s enums.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"), "_", "-"))
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "") + "'" }

// targets resolves a workflow ID or an incident into executions. An incident
// stands for all of its executions.
func targets(ctx context.Context, c client.Client, idOrIncident string) ([]execution, error) {
	if strings.HasPrefix(idOrIncident, "response/") {
		desc, err := c.DescribeWorkflowExecution(ctx, idOrIncident, "")
		if err != nil {
			return nil, fmt.Errorf("no execution %s: %v (list them with `starter list`)", idOrIncident, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		e := execution{ID: idOrIncident, RunID: info.GetExecution().GetRunId(), Status: statusName(info.GetStatus()), StartedAt: info.GetStartTime().AsTime()}
		fields := info.GetSearchAttributes().GetIndexedFields()
		decode(fields, workflows.SAIncident.GetName(), &e.Incident)
		decode(fields, workflows.SAStep.GetName(), &e.Step)
		decode(fields, workflows.SAStepState.GetName(), &e.StepState)
		return []execution{e}, nil
	}
	if err := workflows.ValidIncident(idOrIncident); err != nil {
		return nil, fmt.Errorf("%q is neither a workflow ID (response/...) nor an incident ID: %w", idOrIncident, err)
	}
	execs, err := listExecutions(ctx, c, workflows.SAIncident.GetName()+" = "+quote(idOrIncident))
	if err != nil {
		return nil, err
	}
	if len(execs) == 0 {
		return nil, errNoExecutions{incident: idOrIncident}
	}
	// Show seals in a stable order: by workflow ID.
	sortExecutions(execs)
	return execs, nil
}

type errNoExecutions struct{ incident string }

func (e errNoExecutions) Error() string {
	return fmt.Sprintf("no executions for incident %q: check the ID with `starter list`, or start one with `starter seal start --incident %s ...`", e.incident, e.incident)
}

func isNoExecutions(err error) bool {
	var e errNoExecutions
	return errors.As(err, &e)
}
