package workflows

// Lifting a seal: the lift and retry a response relays as signals or an
// operator sends as updates, the steps a lift abandons, and the steps that
// reopen the compound.

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// listen takes lifts, retries and answers relayed by a parent response as
// signals; operators send the validated updates instead.
func (s *seal) listen(ctx workflow.Context) {
	if s.core {
		s.openInbox(ctx, s.staffing)
	}
	// A stalled step waits in the step runner for its retry, or for a lift
	// that abandons it, without looking at the inbox: these receivers wake
	// it. Seals recorded before the step core took their signals only here.
	receiveAlways(ctx, SignalLift, s.takeLift)
	receiveAlways(ctx, SignalRetry, func(_ workflow.Context, in RetryInput) { s.takeRetry(in) })
}

// openInbox puts the seal on the step core: its main loop takes lifts,
// retries and, with decisions, answers to a request for outside staff
// whenever it waits and before it continues as new.
func (s *seal) openInbox(ctx workflow.Context, decisions bool) {
	s.core = true
	s.inbox = &inbox{}
	receive(ctx, s.inbox, SignalLift, func(in LiftInput) { s.takeLift(ctx, in) })
	receive(ctx, s.inbox, SignalRetry, s.takeRetry)
	if decisions {
		receive(ctx, s.inbox, SignalDecide, s.decide)
	}
}

// takeLift takes a lift, relayed or sent as an update: the first one
// counts, and none once the seal is lifted.
func (s *seal) takeLift(ctx workflow.Context, in LiftInput) {
	if s.lift == nil && s.progress.Phase != PhaseLifted {
		s.lift = &in
		s.progress.LiftRequestedAt = workflow.Now(ctx)
	}
}

// takeRetry marks a stalled step to be tried again now.
func (s *seal) takeRetry(in RetryInput) { s.r.retry[in.Step] = true }

// validateLift accepts a lift, with a reason, only for a sealed seal not
// yet being lifted.
func (s *seal) validateLift(ctx workflow.Context, in LiftInput) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return errors.New("a lift needs a reason (--reason), for the event log")
	}
	switch s.progress.Phase {
	case PhaseSealed:
		if s.lift != nil {
			return fmt.Errorf("the seal of %s is already being lifted (requested by %s)", s.progress.Compound, s.lift.By)
		}
		return nil
	case PhaseSettingUp:
		return fmt.Errorf("the seal of %s is still being set up; lift it once it is sealed (see `muster status`)", s.progress.Compound)
	default:
		return fmt.Errorf("the seal of %s is %s, not sealed: nothing to lift", s.progress.Compound, s.progress.Phase)
	}
}

// onLift takes an operator's lift; the hold ends and the seal reopens.
func (s *seal) onLift(ctx workflow.Context, in LiftInput) (LiftAccepted, error) {
	if in.By == "" {
		in.By = "command-center"
	}
	// The validator let the update through only for a sealed seal not yet
	// being lifted, so the lift counts.
	s.takeLift(ctx, in)
	return LiftAccepted{At: s.progress.LiftRequestedAt}, nil
}

// validateRetry accepts a retry only for a stalled step.
func (s *seal) validateRetry(ctx workflow.Context, in RetryInput) error {
	if err := limitText("by", in.By); err != nil {
		return err
	}
	return s.r.validateRetry(in.Step)
}

// onRetry takes an operator's retry of a stalled step.
func (s *seal) onRetry(ctx workflow.Context, in RetryInput) error {
	s.takeRetry(in)
	return nil
}

// reopen carries out the lift: gates and roads reopen, staff go home and
// residents are told.
func (s *seal) reopen(ctx workflow.Context) (SealCompoundResult, error) {
	lift := *s.lift
	if s.progress.LiftRequestedAt.IsZero() {
		s.progress.LiftRequestedAt = workflow.Now(ctx)
	}
	s.progress.Phase = PhaseLifting
	s.progress.LiftedBy, s.progress.LiftReason = lift.By, lift.Reason
	s.r.mark(ctx, "hold", StateDone, "lift requested by "+lift.By+": "+lift.Reason)
	var res activities.ReopenResult
	if err := s.r.run(ctx, "reopen", "Reopen gates and roads, release staff",
		a.Reopen, activities.ReopenInput{Ref: s.ref(lift.By), AreaID: s.plan.AreaID, Reason: lift.Reason},
		&res, func() string {
			return fmt.Sprintf("%d checkpoints closed, %d staff released, %d roads reopened", res.Checkpoints, res.StaffReleased, res.RoadsReopened)
		}); err != nil {
		return SealCompoundResult{}, err
	}
	body := fmt.Sprintf("The seal of %s is lifted (incident %s): gates reopen and road closures end. Thank you for your patience.", s.plan.Name, s.in.Incident)
	lifted := activities.NoticeInput{Ref: s.ref(lift.By), Step: "notify-lifted", AreaID: s.plan.AreaID,
		Kind: "seal-lifted", Audience: "residents of " + s.plan.Name, Body: body}
	if workflow.GetVersion(ctx, noticeMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		lifted.Message, lifted.Args = MsgSealLifted, map[string]string{"compound": s.plan.Name, "incident": s.in.Incident}
	}
	if err := s.r.run(ctx, "notify-lifted", "Notify residents of the lift",
		a.PublishNotice, lifted,
		nil, func() string { return "lift notice in the outbox" }); err != nil {
		return SealCompoundResult{}, err
	}
	s.progress.Phase = PhaseLifted
	s.progress.LiftedAt = workflow.Now(ctx)
	s.progress.NextCheckAt = time.Time{}
	s.render(ctx)
	return SealCompoundResult{
		Incident: s.in.Incident, Compound: s.plan.Code, SealedAt: s.progress.SealedAt, LiftedAt: s.progress.LiftedAt,
		LiftedBy: lift.By, ComplianceRounds: s.progress.ComplianceRounds, FailedChecks: s.progress.FailedChecks,
		Checkpoints: res.Checkpoints, StaffReleased: res.StaffReleased, RoadsReopened: res.RoadsReopened,
	}, nil
}

// liftEnds says a stalled step is no longer needed once the seal is being
// lifted: the step runner then abandons it (errAbandoned). There is no point
// checking checkpoints that are about to close.
func (s *seal) liftEnds(step string) bool {
	if s.lift == nil {
		return false
	}
	// A stalled escalation or a stalled draw of staff for a gate left open
	// is no longer needed either once the seal is being lifted.
	held := s.staffing && s.progress.Phase == PhaseSealed &&
		(step == "escalate-understaffed" || step == "shift" || strings.HasPrefix(step, "checkpoint/"))
	return step == "compliance-check" || held
}
