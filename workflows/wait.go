package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/runbook"
)

// The wait step kind: WaitStep waits for a period.
const (
	KindWait     = "wait"
	WaitStepName = "WaitStep"
)

var waitKind = kind{
	spec: runbook.Kind{
		Name: KindWait,
		Doc:  "Wait for a period, e.g. an observation period before the next round.",
		Params: map[string]runbook.Param{
			"duration": {Type: runbook.TypeDuration, Required: true, Doc: "how long to wait"},
		},
	},
	workflow: WaitStep, name: WaitStepName,
}

// WaitStep waits for a period, e.g. an observation period.
func WaitStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	sw := newStepWorkflow(ctx, in)
	d := paramDuration(in.Params, "duration")
	sw.detail = fmt.Sprintf("waiting %s until %s", d, workflow.Now(ctx).Add(scaled(d, in.TimeScale)).Format("15:04"))
	sw.render(ctx)
	err := workflow.NewTimerWithOptions(ctx, scaled(d, in.TimeScale), workflow.TimerOptions{Summary: "Wait " + d.String()}).Get(ctx, nil)
	return sw.finish(ctx, StepResult{Detail: "waited " + d.String()}, err)
}
