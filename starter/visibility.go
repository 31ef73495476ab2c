package main

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/workflows"
)

// execution is one Muster workflow execution as visibility reports it.
type execution = api.Execution

func running(e execution) bool { return e.Status == "running" }

// listExecutions runs a visibility query, newest first.
func listExecutions(ctx context.Context, c client.Client, query string) ([]execution, error) {
	return api.ListExecutions(ctx, c, query)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "") + "'" }

// targets resolves a workflow ID or an incident into executions. An incident
// stands for all of its executions.
func targets(ctx context.Context, c client.Client, idOrIncident string) ([]execution, error) {
	if strings.HasPrefix(idOrIncident, "response/") {
		desc, err := c.DescribeWorkflow(ctx, idOrIncident, "")
		if err != nil {
			return nil, fmt.Errorf("no execution %s: %v (list them with `muster list`)", idOrIncident, err)
		}
		e := execution{ID: idOrIncident, RunID: desc.WorkflowExecution.RunID, Status: api.StatusName(desc.Status), StartedAt: desc.WorkflowStartTime}
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
	return fmt.Sprintf("no executions for incident %q: check the ID with `muster list`, or start one with `muster seal start --incident %s ...`", e.incident, e.incident)
}
