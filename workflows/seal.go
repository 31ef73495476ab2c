package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// SealCompoundInput starts the seal of one compound.
type SealCompoundInput struct {
	Incident string
	// Compound is the compound's code or path.
	Compound string
	// Runbook and Level describe the response the seal belongs to.
	Runbook string
	Level   int
	// CheckEveryHours is the interval between checkpoint compliance rounds.
	CheckEveryHours float64
	// StaffPerCheckpoint is how many staff each checkpoint needs.
	StaffPerCheckpoint int
	// ShiftHours is how long checkpoint staff stand before others relieve
	// them; 0 keeps the first staff on until the lift.
	ShiftHours float64 `json:",omitempty"`
	// StallRetryMinutes is how long a stalled step waits before it is tried
	// again automatically.
	StallRetryMinutes float64
	// TimeScale speeds up every duration: 60 makes an hour last a minute.
	TimeScale float64
	// RequestedBy names who ordered the seal, for the event log.
	RequestedBy string
	// Retry overrides the retry policy of the seal's activities.
	Retry *runbook.RetryPolicy `json:",omitempty"`
	// StepPath is the seal's place in a response's runbook; the seal
	// reports its progress to the parent response under it.
	StepPath string `json:",omitempty"`
	// Resume carries the seal's state across continue-as-new.
	Resume *SealState `json:",omitempty"`
}

// Defaults for SealCompoundInput fields left empty.
const (
	DefaultSealRunbook        = "seal-compound"
	DefaultCheckEveryHours    = 2
	DefaultStaffPerCheckpoint = 2
	DefaultStallRetryMinutes  = 15
)

// WithDefaults fills in the fields left empty.
func (in SealCompoundInput) WithDefaults() SealCompoundInput {
	if in.Runbook == "" {
		in.Runbook = DefaultSealRunbook
	}
	if in.Level == 0 {
		in.Level = 1
	}
	if in.CheckEveryHours == 0 {
		in.CheckEveryHours = DefaultCheckEveryHours
	}
	if in.StaffPerCheckpoint == 0 {
		in.StaffPerCheckpoint = DefaultStaffPerCheckpoint
	}
	if in.StallRetryMinutes == 0 {
		in.StallRetryMinutes = DefaultStallRetryMinutes
	}
	if in.TimeScale == 0 {
		in.TimeScale = 1
	}
	if in.RequestedBy == "" {
		in.RequestedBy = "command-center"
	}
	return in
}

// Validate reports the first bad field, named as the CLI names it.
func (in SealCompoundInput) Validate() error {
	switch {
	case ValidIncident(in.Incident) != nil:
		return fmt.Errorf("--incident: %w", ValidIncident(in.Incident))
	case strings.TrimSpace(in.Compound) == "":
		return errors.New("--compound is required: a compound code such as longbao-1 (list them with `muster areas`)")
	case in.Level < 1 || in.Level > 4:
		return fmt.Errorf("--level %d: response levels run from 1 (highest) to 4", in.Level)
	case in.CheckEveryHours <= 0 || in.CheckEveryHours > 168:
		return fmt.Errorf("--check-every %gh: want more than 0 and at most 168 hours", in.CheckEveryHours)
	case in.StaffPerCheckpoint < 1 || in.StaffPerCheckpoint > 50:
		return fmt.Errorf("--staff-per-checkpoint %d: want 1 to 50", in.StaffPerCheckpoint)
	case in.ShiftHours < 0 || in.ShiftHours > 168:
		return fmt.Errorf("--shift %gh: want 0 (no relief) or more, up to 168 hours", in.ShiftHours)
	case in.StallRetryMinutes <= 0:
		return fmt.Errorf("stall retry interval %g minutes: want more than 0", in.StallRetryMinutes)
	case in.TimeScale < 1 || in.TimeScale > 100000:
		return fmt.Errorf("--time-scale %g: want 1 (real time) to 100000", in.TimeScale)
	}
	return nil
}

// SealCompoundResult is what a lifted seal reports.
type SealCompoundResult struct {
	Incident         string
	Compound         string
	SealedAt         time.Time
	LiftedAt         time.Time
	LiftedBy         string
	ComplianceRounds int
	FailedChecks     int
	Checkpoints      int
	StaffReleased    int
	RoadsReopened    int
}

// LiftInput asks to lift a seal.
type LiftInput struct {
	Reason string
	By     string
}

// LiftAccepted acknowledges a lift; the seal then reopens the compound.
type LiftAccepted struct {
	At time.Time
}

// RetryInput asks to retry a stalled step now.
type RetryInput struct {
	Step string
	By   string
}

// Seal phases.
const (
	PhaseSettingUp = "setting-up"
	PhaseSealed    = "sealed"
	PhaseLifting   = "lifting"
	PhaseLifted    = "lifted"
	PhaseFailed    = "failed"
)

// StepProgress is one step of the seal.
type StepProgress struct {
	Name       string
	Title      string
	State      string
	Detail     string
	StartedAt  time.Time `json:",omitempty"`
	FinishedAt time.Time `json:",omitempty"`
	// Stalls counts how often the step ran out of retries; LastError says why.
	Stalls    int    `json:",omitempty"`
	LastError string `json:",omitempty"`
}

// CheckpointProgress is one gate's checkpoint.
type CheckpointProgress struct {
	Gate      string
	Name      string
	Mode      string
	Staff     int
	Required  int
	Shortfall int
}

// SealProgress is the answer to the progress query.
type SealProgress struct {
	Incident     string
	Compound     string
	CompoundName string
	AreaPath     string
	Runbook      string
	Level        int
	Phase        string
	Residents    int
	Steps        []StepProgress
	Checkpoints  []CheckpointProgress
	// OpenGates counts the checkpoints short of their staff while the seal
	// holds.
	OpenGates int `json:",omitempty"`
	// Shortfalls counts the episodes in which checkpoints were short;
	// Escalated says the current one was escalated to the district command.
	Shortfalls int  `json:",omitempty"`
	Escalated  bool `json:",omitempty"`
	// Shift numbers the checkpoint shift on duty, from 1; ShiftEndsAt is
	// when the next relieves it. Both stay empty for seals without shifts.
	Shift       int       `json:",omitempty"`
	ShiftHours  float64   `json:",omitempty"`
	ShiftEndsAt time.Time `json:",omitempty"`
	// Request is the seal's request to the command center for staff from
	// outside the district, while it waits or until it is carried out;
	// Requested says the current shortfall already asked.
	Request     *OutsideRequest `json:",omitempty"`
	Requested   bool            `json:",omitempty"`
	RoadsClosed int
	Entrances   []string
	Zones       int
	// Compliance rounds so far and the last one's figures.
	ComplianceRounds int
	FailedChecks     int
	LastCompliance   activities.ComplianceResult
	NextCheckAt      time.Time `json:",omitempty"`
	CheckEveryHours  float64
	TimeScale        float64
	StartedAt        time.Time
	SealedAt         time.Time `json:",omitempty"`
	LiftRequestedAt  time.Time `json:",omitempty"`
	LiftedAt         time.Time `json:",omitempty"`
	LiftedBy         string    `json:",omitempty"`
	LiftReason       string    `json:",omitempty"`
}

// SealState is carried across continue-as-new.
type SealState struct {
	Plan     activities.PlanSealResult
	Progress SealProgress
	// Lift and Retries are the lift and operator retries received but not
	// yet carried out when the run ended; the next run carries them out.
	Lift    *LiftInput `json:",omitempty"`
	Retries []string   `json:",omitempty"`
}

type seal struct {
	in       SealCompoundInput
	id       string
	plan     activities.PlanSealResult
	progress SealProgress
	lift     *LiftInput
	r        *steps
	// step and state mirror the search attributes, to upsert only changes.
	saStep, saState string
	// core is set for seals on the step core (workflow version
	// "seal-step-core" ≥ 1): signals are taken in the main loop and a
	// continue-as-new is never reported as the seal's end.
	core  bool
	inbox *inbox
	// staffing is set for seals that hold only when staffed (workflow
	// version "seal-staffing" ≥ 1): a seal whose checkpoints are short reads
	// understaffed, is escalated, and draws staff before every round. Older
	// seals read awaiting-decision while they hold.
	staffing bool
	// outside is set while an approved request draws staff from outside
	// the district.
	outside bool
}

// SealCompound seals a compound: residents are notified, every gate gets a
// staffed checkpoint, roads close except the entrance, public areas are
// disinfected, and checkpoints are checked every few hours until a lift
// update; then the compound reopens and residents are told.
func SealCompound(ctx workflow.Context, in SealCompoundInput) (SealCompoundResult, error) {
	in = in.WithDefaults()
	if err := in.Validate(); err != nil {
		return SealCompoundResult{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrBadInput, nil)
	}
	s := &seal{in: in, id: workflow.GetInfo(ctx).WorkflowExecution.ID}
	s.r = &steps{
		incident: in.Incident, workflowID: s.id, timeScale: in.TimeScale,
		stallRetry: time.Duration(in.StallRetryMinutes * float64(time.Minute)), policy: in.Retry,
		list: &s.progress.Steps, retry: map[string]bool{}, abandon: s.liftEnds, changed: s.changed,
	}
	s.core = workflow.GetVersion(ctx, "seal-step-core", workflow.DefaultVersion, 1) >= 1
	s.staffing = workflow.GetVersion(ctx, "seal-staffing", workflow.DefaultVersion, 1) >= 1
	if err := s.setup(ctx); err != nil {
		return SealCompoundResult{}, err
	}
	s.listen(ctx)
	res, err := s.run(ctx)
	if s.core && workflow.IsContinueAsNewError(err) {
		// The next run goes on with the seal and reports how it ends.
		return res, err
	}
	if err != nil && ctx.Err() != nil {
		// Cancelled (a response skipped or aborted the step): whatever
		// was set up is taken down again, out of the cancellation's reach.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if s.plan.AreaID != 0 && s.progress.Phase != PhaseLifted {
			s.lift = &LiftInput{Reason: "the seal's step was cancelled", By: "response"}
			res, _ = s.reopen(dctx)
		}
		s.report(dctx, StepReport{State: StateCancelled, Final: true, Detail: "cancelled; gates and roads reopened"})
		return res, err
	}
	if err != nil {
		s.report(ctx, StepReport{State: StateFailed, Final: true, Detail: rootMessage(err)})
		return res, err
	}
	s.report(ctx, StepReport{State: StateDone, Final: true, Detail: fmt.Sprintf("lifted by %s: %s", res.LiftedBy, s.progress.LiftReason),
		Outputs: map[string]float64{"compliance_rounds": float64(res.ComplianceRounds), "failed_checks": float64(res.FailedChecks)}})
	return res, nil
}

// listen takes lifts and retries relayed by a parent response as signals;
// operators use the validated updates instead.
func (s *seal) listen(ctx workflow.Context) {
	if s.core {
		// The main loop takes lifts and retries whenever it waits and before
		// it continues as new; the receivers below also wake a stalled step
		// waiting in the step runner for its retry.
		s.inbox = &inbox{}
		receive(ctx, s.inbox, SignalLift, s.liftSignal)
		receive(ctx, s.inbox, SignalRetry, func(in RetryInput) { s.r.retry[in.Step] = true })
		if s.staffing {
			receive(ctx, s.inbox, SignalDecide, s.decide)
		}
	}
	lifts := workflow.GetSignalChannel(ctx, SignalLift)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var in LiftInput
			if !lifts.Receive(ctx, &in) {
				return
			}
			if s.lift == nil && s.progress.Phase != PhaseLifted {
				s.lift = &in
				s.progress.LiftRequestedAt = workflow.Now(ctx)
			}
		}
	})
	retries := workflow.GetSignalChannel(ctx, SignalRetry)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var in RetryInput
			if !retries.Receive(ctx, &in) {
				return
			}
			s.r.retry[in.Step] = true
		}
	})
}

// liftSignal takes a lift relayed by the response: the first one counts.
func (s *seal) liftSignal(in LiftInput) {
	if s.lift == nil && s.progress.Phase != PhaseLifted {
		s.lift = &in
	}
}

// report tells the parent response, if any, how the seal is doing.
func (s *seal) report(ctx workflow.Context, r StepReport) {
	if s.in.StepPath == "" {
		return
	}
	r.Path = s.in.StepPath
	reportToParent(ctx, r)
}

func (s *seal) setup(ctx workflow.Context) error {
	if r := s.in.Resume; r != nil {
		s.plan, s.progress, s.lift = r.Plan, r.Progress, r.Lift
		for _, step := range r.Retries {
			s.r.retry[step] = true
		}
		s.in.Resume = nil
	} else {
		s.progress = SealProgress{
			Incident: s.in.Incident, Compound: s.in.Compound, Runbook: s.in.Runbook, Level: s.in.Level,
			Phase: PhaseSettingUp, CheckEveryHours: s.in.CheckEveryHours, TimeScale: s.in.TimeScale,
			StartedAt: workflow.Now(ctx),
		}
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (SealProgress, error) {
		return s.progress, nil
	}, workflow.QueryHandlerOptions{Description: "The seal's steps, checkpoints and compliance rounds"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateLift, s.onLift, workflow.UpdateHandlerOptions{
		Validator:   s.validateLift,
		Description: "Lift the seal: reopen gates and roads, release staff, notify residents",
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateRetry, s.onRetry, workflow.UpdateHandlerOptions{
		Validator:   s.validateRetry,
		Description: "Retry a stalled step now instead of waiting for the automatic retry",
	})
}

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

func (s *seal) onLift(ctx workflow.Context, in LiftInput) (LiftAccepted, error) {
	if in.By == "" {
		in.By = "command-center"
	}
	s.lift = &in
	s.progress.LiftRequestedAt = workflow.Now(ctx)
	return LiftAccepted{At: s.progress.LiftRequestedAt}, nil
}

func (s *seal) validateRetry(ctx workflow.Context, in RetryInput) error {
	if err := limitText("by", in.By); err != nil {
		return err
	}
	return s.r.validateRetry(in.Step)
}

func (s *seal) onRetry(ctx workflow.Context, in RetryInput) error {
	s.r.retry[in.Step] = true
	return nil
}

func (s *seal) ref(actor string) activities.StepRef {
	return activities.StepRef{Incident: s.in.Incident, WorkflowID: s.id, Actor: actor}
}

func (s *seal) run(ctx workflow.Context) (SealCompoundResult, error) {
	logger := workflow.GetLogger(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SAIncident.ValueSet(s.in.Incident), SARunbook.ValueSet(s.in.Runbook), SALevel.ValueSet(int64(s.in.Level))); err != nil {
		return SealCompoundResult{}, err
	}
	if s.progress.Phase == PhaseSettingUp {
		if err := s.setUp(ctx); err != nil {
			s.progress.Phase = PhaseFailed
			s.render(ctx)
			return SealCompoundResult{}, err
		}
		logger.Info("Compound sealed", "compound", s.plan.Code, "checkpoints", len(s.progress.Checkpoints))
		staff := 0
		for _, c := range s.progress.Checkpoints {
			staff += c.Staff
		}
		s.report(ctx, StepReport{State: StateDone, Ready: true,
			Detail:  fmt.Sprintf("sealed: %d checkpoints, %d staff, %d roads closed", len(s.progress.Checkpoints), staff, s.progress.RoadsClosed),
			Outputs: map[string]float64{"checkpoints": float64(len(s.progress.Checkpoints)), "staff": float64(staff), "roads_closed": float64(s.progress.RoadsClosed)}})
	}
	if err := s.hold(ctx); err != nil {
		return SealCompoundResult{}, err
	}
	return s.reopen(ctx)
}

// setUp runs the steps that seal the compound.
func (s *seal) setUp(ctx workflow.Context) error {
	if err := s.step(ctx, "plan", "Read the compound's gates and roads",
		a.PlanSeal, activities.PlanSealInput{Ref: s.ref(s.in.RequestedBy), Compound: s.in.Compound, Runbook: s.in.Runbook, Level: s.in.Level},
		&s.plan, func() string {
			return fmt.Sprintf("%d gates, %d roads, %d residents", len(s.plan.Gates), len(s.plan.Roads), s.plan.Residents)
		}); err != nil {
		return err
	}
	s.progress.Compound, s.progress.CompoundName, s.progress.AreaPath, s.progress.Residents =
		s.plan.Code, s.plan.Name, s.plan.Path, s.plan.Residents
	if err := workflow.UpsertTypedSearchAttributes(ctx, SAAreaPath.ValueSet(store.PathPrefixes(s.plan.Path))); err != nil {
		return err
	}

	body := fmt.Sprintf("%s is sealed from now (incident %s). Enter and leave only through the checkpoint at %s%s. Stay at home except for testing; staff at the gates will help with deliveries and emergencies.",
		s.plan.Name, s.in.Incident, entranceName(s.plan.Gates), roadsClause(s.plan.Roads))
	announced := activities.NoticeInput{Ref: s.ref("muster"), Step: "notify-residents", AreaID: s.plan.AreaID,
		Kind: "seal-announced", Audience: "residents of " + s.plan.Name, Body: body}
	if workflow.GetVersion(ctx, noticeMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		announced.Message, announced.Args = sealAnnouncedMessage(s.in.Incident, s.plan)
	}
	if err := s.step(ctx, "notify-residents", "Notify residents of the seal",
		a.PublishNotice, announced,
		nil, func() string { return "seal notice in the outbox" }); err != nil {
		return err
	}

	if err := s.checkpoints(ctx); err != nil {
		return err
	}

	var roads activities.CloseRoadsResult
	if err := s.step(ctx, "close-roads", "Close roads except the entrance",
		a.CloseRoads, activities.CloseRoadsInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Roads: s.plan.Roads},
		&roads, func() string {
			d := fmt.Sprintf("%d closed", roads.Closed)
			if len(roads.Entrances) > 0 {
				d += ", entrance by " + strings.Join(roads.Entrances, ", ")
			}
			return d
		}); err != nil {
		return err
	}
	s.progress.RoadsClosed, s.progress.Entrances = roads.Closed, roads.Entrances

	var dis activities.DisinfectResult
	if err := s.step(ctx, "disinfect", "Disinfect public areas",
		a.Disinfect, activities.DisinfectInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Zones: s.plan.PublicAreas, Round: 1},
		&dis, func() string { return fmt.Sprintf("%d zones done", dis.Zones) }); err != nil {
		return err
	}
	s.progress.Zones = dis.Zones
	s.progress.Phase = PhaseSealed
	s.progress.SealedAt = workflow.Now(ctx)
	return nil
}

// checkpoints opens a checkpoint at every gate at once.
func (s *seal) checkpoints(ctx workflow.Context) error {
	s.progress.Checkpoints = make([]CheckpointProgress, len(s.plan.Gates))
	errs := make([]error, len(s.plan.Gates))
	wg := workflow.NewWaitGroup(ctx)
	for i, g := range s.plan.Gates {
		mode := "closed"
		if g.Entrance {
			mode = "entry"
		}
		s.progress.Checkpoints[i] = CheckpointProgress{Gate: g.Code, Name: g.Name, Mode: mode, Required: s.in.StaffPerCheckpoint}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			var res activities.CheckpointResult
			errs[i] = s.step(ctx, "checkpoint/"+g.Code, fmt.Sprintf("Checkpoint at %s (%s)", g.Name, mode),
				a.OpenCheckpoint, activities.CheckpointInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Gate: g, RequiredStaff: s.in.StaffPerCheckpoint},
				&res, func() string {
					d := fmt.Sprintf("%d of %d staff", len(res.Staff), s.in.StaffPerCheckpoint)
					if res.Shortfall > 0 {
						d += fmt.Sprintf(" (%d short)", res.Shortfall)
					}
					return d
				})
			s.progress.Checkpoints[i].Staff, s.progress.Checkpoints[i].Shortfall = len(res.Staff), res.Shortfall
		})
	}
	wg.Wait(ctx)
	// The first failure keeps its type, so bad input stays non-retryable.
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// hold checks the checkpoints every CheckEveryHours until the seal is lifted.
func (s *seal) hold(ctx workflow.Context) error {
	every := scaled(time.Duration(s.in.CheckEveryHours*float64(time.Hour)), s.in.TimeScale)
	roundsThisRun := 0
	for {
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
			s.mark(ctx, "hold", StateAwaitingDecision, fmt.Sprintf("sealed; next check %s", s.progress.NextCheckAt.Format("15:04")))
		}
		timerCtx, cancel := workflow.WithCancel(ctx)
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
			cancel()
			return err
		}
		if answered() && s.lift == nil {
			cancel()
			if err := s.answer(ctx); err != nil {
				if errors.Is(err, errLifted) {
					return nil
				}
				return err
			}
			continue
		}
		checkDue, shiftDue := timer.IsReady(), relieved()
		cancel()
		if s.lift != nil {
			return nil
		}
		if shiftDue {
			if err := s.relieve(ctx); err != nil {
				if errors.Is(err, errLifted) {
					return nil
				}
				return err
			}
			if s.lift != nil {
				return nil
			}
			if !checkDue {
				continue
			}
		}
		if s.staffing && s.progress.OpenGates > 0 {
			// Staff who came free since the last round fill the gates
			// left open, nearest first, before the round counts them.
			if err := s.restaff(ctx); err != nil {
				if errors.Is(err, errLifted) {
					return nil
				}
				return err
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
		round := s.progress.ComplianceRounds + 1
		var res activities.ComplianceResult
		if err := s.step(ctx, "compliance-check", fmt.Sprintf("Compliance round %d", round),
			a.CheckCompliance, activities.ComplianceInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Round: round},
			&res, func() string { return fmt.Sprintf("round %d: %d of %d passed", res.Round, res.Passed, res.Checked) }); err != nil {
			if errors.Is(err, errLifted) {
				return nil
			}
			return err
		}
		s.progress.ComplianceRounds = round
		s.progress.FailedChecks += res.Checked - res.Passed
		s.progress.LastCompliance = res
		roundsThisRun++
		long := s.lift == nil && (roundsThisRun >= maxRoundsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested())
		if long && !s.core && workflow.GetVersion(ctx, "seal-quiet-continue-as-new", workflow.DefaultVersion, 1) >= 1 {
			// A seal that started before the step core continues as new
			// through it too: its signals so far were taken by receivers,
			// the helper takes what is left.
			s.core = true
			s.inbox = &inbox{}
			receive(ctx, s.inbox, SignalLift, s.liftSignal)
			receive(ctx, s.inbox, SignalRetry, func(in RetryInput) { s.r.retry[in.Step] = true })
		}
		if long && s.core {
			err := continueAsNewWhenQuiet(ctx, canPlan{
				name: SealCompoundName, inbox: s.inbox,
				stop: func() bool { return s.lift != nil },
				next: func() any {
					next := s.in
					next.Resume = &SealState{Plan: s.plan, Progress: s.progress, Lift: s.lift, Retries: pendingRetries(s.r.retry)}
					return next
				},
			})
			if err != nil {
				return err
			}
			// A lift arrived with the decision: carry it out now.
			return nil
		}
		if long {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			next := s.in
			next.Resume = &SealState{Plan: s.plan, Progress: s.progress}
			return workflow.NewContinueAsNewError(ctx, SealCompoundName, next)
		}
	}
}

// await waits for cond; a seal on the step core takes its signals meanwhile.
func (s *seal) await(ctx workflow.Context, cond func() bool) error {
	if s.core {
		return s.inbox.await(ctx, cond)
	}
	return workflow.Await(ctx, cond)
}

// pendingRetries lists the steps with an operator retry not yet taken, in
// order.
func pendingRetries(retry map[string]bool) []string {
	var out []string
	//workflowcheck:ignore the steps are sorted below
	for step, ok := range retry {
		if ok {
			out = append(out, step)
		}
	}
	slices.Sort(out)
	return out
}

// maxRoundsPerRun bounds the history of one run: a round costs about a dozen
// events, so a seal of weeks continues as new long before the history is large.
const maxRoundsPerRun = 100

func (s *seal) reopen(ctx workflow.Context) (SealCompoundResult, error) {
	lift := *s.lift
	if s.progress.LiftRequestedAt.IsZero() {
		s.progress.LiftRequestedAt = workflow.Now(ctx)
	}
	s.progress.Phase = PhaseLifting
	s.progress.LiftedBy, s.progress.LiftReason = lift.By, lift.Reason
	s.mark(ctx, "hold", StateDone, "lift requested by "+lift.By+": "+lift.Reason)
	var res activities.ReopenResult
	if err := s.step(ctx, "reopen", "Reopen gates and roads, release staff",
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
	if err := s.step(ctx, "notify-lifted", "Notify residents of the lift",
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

// errLifted ends a stalled compliance round when the seal is lifted: there
// is no point checking checkpoints that are about to close.
var errLifted = errAbandoned

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

func (s *seal) step(ctx workflow.Context, name, title string, fn, arg, out any, detail func() string) error {
	return s.r.run(ctx, name, title, fn, arg, out, detail)
}

// mark records a step's state in the progress, the search attributes and
// the current details.
func (s *seal) mark(ctx workflow.Context, name, state, detail string) {
	s.r.mark(ctx, name, state, detail)
}

// sealReportsRetrying marks the seals that tell their response when a step
// is retrying and when it has recovered; seals recorded before it told only
// stalls.
const sealReportsRetrying = "seal-reports-retrying"

// changed mirrors a step's state into the search attributes and the
// current details, and tells the response of stalls, retries and
// recoveries.
func (s *seal) changed(ctx workflow.Context, name, state string) {
	if st := s.r.ref(name); state == StateStalled {
		s.report(ctx, StepReport{State: StateStalled, Inner: name, Stalls: st.Stalls, LastError: st.LastError, Detail: st.Detail})
	} else if state == StateRunning && st.Stalls > 0 {
		s.report(ctx, StepReport{State: StateRunning, Detail: name + " retrying after stall"})
	} else if (state == StateRetrying || state == StateRunning && s.r.recovering(name)) &&
		workflow.GetVersion(ctx, sealReportsRetrying, workflow.DefaultVersion, 1) >= 1 {
		// The response shows the seal retrying from the first failed
		// attempt, and holding (or running) again once it recovered.
		if state == StateRetrying {
			s.report(ctx, StepReport{State: StateRetrying, Inner: name, LastError: st.LastError, Detail: st.Detail})
		} else {
			s.report(ctx, StepReport{State: StateRunning, Detail: st.Detail})
		}
	}
	saStep, saState := name, state
	if strings.HasPrefix(name, "checkpoint/") {
		saStep = "checkpoints"
	}
	if q := s.progress.Request; q != nil && q.Decision == "" {
		// A request waiting on the command center is the seal's state
		// until it is answered.
		saStep, saState = "request-outside-staff", StateAwaitingDecision
	}
	if saStep != s.saStep || saState != s.saState {
		s.saStep, s.saState = saStep, saState
		if err := workflow.UpsertTypedSearchAttributes(ctx, SAStep.ValueSet(saStep), SAStepState.ValueSet(saState)); err != nil {
			workflow.GetLogger(ctx).Error("Upsert search attributes", "error", err)
		}
	}
	s.render(ctx)
}

// render writes the short markdown table the Web UI shows as current details.
func (s *seal) render(ctx workflow.Context) {
	p := s.progress
	var b strings.Builder
	name := p.CompoundName
	if name == "" {
		name = p.Compound
	}
	fmt.Fprintf(&b, "**Seal of %s** · incident %s · %s", name, p.Incident, p.Phase)
	if p.Residents > 0 {
		fmt.Fprintf(&b, " · %d residents", p.Residents)
	}
	if p.OpenGates > 0 && p.Phase == PhaseSealed {
		fmt.Fprintf(&b, " · **%d of %d gates unstaffed**", p.OpenGates, len(p.Checkpoints))
	}
	if p.Shift > 0 && p.Phase == PhaseSealed {
		fmt.Fprintf(&b, " · shift %d of %gh, relieved at %s", p.Shift, p.ShiftHours, p.ShiftEndsAt.Format("15:04"))
	}
	b.WriteString("\n\n| Step | State | Detail |\n|---|---|---|\n")
	gates, gatesDone, staff := 0, 0, 0
	for _, st := range p.Steps {
		if strings.HasPrefix(st.Name, "checkpoint/") {
			gates++
			if st.State == StateDone {
				gatesDone++
			}
			if st.State == StateStalled {
				fmt.Fprintf(&b, "| %s | **%s** | %s |\n", st.Name, st.State, st.Detail)
			}
			continue
		}
		if gates > 0 && st.Name == "close-roads" {
			b.WriteString(checkpointRow(p, gates, gatesDone, &staff))
			gates = -1
		}
		state := st.State
		if state == StateStalled {
			state = "**stalled**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", st.Name, state, st.Detail)
	}
	if gates > 0 {
		b.WriteString(checkpointRow(p, gates, gatesDone, &staff))
	}
	if p.ComplianceRounds > 0 {
		fmt.Fprintf(&b, "\nCompliance: %d rounds, last %d of %d passed", p.ComplianceRounds, p.LastCompliance.Passed, p.LastCompliance.Checked)
		if len(p.LastCompliance.Problems) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(p.LastCompliance.Problems, "; "))
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func checkpointRow(p SealProgress, gates, done int, staff *int) string {
	for _, c := range p.Checkpoints {
		*staff += c.Staff
	}
	state := StateRunning
	if done == gates {
		state = StateDone
	}
	return fmt.Sprintf("| checkpoints | %s | %d of %d gates, %d staff on duty |\n", state, done, gates, *staff)
}

func entranceName(gates []activities.GatePlan) string {
	for _, g := range gates {
		if g.Entrance {
			return g.Name
		}
	}
	if len(gates) > 0 {
		return gates[0].Name
	}
	return "the gate"
}

func roadsClause(roads []activities.RoadPlan) string {
	var closed, open []string
	for _, r := range roads {
		if r.Entrance {
			open = append(open, r.Name)
		} else {
			closed = append(closed, r.Name)
		}
	}
	var b strings.Builder
	if len(closed) > 0 {
		b.WriteString("; " + strings.Join(closed, " and ") + " are closed")
	}
	if len(open) > 0 {
		b.WriteString("; everyone comes and goes by " + strings.Join(open, " and "))
	}
	return b.String()
}
