package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// The compliance-sweep step kind: ComplianceSweepStep checks every
// checkpoint of the response's seals.
const (
	KindComplianceSweep     = "compliance-sweep"
	ComplianceSweepStepName = "ComplianceSweepStep"
)

var sweepKind = kind{
	spec: runbook.Kind{
		Name:    KindComplianceSweep,
		Doc:     "Check every checkpoint of the response's seals (staff on duty, roads still closed), as leaders going gate to gate.",
		Params:  map[string]runbook.Param{},
		Outputs: []string{"checked", "failed_checks"},
	},
	workflow: ComplianceSweepStep, name: ComplianceSweepStepName,
}

// ComplianceSweepStep checks every checkpoint of the response's seals in
// one activity, however many there are; its history grows only while that
// activity fails: a stall of days continues as new.
func ComplianceSweepStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	sw := newStepWorkflow(ctx, in)
	sw.continueWhenStalledLong(ComplianceSweepStepName)
	var res activities.SweepResult
	err := sw.r.run(ctx, "sweep", "Check every checkpoint of the response", a.ComplianceSweep,
		activities.SweepInput{Ref: sw.ref("muster"), Sweep: in.Path}, &res,
		func() string { return fmt.Sprintf("%d of %d checkpoints passed", res.Checked-res.Failed, res.Checked) })
	out := StepResult{
		Outputs: map[string]float64{"checked": float64(res.Checked), "failed_checks": float64(res.Failed)},
		Detail:  fmt.Sprintf("%d of %d checkpoints passed", res.Checked-res.Failed, res.Checked),
	}
	if len(res.Problems) > 0 {
		out.Detail += ": " + strings.Join(res.Problems, "; ")
	}
	return sw.finish(ctx, out, err)
}
