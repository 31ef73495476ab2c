package workflows

import (
	"strings"
	"testing"
	"time"
)

// A seal that asks the command center a second time, for a new shortfall
// with the same wording, is a second question in the event log, not the
// first one written twice; the same question reported again is logged
// once.
func TestResponseLogsEachQuestionOnce(t *testing.T) {
	rt := newResponseTest(t, sealOnlyRunbook)
	rt.AnswerSignalsOfGoneChildren()
	var path string
	ask := "2 staff from outside the district for 1 open gates? Answer by 05:17, or the seal stays understaffed"
	report := func(d time.Duration, rep func() StepReport) {
		rt.At(d, func() { rt.env.SignalWorkflow(SignalStepReport, rep()) })
	}
	rt.At(50*time.Minute, func() {
		for p := range leafStates(rt.Progress()) {
			if strings.Contains(p, "longbao-jiayuan") {
				path = p
			}
		}
	})
	report(time.Hour, func() StepReport { return StepReport{Path: path, State: StateAwaitingDecision, Detail: ask} })
	report(time.Hour+time.Minute, func() StepReport { return StepReport{Path: path, State: StateAwaitingDecision, Detail: ask} })
	report(time.Hour+10*time.Minute, func() StepReport { return StepReport{Path: path, Ready: true, Detail: "sealed: 1 checkpoints"} })
	report(time.Hour+20*time.Minute, func() StepReport { return StepReport{Path: path, State: StateAwaitingDecision, Detail: ask} })
	rt.UpdateAt(3*time.Hour, UpdateLift, LiftInput{Reason: "all negative", By: "duty-officer"})
	rt.Run(testResponseInput())
	if path == "" {
		t.Fatal("no seal step of longbao-jiayuan in the response's progress")
	}
	var asked []string
	for _, e := range rt.Events() {
		if e.Step == path && e.State == StateAwaitingDecision {
			asked = append(asked, e.Reason)
		}
	}
	if len(asked) != 2 || asked[0] == asked[1] {
		t.Errorf("questions logged for %s = %q, want two, told apart", path, asked)
	}
}
