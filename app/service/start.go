package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// ErrEnded marks a trigger for a workflow ID whose execution has ended: an
// incident's response, or a compound's seal within it, runs once.
var ErrEnded = errors.New("already ended")

// StartSeal starts a seal, or finds the running one for the same incident
// and compound.
func StartSeal(ctx context.Context, c client.Client, taskQueue string, in workflows.SealCompoundInput, ar store.Area) (id string, existing bool, err error) {
	id = workflows.SealWorkflowID(in.Incident, ar.Code)
	opts := client.StartWorkflowOptions{
		ID:            id,
		TaskQueue:     taskQueue,
		StaticSummary: fmt.Sprintf("Seal %s (%s) · incident %s · level %d", ar.Name, ar.Code, in.Incident, max(in.Level, 1)),
		StaticDetails: fmt.Sprintf("Checkpoint at every gate, roads closed except the entrance, public areas disinfected, compliance checks every %gh (time scale %g). Lift with `muster lift %s --reason ...`.",
			in.WithDefaults().CheckEveryHours, in.WithDefaults().TimeScale, id),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAIncident.ValueSet(in.Incident),
			workflows.SAAreaPath.ValueSet(domain.PathPrefixes(ar.Path)),
			workflows.SARunbook.ValueSet(workflows.DefaultSealRunbook),
			workflows.SAStep.ValueSet("plan"),
			workflows.SAStepState.ValueSet(workflows.StatePending),
			workflows.SALevel.ValueSet(int64(max(in.Level, 1))),
		),
	}
	existing, err = startOnce(ctx, c, opts, workflows.SealCompoundName, in)
	if errors.Is(err, ErrEnded) {
		return id, false, fmt.Errorf("%s has %w; a compound is sealed once per incident: use a new incident ID", id, err)
	}
	return id, existing, err
}

// StartResponse starts an incident's response, or finds the running one:
// a second trigger for the same incident never starts a second response.
func StartResponse(ctx context.Context, c client.Client, taskQueue string, in workflows.ResponseInput, title string) (id string, existing bool, err error) {
	id = workflows.ResponseWorkflowID(in.Incident)
	level := in.Level
	if level == 0 {
		level = 1
	}
	opts := client.StartWorkflowOptions{
		ID:            id,
		TaskQueue:     taskQueue,
		StaticSummary: fmt.Sprintf("Response %s · %s · %s", in.Incident, title, in.Area),
		StaticDetails: fmt.Sprintf("Runbook %s over %s, requested by %s. Steps run as child workflows under %s/…; `muster status %s` shows the tree.", in.Runbook, in.Area, in.RequestedBy, id, in.Incident),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAIncident.ValueSet(in.Incident),
			workflows.SARunbook.ValueSet(in.Runbook),
			workflows.SAStep.ValueSet("response"),
			workflows.SAStepState.ValueSet(workflows.StatePending),
			workflows.SALevel.ValueSet(int64(level)),
		),
	}
	existing, err = startOnce(ctx, c, opts, workflows.ResponseName, in)
	if errors.Is(err, ErrEnded) {
		return id, false, fmt.Errorf("the response to incident %s has %w; open a new incident ID", in.Incident, err)
	}
	return id, existing, err
}

// startOnce starts a workflow under an ID that runs once and says whether
// it was running already. It starts first and asks afterwards, so that of
// two triggers at the same moment exactly one is told it started the
// workflow: the server accepts one start and rejects the other, whose
// caller then finds the execution running (existing) or ended (ErrEnded).
func startOnce(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, name string, in any) (existing bool, err error) {
	opts.WorkflowIDReusePolicy = enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	opts.WorkflowIDConflictPolicy = enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	_, err = c.ExecuteWorkflow(ctx, opts, name, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.As(err, &already) {
		if err != nil {
			return false, fmt.Errorf("start %s: %w", opts.ID, err)
		}
		return false, nil
	}
	desc, err := c.DescribeWorkflow(ctx, opts.ID, "")
	if err != nil {
		return false, fmt.Errorf("describe %s: %w", opts.ID, err)
	}
	if desc.Status == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return true, nil
	}
	return false, fmt.Errorf("%w (%s)", ErrEnded, strings.ToLower(strings.TrimPrefix(desc.Status.String(), "WORKFLOW_EXECUTION_STATUS_")))
}
