package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/runbook"
)

// The approval step kind: ApprovalStep waits for a person's decision.
const (
	KindApproval     = "approval"
	ApprovalStepName = "ApprovalStep"
)

var approvalKind = kind{
	spec: runbook.Kind{
		Name: KindApproval,
		Doc:  "Wait for a person's decision (approve or reject) with a timeout; when nobody decides in time the default applies.",
		Params: map[string]runbook.Param{
			"question":    {Type: runbook.TypeString, Required: true, Doc: "what is asked"},
			"question_zh": {Type: runbook.TypeString, Doc: "what is asked, in Simplified Chinese, shown to zh-CN responses and readers; the same placeholders as question"},
			"timeout":     {Type: runbook.TypeDuration, Required: true, Doc: "how long to wait for a decision"},
			"default":     {Type: runbook.TypeString, Required: true, OneOf: []string{"approve", "reject"}, Doc: "the decision when the timeout passes"},
			"approver":    {Type: runbook.TypeString, Default: "command-center", Doc: "who is asked"},
		},
		Outputs: []string{"approved"},
		// {evidence} lists the testing rounds run so far, each with its
		// coverage and positives, so that whoever approves sees them.
		Placeholders: map[string][]string{"question": {"area", "evidence", "incident"}, "question_zh": {"area", "evidence", "incident"}},
		Translations: map[string]string{"question_zh": "question"},
	},
	workflow: ApprovalStep, name: ApprovalStepName,
}

// ApprovalStep waits for a decision relayed by the response, or applies
// the default when the timeout passes. It never continues as new because
// its history cannot grow: it asks once and waits on one timer for one
// decision, however many days that takes (the response refuses a second
// decision, and a retry, since an approval runs no activity to stall).
// TestResponseApprovalCannotGrow holds it to that.
func ApprovalStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	sw := newStepWorkflow(ctx, in)
	timeout := paramDuration(in.Params, "timeout")
	def := paramString(in.Params, "default")
	sw.detail = fmt.Sprintf("%s — asking %s; %s after %s", paramString(in.Params, "question"), paramString(in.Params, "approver"), def, timeout)
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(StateAwaitingDecision))
	sw.render(ctx)
	reportToParent(ctx, StepReport{Path: in.Path, State: StateAwaitingDecision, Detail: sw.detail})

	var d Decision
	decided := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalDecide), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &d)
		decided = true
	})
	timerCtx, cancel := workflow.WithCancel(ctx)
	sel.AddFuture(workflow.NewTimerWithOptions(timerCtx, scaled(timeout, in.TimeScale), workflow.TimerOptions{Summary: "Decision timeout; then " + def}), func(workflow.Future) {})
	sel.Select(ctx)
	cancel()
	if err := ctx.Err(); err != nil {
		return sw.finish(ctx, StepResult{}, temporal.NewCanceledError())
	}
	res := StepResult{Outputs: map[string]float64{"approved": 0}}
	if !decided {
		d = Decision{Decision: def, By: "timeout", Reason: fmt.Sprintf("no decision within %s", timeout)}
	}
	if d.Decision == "approve" {
		res.Outputs["approved"] = 1
	}
	res.Detail = fmt.Sprintf("%s by %s", pastTense(d.Decision), d.By)
	if d.Reason != "" {
		res.Detail += ": " + d.Reason
	}
	return sw.finish(ctx, res, nil)
}

// pastTense turns a decision into what happened: approved, rejected.
func pastTense(decision string) string {
	return strings.TrimSuffix(decision, "e") + "ed"
}
