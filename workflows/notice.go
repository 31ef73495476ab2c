package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
)

// The notice step kind: NoticeStep publishes a notice to the outbox.
const (
	KindNotice     = "notice"
	NoticeStepName = "NoticeStep"
)

var noticeKind = kind{
	spec: runbook.Kind{
		Name: KindNotice,
		Doc:  "Publish a notice to the outbox, e.g. \"schools postpone reopening\". {area} and {incident} in the body are replaced.",
		Params: map[string]runbook.Param{
			"audience": {Type: runbook.TypeString, Required: true, Doc: "who the notice is for, e.g. residents, all schools of the district"},
			"topic":    {Type: runbook.TypeString, Required: true, Doc: "what kind of notice, e.g. level-1-declared; one notice per topic, area and incident"},
			"body":     {Type: runbook.TypeString, Required: true, Doc: "the text"},
			"body_zh":  {Type: runbook.TypeString, Doc: "the text in Simplified Chinese, sent to zh-CN routes; the same placeholders as body"},
		},
		Placeholders: map[string][]string{"audience": {"area", "incident"}, "body": {"area", "incident"}, "body_zh": {"area", "incident"}},
		Translations: map[string]string{"body_zh": "body"},
	},
	workflow: NoticeStep, name: NoticeStepName,
}

// NoticeStep publishes a notice to the outbox. Its history grows only
// while the outbox fails: a stall of days continues as new.
func NoticeStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	sw := newStepWorkflow(ctx, in)
	sw.continueWhenStalledLong(NoticeStepName)
	var areaID int64
	if in.Area != nil {
		areaID = in.Area.ID
	}
	topic := paramString(in.Params, "topic")
	audience := fill(paramString(in.Params, "audience"), in)
	n := activities.NoticeInput{
		Ref: sw.ref("muster"), Step: in.Path, AreaID: areaID, Kind: topic, Audience: audience, Body: fill(paramString(in.Params, "body"), in),
	}
	// A notice written in Chinese too carries both texts, so the
	// dispatcher sends each route its locale's. Only the activity's input
	// changes, not the commands, so histories of notices without a
	// Chinese text (all there were before body_zh) replay unchanged.
	if zh := paramString(in.Params, "body_zh"); zh != "" {
		n.Message = domain.MessageRunbookText
		n.Args = map[string]string{"en": n.Body, "zh-CN": fill(zh, in)}
	}
	err := sw.r.run(ctx, "publish", "Notice: "+topic, a.PublishNotice, n, nil, func() string { return "notice to " + audience })
	return sw.finish(ctx, StepResult{Detail: "notice to " + audience}, err)
}
