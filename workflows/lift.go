package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// The lift step kind: the response lifts the seals in the step's scope
// itself (liftStep), so the kind has no workflow.
const KindLift = "lift"

var liftKind = kind{
	spec: runbook.Kind{
		Name: KindLift,
		Doc:  "Lift the response's seals in the step's scope (all of them, or the area of the enclosing for_each): checkpoints close, staff are released, roads reopen, residents are told.",
		Params: map[string]runbook.Param{
			"reason": {Type: runbook.TypeString, Required: true, Doc: "why, for the event log"},
		},
		Outputs: []string{"lifted"},
	},
	local: true,
}

// liftStep carries out a lift step: it lifts the seals in its scope, the
// area of an enclosing for_each or the whole response.
func (r *response) liftStep(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	under := ""
	if area != nil {
		under = area.Path
	}
	targets := r.held(under)
	lift := LiftInput{Reason: paramString(st.Params, "reason"), By: "runbook " + r.p.Runbook}
	r.liftSteps(ctx, targets, lift)
	n.Outputs = map[string]float64{"lifted": float64(len(targets))}
	r.finish(ctx, n, StateDone, fmt.Sprintf("lifted %d seals", len(targets)))
	return ctx.Err()
}
