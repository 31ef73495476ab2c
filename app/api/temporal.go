package api

// What the API asks of Temporal: visibility lists, progress queries and
// validated updates. These helpers are exported so that the CLI can share
// them instead of keeping its own copies.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/workflows"
)

// Execution is one Muster workflow execution as visibility reports it.
type Execution struct {
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

// ListExecutions runs a visibility query, newest first.
func ListExecutions(ctx context.Context, c client.Client, query string) ([]Execution, error) {
	out := []Execution{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 500})
		if err != nil {
			return nil, fmt.Errorf("list executions (%s): %w", query, err)
		}
		for _, ex := range resp.GetExecutions() {
			e := Execution{
				ID:        ex.GetExecution().GetWorkflowId(),
				RunID:     ex.GetExecution().GetRunId(),
				Status:    StatusName(ex.GetStatus()),
				StartedAt: ex.GetStartTime().AsTime(),
				AreaPath:  []string{},
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

// StatusName renders an execution status as the CLI and the API show it:
// running, completed, failed, continued-as-new, …
func StatusName(s enums.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"), "_", "-"))
}

// RefusedError is an update the workflow did not carry out: its validator
// refused it, or its handler failed. Msg is the workflow's own message.
type RefusedError struct {
	Update string
	Msg    string
}

func (e *RefusedError) Error() string { return e.Update + " refused: " + e.Msg }

// Update sends a validated update to a workflow and waits for its outcome,
// decoding the update's result into result unless it is nil. A refusal is
// a *RefusedError carrying the validator's words.
func Update(ctx context.Context, c client.Client, id, name string, arg, result any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageAccepted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return &RefusedError{Update: name, Msg: app.Message()}
	}
	if err != nil {
		return fmt.Errorf("%s of %s: %w", name, id, err)
	}
	return nil
}

// QueryResponse asks a response for its progress tree.
func QueryResponse(ctx context.Context, c client.Client, id string) (workflows.ResponseProgress, error) {
	var p workflows.ResponseProgress
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		return p, fmt.Errorf("progress of %s: %w", id, err)
	}
	if err := v.Get(&p); err != nil {
		return p, fmt.Errorf("progress of %s: %w", id, err)
	}
	return p, nil
}

// response finds an incident's response: 404 when there is none.
func (s *Server) response(ctx context.Context, incident string) (id string, status enums.WorkflowExecutionStatus, err error) {
	id = workflows.ResponseWorkflowID(incident)
	desc, err := s.tc.DescribeWorkflow(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return id, 0, notFound("incident", "no response for incident %q (list them with GET /v1/responses)", incident)
	}
	if err != nil {
		return id, 0, temporalError(ctx, fmt.Errorf("describe %s: %w", id, err))
	}
	if desc.WorkflowType.Name != workflows.ResponseName {
		return id, 0, notFound("incident", "no response for incident %q: %s is a %s", incident, id, desc.WorkflowType.Name)
	}
	return id, desc.Status, nil
}

// temporalError says what to do about a failed call to Temporal; a call
// that ran out of time is a 504 (no worker answered, most often).
func temporalError(ctx context.Context, err error) error {
	var dl *serviceerror.DeadlineExceeded
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &dl) {
		return &Error{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("%v (no answer in time: is a worker running on the task queue?)", err)}
	}
	return err
}
