package workflows

// Holding a seal: compliance rounds every few hours, shift changes and the
// answer to a request for outside staff, until a lift; a seal of weeks
// continues as new on the way.

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// maxRoundsPerRun bounds the history of one run: a round costs about a dozen
// events, so a seal of weeks continues as new long before the history is large.
const maxRoundsPerRun = 100

// hold checks the checkpoints every CheckEveryHours until the seal is lifted.
// A stalled step the lift abandons ends the hold too: the lift follows.
func (s *seal) hold(ctx workflow.Context) error {
	every := scaled(time.Duration(s.in.CheckEveryHours*float64(time.Hour)), s.in.TimeScale)
	roundsThisRun := 0
	for {
		due, err := s.wait(ctx, every)
		if err != nil {
			return err
		}
		if due.answered {
			if err := s.answer(ctx); err != nil {
				return unlessAbandoned(err)
			}
			continue
		}
		if s.lift != nil {
			return nil
		}
		if due.shift {
			if err := s.relieve(ctx); err != nil {
				return unlessAbandoned(err)
			}
			if s.lift != nil {
				return nil
			}
			if !due.check {
				continue
			}
		}
		if s.staffing && s.progress.OpenGates > 0 {
			// Staff who came free since the last round fill the gates
			// left open, nearest first, before the round counts them.
			if err := s.restaff(ctx); err != nil {
				return unlessAbandoned(err)
			}
			if s.lift != nil {
				return nil
			}
			if s.progress.OpenGates > 0 && !s.progress.Requested {
				// The pool and the volunteers are drawn; what is left is
				// asked of the command center.
				s.ask(ctx)
			}
		}
		if err := s.checkCompliance(ctx); err != nil {
			return unlessAbandoned(err)
		}
		roundsThisRun++
		if s.lift == nil && (roundsThisRun >= maxRoundsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			return s.continueAsNew(ctx)
		}
	}
}

// unlessAbandoned drops errAbandoned: the lift abandoned a stalled step
// and is carried out next.
func unlessAbandoned(err error) error {
	if errors.Is(err, errAbandoned) {
		return nil
	}
	return err
}

// holdDue says what ended a wait of the hold.
type holdDue struct {
	// answered: the request for outside staff was answered or lapsed,
	// with no lift waiting.
	answered bool
	// check: the next compliance round is due; shift: the shift on duty
	// ends.
	check, shift bool
}

// wait marks the hold step and waits for the next round, the end of the
// shift on duty, the answer to a request for outside staff or a lift,
// whichever comes first. The timers left are cancelled.
func (s *seal) wait(ctx workflow.Context, every time.Duration) (holdDue, error) {
	now := workflow.Now(ctx)
	// A round keeps its time when a shift changes before it.
	if !s.shifts() || !s.progress.NextCheckAt.After(now) {
		s.progress.NextCheckAt = now.Add(every)
	}
	if s.shifts() && s.progress.Shift == 0 {
		s.progress.Shift, s.progress.ShiftHours = 1, s.in.ShiftHours
		s.progress.ShiftEndsAt = s.progress.SealedAt.Add(s.shiftLength())
	}
	if hold := s.r.ref("hold"); hold.Title == "" {
		hold.Title, hold.StartedAt = "Hold the seal, check checkpoints", workflow.Now(ctx)
	}
	if s.staffing {
		s.holdState(ctx)
	} else {
		s.r.mark(ctx, "hold", StateAwaitingDecision, fmt.Sprintf("sealed; next check %s", s.progress.NextCheckAt.Format("15:04")))
	}
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(timerCtx, s.progress.NextCheckAt.Sub(now), workflow.TimerOptions{Summary: "Next checkpoint compliance round"})
	var relief workflow.Future
	if s.shifts() {
		relief = workflow.NewTimerWithOptions(timerCtx, s.progress.ShiftEndsAt.Sub(now),
			workflow.TimerOptions{Summary: fmt.Sprintf("End of checkpoint shift %d", s.progress.Shift)})
	}
	relieved := func() bool { return relief != nil && relief.IsReady() }
	var deadline workflow.Future
	if q := s.progress.Request; q != nil && q.Decision == "" {
		deadline = workflow.NewTimerWithOptions(timerCtx, q.Deadline.Sub(now), workflow.TimerOptions{Summary: "Deadline of the request for outside staff"})
	}
	answered := func() bool {
		q := s.progress.Request
		return q != nil && (q.Decision != "" || (deadline != nil && deadline.IsReady()))
	}
	if err := s.await(ctx, func() bool { return s.lift != nil || timer.IsReady() || relieved() || answered() }); err != nil {
		return holdDue{}, err
	}
	return holdDue{answered: answered() && s.lift == nil, check: timer.IsReady(), shift: relieved()}, nil
}

// checkCompliance runs the next compliance round.
func (s *seal) checkCompliance(ctx workflow.Context) error {
	round := s.progress.ComplianceRounds + 1
	var res activities.ComplianceResult
	if err := s.r.run(ctx, "compliance-check", fmt.Sprintf("Compliance round %d", round),
		a.CheckCompliance, activities.ComplianceInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Round: round},
		&res, func() string { return fmt.Sprintf("round %d: %d of %d passed", res.Round, res.Passed, res.Checked) }); err != nil {
		return err
	}
	s.progress.ComplianceRounds = round
	s.progress.FailedChecks += res.Checked - res.Passed
	s.progress.LastCompliance = res
	return nil
}

// continueAsNew hands a long seal to its next run. It returns nil when a
// lift arrives meanwhile: the lift is carried out at once instead.
func (s *seal) continueAsNew(ctx workflow.Context) error {
	if !s.core && workflow.GetVersion(ctx, "seal-quiet-continue-as-new", workflow.DefaultVersion, 1) >= 1 {
		// A seal that started before the step core continues as new
		// through it too: its signals so far were taken by receivers,
		// the inbox takes what is left.
		s.openInbox(ctx, false)
	}
	if !s.core {
		// Recorded before the step core: such runs continued as new without
		// draining their signals, and their histories replay only so.
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
		next := s.in
		next.Resume = &SealState{Plan: s.plan, Progress: s.progress}
		return workflow.NewContinueAsNewError(ctx, SealCompoundName, next)
	}
	return continueAsNewWhenQuiet(ctx, canPlan{
		name: SealCompoundName, inbox: s.inbox,
		stop: func() bool { return s.lift != nil },
		next: func() any {
			next := s.in
			next.Resume = &SealState{Plan: s.plan, Progress: s.progress, Lift: s.lift, Retries: pendingRetries(s.r.retry)}
			return next
		},
	})
}

// await waits for cond; a seal on the step core takes its signals meanwhile.
func (s *seal) await(ctx workflow.Context, cond func() bool) error {
	if s.core {
		return s.inbox.await(ctx, cond)
	}
	return workflow.Await(ctx, cond)
}
