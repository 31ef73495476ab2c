package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// The seal step kind: SealCompound seals a compound and holds until lifted.
const (
	KindSeal         = "seal"
	SealCompoundName = "SealCompound"
)

var sealKind = kind{
	spec: runbook.Kind{
		Name: KindSeal,
		Doc:  "Seal a compound (SealCompound): notify residents, a staffed checkpoint at every gate, roads closed except the entrance, public areas disinfected, compliance checks until lifted. The step is done once the compound is sealed; the seal holds until a lift step or the response's lift.",
		Params: map[string]runbook.Param{
			"check_every":          {Type: runbook.TypeDuration, Default: "2h", Doc: "time between checkpoint compliance rounds"},
			"staff_per_checkpoint": {Type: runbook.TypeInt, Default: 2, Doc: "staff needed at each checkpoint on every shift"},
			"shift":                {Type: runbook.TypeDuration, Default: "8h", Doc: "how long checkpoint staff stand before others relieve them: 8h makes 3 shifts a day, so a gate needs 3 × staff_per_checkpoint people a day"},
			"answer_within":        {Type: runbook.TypeDuration, Default: "2h", Doc: "how long a request for staff from outside the district waits for the command center's answer before it lapses and the seal stays understaffed"},
		},
		Outputs: []string{"checkpoints", "staff", "roads_closed", "open_gates"},
		PerArea: []string{"compound"},
	},
	workflow: SealCompound, name: SealCompoundName, input: sealInput, holds: true,
}

// sealInput turns a seal step's input into SealCompound's: SealCompound is
// also started on its own (app/service), with an input of its own.
func sealInput(in StepInput) any {
	out := SealCompoundInput{
		Incident: in.Incident, Runbook: in.Runbook, Level: in.Level, TimeScale: in.TimeScale,
		CheckEveryHours:    paramDuration(in.Params, "check_every").Hours(),
		StaffPerCheckpoint: paramInt(in.Params, "staff_per_checkpoint"),
		ShiftHours:         paramDuration(in.Params, "shift").Hours(),
		AnswerWithinHours:  paramDuration(in.Params, "answer_within").Hours(),
		RequestedBy:        "runbook " + in.Runbook, Retry: in.Retry, StepPath: in.Path,
	}
	if in.Area != nil {
		out.Compound = in.Area.Code
	}
	if in.Retry != nil && in.Retry.StallRetry > 0 {
		out.StallRetryMinutes = in.Retry.StallRetry.D().Minutes()
	}
	return out
}

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
	// AnswerWithinHours is how long a request for outside staff waits for
	// an answer; 0 is OutsideStaffWithin.
	AnswerWithinHours float64 `json:",omitempty"`
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
		return errors.New("--compound is required: a compound's code (list them with `muster areas --level compound`)")
	case in.Level < 1 || in.Level > 4:
		return fmt.Errorf("--level %d: response levels run from 1 (highest) to 4", in.Level)
	case in.CheckEveryHours <= 0 || in.CheckEveryHours > 168:
		return fmt.Errorf("--check-every %gh: want more than 0 and at most 168 hours", in.CheckEveryHours)
	case in.StaffPerCheckpoint < 1 || in.StaffPerCheckpoint > 50:
		return fmt.Errorf("--staff-per-checkpoint %d: want 1 to 50", in.StaffPerCheckpoint)
	case in.ShiftHours < 0 || in.ShiftHours > 168:
		return fmt.Errorf("--shift %gh: want 0 (no relief) or more, up to 168 hours", in.ShiftHours)
	case in.AnswerWithinHours < 0 || in.AnswerWithinHours > 168:
		return fmt.Errorf("answer_within %gh: want more than 0 and at most 168 hours", in.AnswerWithinHours)
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

// StepProgress is one activity step of a step workflow (a seal's plan,
// checkpoints and compliance rounds; a testing round's checks): its state,
// as the step runner keeps it.
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

// seal is the state of one SealCompound run.
type seal struct {
	in       SealCompoundInput
	id       string
	plan     activities.PlanSealResult
	progress SealProgress
	lift     *LiftInput
	r        *steps
	// saStep and saState mirror the search attributes, to upsert only
	// changes.
	saStep, saState string
	// core is set for seals on the step core (workflow version
	// "seal-step-core" ≥ 1, or a seal recorded before it that continues
	// as new): signals are taken in the main loop through inbox and a
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
	// quick is set for seals on the quick set-up (workflow version
	// "seal-quick-setup" ≥ 1, seal_quick.go): their search attributes wait
	// in saPending for one upsert a workflow task, and saChanges counts
	// the changes gathered.
	quick     bool
	saPending map[string]pendingSA
	saChanges int
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
		list: &s.progress.Steps, retry: map[string]bool{}, abandon: s.liftEnds, changed: s.changed, root: ctx,
	}
	if s.quick = workflow.GetVersion(ctx, sealQuickChange, workflow.DefaultVersion, 1) >= 1; s.quick {
		// The quick set-up came after these changes and stands for them.
		s.core, s.staffing, s.r.retrying = true, true, true
		s.flushWhenQuiet(ctx)
	} else {
		s.core = workflow.GetVersion(ctx, "seal-step-core", workflow.DefaultVersion, 1) >= 1
		s.staffing = workflow.GetVersion(ctx, "seal-staffing", workflow.DefaultVersion, 1) >= 1
	}
	if err := s.setup(ctx); err != nil {
		return SealCompoundResult{}, err
	}
	s.listen(ctx)
	res, err := s.run(ctx)
	return s.finish(ctx, res, err)
}

// finish tells the response how the seal ended; a cancelled seal first
// takes down whatever was set up. Why this is not the step core's
// stepWorkflow.finish is said in seal_core.go.
func (s *seal) finish(ctx workflow.Context, res SealCompoundResult, err error) (SealCompoundResult, error) {
	if s.quick {
		// What the last workflow task changed shows before the seal ends.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		defer s.flushSA(dctx)
	}
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
		reportToParent(dctx, StepReport{Path: s.in.StepPath, State: StateCancelled, Final: true, Detail: "cancelled; gates and roads reopened"})
		return res, err
	}
	if err != nil {
		reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateFailed, Final: true, Detail: rootMessage(err)})
		return res, err
	}
	reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateDone, Final: true, Detail: fmt.Sprintf("lifted by %s: %s", res.LiftedBy, s.progress.LiftReason),
		Outputs: map[string]float64{"compliance_rounds": float64(res.ComplianceRounds), "failed_checks": float64(res.FailedChecks)}})
	return res, nil
}

// setup takes up the state a previous run carried over, or starts the
// progress afresh, and registers the progress query and the lift and retry
// updates.
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

// ref names the seal's workflow and the actor for an activity's event.
func (s *seal) ref(actor string) activities.StepRef {
	return activities.StepRef{Incident: s.in.Incident, WorkflowID: s.id, Actor: actor}
}

// run seals the compound (unless a previous run did), tells the response
// it is in place, holds until a lift and reopens.
func (s *seal) run(ctx workflow.Context) (SealCompoundResult, error) {
	logger := workflow.GetLogger(ctx)
	if err := s.upsert(ctx,
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
		reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateDone, Ready: true,
			Detail:  fmt.Sprintf("sealed: %d checkpoints, %d staff, %d roads closed", len(s.progress.Checkpoints), staff, s.progress.RoadsClosed),
			Outputs: map[string]float64{"checkpoints": float64(len(s.progress.Checkpoints)), "staff": float64(staff), "roads_closed": float64(s.progress.RoadsClosed)}})
	}
	if err := s.hold(ctx); err != nil {
		return SealCompoundResult{}, err
	}
	return s.reopen(ctx)
}
