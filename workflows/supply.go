package workflows

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
)

// The staff-supply step kind: StaffSupplyStep sends people and goods.
const (
	KindStaffSupply     = "staff-supply"
	StaffSupplyStepName = "StaffSupplyStep"
)

var staffSupplyKind = kind{
	spec: runbook.Kind{
		Name: KindStaffSupply,
		Doc:  "Send people and goods where the response needs them (StaffSupplyStep): posts derived from the response (sampling points, communities, suppliers, open checkpoints) staffed nearest first and fairly within shift limits, never one person twice at once; mobilization notices with passes, acknowledged before a deadline (a reminder halfway, reassignment when none comes); volunteer sign-ups until a quota or a deadline; days of supply per area from population and daily need, restock shipments when short, confirmed on delivery; shortages escalated when a shipment is late or stock stays low. See docs/supply.md.",
		Params: map[string]runbook.Param{
			"duration":           {Type: runbook.TypeDuration, Default: "12h", Doc: "how long the step runs"},
			"shift":              {Type: runbook.TypeDuration, Default: "12h", Doc: "the staff's shift from the step's start, at most 24h; staff are released at the step's end when the shift is over by then"},
			"check_every":        {Type: runbook.TypeDuration, Default: "1h", Doc: "time between supply checks (and top-ups of short posts)"},
			"ack_within":         {Type: runbook.TypeDuration, Default: "1h", Doc: "time a person has to acknowledge an assignment; a reminder goes halfway"},
			"reassign_rounds":    {Type: runbook.TypeInt, Default: 2, Doc: "how many times posts not acknowledged are given to someone else"},
			"per_sampling_point": {Type: runbook.TypeInt, Default: 4, Doc: "samplers and registrars per sampling point (teachers, medical staff, volunteers)"},
			"per_community":      {Type: runbook.TypeInt, Default: 0, Doc: "cadres per community"},
			"per_supplier":       {Type: runbook.TypeInt, Default: 0, Doc: "volunteers per supermarket or market"},
			"per_checkpoint":     {Type: runbook.TypeInt, Default: 0, Doc: "relief staff per open checkpoint of the response"},
			"volunteers":         {Type: runbook.TypeInt, Default: 0, Doc: "volunteer sign-ups wanted (0: no drive)"},
			"signup_for":         {Type: runbook.TypeDuration, Default: "1h", Doc: "how long sign-ups stay open"},
			"need":               {Type: runbook.TypeString, Default: DefaultNeed, Doc: "daily need per person in kilograms, commodity=kg, comma-separated"},
			"min_days":           {Type: runbook.TypeNumber, Default: 3, Doc: "days of supply below which an area is restocked"},
			"target_days":        {Type: runbook.TypeNumber, Default: 7, Doc: "days of supply a restock brings an area up to"},
			"delivery_within":    {Type: runbook.TypeDuration, Default: "6h", Doc: "time a shipment has before it is late and escalated"},
			"escalate_after":     {Type: runbook.TypeDuration, Default: "12h", Doc: "time stock may stay below min_days before it is escalated"},
		},
		Outputs: []string{"assigned", "acknowledged", "shortfall", "lapsed", "orders", "delivered", "late", "escalations"},
	},
	workflow: StaffSupplyStep, name: StaffSupplyStepName,
}

// Acknowledgements reach a staff-supply step in two ways. The field's path
// (the CLI and the API) records the acknowledgement in PostgreSQL first and
// then signals SignalAcknowledged, so that hundreds of people acknowledging
// within minutes cost the step one signal each and no activity: its counts
// follow at once, and its reminders and reassignments, which read the
// records, never reach someone who acknowledged. The validated update
// UpdateAcknowledge records the acknowledgement through the step itself.
const (
	UpdateAcknowledge  = "acknowledge"
	SignalAcknowledged = "acknowledged"
)

// DefaultNeed is the daily need per person, in kilograms, of each
// commodity when a runbook does not say.
const DefaultNeed = "grain=0.4,oil=0.03,meat=0.1,eggs=0.06,vegetables=0.5,milk=0.25"

// AcknowledgeInput acknowledges an assignment.
type AcknowledgeInput struct {
	Assignment int64
	// Staff is the staff code of the person acknowledging; only the
	// person assigned may.
	Staff string
}

// SupplyProgress is the answer to a staff-supply step's progress query.
type SupplyProgress struct {
	Incident string
	Area     string
	State    string
	From, To time.Time
	// AckBy is when the current wave of assignments must be acknowledged.
	AckBy      time.Time `json:",omitzero"`
	Staff      domain.Mobilization
	Posts      domain.PostSummary
	Volunteers *domain.VolunteerDrive `json:",omitempty"`
	Levels     []domain.SupplyLevel
	Orders     int
	Delivered  int
	Late       int
	// Escalations are the shortage notices sent, newest last.
	Escalations []string
	Checks      int
	TimeScale   float64
}

type supplyParams struct {
	duration, shift, every, ackWithin, signupFor, deliveryWithin, escalateAfter time.Duration
	perPoint, perCommunity, perSupplier, perCheckpoint, volunteers, waves       int
	need                                                                        map[string]float64
	minDays, targetDays                                                         float64
}

// SupplyState is what a staff-supply step carries across continue-as-new:
// its progress and steps, the assignments waiting for acknowledgement, the
// shortages it watches, and where its clock stands.
type SupplyState struct {
	Progress  SupplyProgress
	Steps     []StepProgress
	Pending   map[int64]string     `json:",omitempty"`
	LowSince  map[string]time.Time `json:",omitempty"`
	Escalated map[string]bool      `json:",omitempty"`
	Overdue   bool                 `json:",omitempty"`
	ShiftEnd  time.Time
	AckBy     time.Time
	RemindAt  time.Time
	NextCheck time.Time
	Reminded  bool `json:",omitempty"`
	Waves     int  `json:",omitempty"`
}

// eventsPerSupplyCheck is about how many history events one supply check
// adds (timer, assignment and stock activities, search attributes,
// workflow tasks).
const eventsPerSupplyCheck = 20

type supply struct {
	sw *stepWorkflow
	in StepInput
	p  SupplyProgress
	// pending maps assignments waiting for acknowledgement to their holder.
	pending map[int64]string
	// lowSince is when each area's commodity first went below threshold.
	lowSince  map[string]time.Time
	escalated map[string]bool
	// overdue says a shipment is late: the step's state reads overdue.
	overdue bool
}

// StaffSupplyStep sends people and goods where the response needs them:
// posts derived from the running response are staffed nearest first and
// fairly, each person is notified with a pass and must acknowledge before
// a deadline (a reminder halfway, reassignment when none comes), volunteers
// sign up until a quota or a deadline, and suppliers' stock is checked
// against days of supply per area, with restock shipments ordered when
// short and shortages escalated when a shipment is late or stock stays low.
// Only counts and IDs travel through the workflow.
func StaffSupplyStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	s := &supply{sw: newStepWorkflow(ctx, in), in: in, pending: map[int64]string{}, lowSince: map[string]time.Time{}, escalated: map[string]bool{}}
	s.sw.details = s.render
	// The step runner marks the step running whenever an activity starts;
	// a step with a late shipment stays overdue.
	changed := s.sw.r.changed
	s.sw.r.changed = func(ctx workflow.Context, name, state string) {
		changed(ctx, name, state)
		if state == StateRunning && s.overdue {
			_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(StateOverdue))
		}
	}
	res, err := s.run(ctx)
	return s.sw.finish(ctx, res, err)
}

func supplyParamsOf(p map[string]any) (supplyParams, error) {
	sp := supplyParams{
		duration: paramDuration(p, "duration"), shift: paramDuration(p, "shift"), every: paramDuration(p, "check_every"), ackWithin: paramDuration(p, "ack_within"),
		signupFor: paramDuration(p, "signup_for"), deliveryWithin: paramDuration(p, "delivery_within"), escalateAfter: paramDuration(p, "escalate_after"),
		perPoint: paramInt(p, "per_sampling_point"), perCommunity: paramInt(p, "per_community"), perSupplier: paramInt(p, "per_supplier"),
		perCheckpoint: paramInt(p, "per_checkpoint"), volunteers: paramInt(p, "volunteers"), waves: paramInt(p, "reassign_rounds"),
		minDays: paramNumber(p, "min_days"), targetDays: paramNumber(p, "target_days"),
	}
	var err error
	if sp.need, err = ParseNeed(paramString(p, "need")); err != nil {
		return sp, err
	}
	switch {
	case sp.duration <= 0 || sp.every <= 0 || sp.ackWithin <= 0 || sp.deliveryWithin <= 0:
		return sp, errors.New("duration, check_every, ack_within and delivery_within must be above zero")
	case sp.shift > 24*time.Hour:
		return sp, fmt.Errorf("shift: %s is longer than 24h: split the work into shifts", sp.shift)
	case sp.minDays <= 0 || sp.targetDays < sp.minDays:
		return sp, fmt.Errorf("min_days (%g) must be above zero and target_days (%g) at least min_days", sp.minDays, sp.targetDays)
	}
	return sp, nil
}

// ParseNeed reads a need parameter: commodity=kilograms per person and
// day, comma-separated, e.g. "vegetables=0.5,grain=0.4". Empty means
// DefaultNeed.
func ParseNeed(s string) (map[string]float64, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultNeed
	}
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		kg, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		k = strings.TrimSpace(k)
		switch {
		case !ok || err != nil:
			return nil, fmt.Errorf("need: %q: write commodity=kilograms per person and day, e.g. vegetables=0.5", part)
		case math.IsNaN(kg) || kg < 0 || kg > 10:
			return nil, fmt.Errorf("need.%s: %g kg per person and day: want 0 to 10", k, kg)
		case out[k] != 0:
			return nil, fmt.Errorf("need.%s: given twice", k)
		}
		out[k] = kg
	}
	return out, nil
}

func paramNumber(p map[string]any, name string) float64 {
	switch v := p[name].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	}
	f, _ := strconv.ParseFloat(paramString(p, name), 64)
	return f
}

// supplyClock is where a staff-supply step's clock stands: its span, the
// shift on duty, the next check and the wave of assignments waiting for
// acknowledgement.
type supplyClock struct {
	start, end, shiftEnd       time.Time
	ackBy, remindAt, nextCheck time.Time
	reminded                   bool
	waves                      int
	// checks counts this run's supply checks.
	checks int
}

// run opens the step (or takes up the state a previous run carried over),
// then reminds, reassigns and checks until the step's duration is over,
// and releases the staff.
func (s *supply) run(ctx workflow.Context) (StepResult, error) {
	in := s.in
	if in.Area == nil {
		return StepResult{}, temporal.NewNonRetryableApplicationError("a staff-supply step needs an area", activities.ErrBadInput, nil)
	}
	sp, err := supplyParamsOf(in.Params)
	if err != nil {
		return StepResult{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrBadInput, nil)
	}
	if sp.shift <= 0 {
		sp.shift = min(sp.duration, 24*time.Hour)
	}
	c, err := s.begin(ctx, sp)
	if err != nil {
		return StepResult{}, err
	}
	for workflow.Now(ctx).Before(c.end) {
		if err := s.turn(ctx, sp, &c); err != nil {
			return StepResult{}, err
		}
	}
	return s.close(ctx, c.shiftEnd)
}

// begin sets the step up: its progress, handlers and first assignments,
// or the state a previous run carried over.
func (s *supply) begin(ctx workflow.Context, sp supplyParams) (supplyClock, error) {
	in := s.in
	start := workflow.Now(ctx)
	c := supplyClock{start: start, end: start.Add(scaled(sp.duration, in.TimeScale)), shiftEnd: start.Add(scaled(sp.shift, in.TimeScale))}
	s.p = SupplyProgress{Incident: in.Incident, Area: in.Area.Name, State: StateRunning, From: c.start, To: c.end, TimeScale: max(in.TimeScale, 1)}
	resume := in.ResumeSupply
	if resume != nil {
		s.resume(resume)
		c = supplyClock{start: s.p.From, end: s.p.To, shiftEnd: resume.ShiftEnd,
			ackBy: resume.AckBy, remindAt: resume.RemindAt, nextCheck: resume.NextCheck, reminded: resume.Reminded, waves: resume.Waves}
		s.in.ResumeSupply = nil
	}
	if err := s.handlers(ctx); err != nil {
		return c, err
	}
	if resume != nil {
		return c, nil
	}
	if err := s.open(ctx, sp, c.start, c.shiftEnd); err != nil {
		return c, err
	}
	ackWithin := scaled(sp.ackWithin, in.TimeScale)
	c.ackBy, c.remindAt, c.nextCheck = c.start.Add(ackWithin), c.start.Add(ackWithin/2), c.start.Add(scaled(sp.every, in.TimeScale))
	return c, nil
}

// resume takes up the progress, steps, assignments and shortages a
// previous run carried over.
func (s *supply) resume(r *SupplyState) {
	s.p, s.sw.list, s.overdue = r.Progress, r.Steps, r.Overdue
	//workflowcheck:ignore copying a map into a map: the order does not matter
	for id, staff := range r.Pending {
		s.pending[id] = staff
	}
	//workflowcheck:ignore copying a map into a map: the order does not matter
	for k, v := range r.LowSince {
		s.lowSince[k] = v
	}
	//workflowcheck:ignore copying a map into a map: the order does not matter
	for k, v := range r.Escalated {
		s.escalated[k] = v
	}
}

// handlers answers the progress query and takes acknowledgements, as
// updates and as signals from the field's path.
func (s *supply) handlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (SupplyProgress, error) { return s.p, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcknowledge, s.onAcknowledge, workflow.UpdateHandlerOptions{
		Validator:   s.validateAck,
		Description: "Acknowledge an assignment (only the person assigned)",
	}); err != nil {
		return err
	}
	receiveAlways(ctx, SignalAcknowledged, func(ctx workflow.Context, in AcknowledgeInput) {
		if s.acknowledged(in.Assignment) {
			s.render(ctx)
		}
	})
	return nil
}

// turn waits for the next check, reminder or acknowledgement deadline,
// whichever comes first, and does what is due.
func (s *supply) turn(ctx workflow.Context, sp supplyParams, c *supplyClock) error {
	ref := s.sw.ref("muster")
	ackWithin := scaled(sp.ackWithin, s.in.TimeScale)
	now := workflow.Now(ctx)
	wake := c.nextCheck
	if c.end.Before(wake) {
		wake = c.end
	}
	if len(s.pending) > 0 {
		if !c.reminded && c.remindAt.Before(wake) {
			wake = c.remindAt
		}
		if c.ackBy.Before(wake) {
			wake = c.ackBy
		}
	}
	s.p.AckBy = time.Time{}
	if len(s.pending) > 0 {
		s.p.AckBy = c.ackBy
	}
	if err := workflow.NewTimerWithOptions(ctx, max(wake.Sub(now), time.Millisecond),
		workflow.TimerOptions{Summary: "Next supply check, reminder or acknowledgement deadline"}).Get(ctx, nil); err != nil {
		return err
	}
	now = workflow.Now(ctx)
	if len(s.pending) > 0 && !c.reminded && !now.Before(c.remindAt) {
		c.reminded = true
		var n int
		if err := s.sw.r.run(ctx, fmt.Sprintf("remind/%d", c.waves), "Remind who has not acknowledged", a.RemindStaff,
			activities.RemindInput{Ref: ref, At: now, Name: fmt.Sprintf("remind/%d", c.waves)}, &n, func() string { return fmt.Sprintf("%d reminded", n) }); err != nil {
			return err
		}
	}
	if len(s.pending) > 0 && !now.Before(c.ackBy) && c.waves < sp.waves {
		c.waves++
		if err := s.assign(ctx, a.ReassignLapsed, activities.ReassignInput{Ref: ref, AreaID: s.in.Area.ID, Now: now, AckBy: now.Add(ackWithin), Name: fmt.Sprintf("reassign/%d", c.waves)},
			fmt.Sprintf("reassign/%d", c.waves)); err != nil {
			return err
		}
		c.ackBy, c.remindAt, c.reminded = now.Add(ackWithin), now.Add(ackWithin/2), false
	}
	if !now.Before(c.nextCheck) {
		return s.checkDue(ctx, sp, c, now)
	}
	return nil
}

// checkDue tops up the posts still short, counts volunteer sign-ups and
// checks supplies; a step of weeks then continues as new before its
// history grows large.
func (s *supply) checkDue(ctx workflow.Context, sp supplyParams, c *supplyClock, now time.Time) error {
	ref := s.sw.ref("muster")
	ackWithin := scaled(sp.ackWithin, s.in.TimeScale)
	c.nextCheck = c.nextCheck.Add(scaled(sp.every, s.in.TimeScale))
	// Posts still short take whoever became free or signed up; the
	// counts catch up with acknowledgements made in the field.
	before := len(s.pending)
	if err := s.assign(ctx, a.AssignStaff, activities.AssignStaffInput{Ref: ref, AreaID: s.in.Area.ID, AckBy: now.Add(ackWithin), Name: fmt.Sprintf("top-up/%d", s.p.Checks)}, "top-up"); err != nil {
		return err
	}
	if before == 0 && len(s.pending) > 0 {
		c.ackBy, c.remindAt, c.reminded = now.Add(ackWithin), now.Add(ackWithin/2), false
	}
	if closes := c.start.Add(scaled(sp.signupFor, s.in.TimeScale)); s.p.Volunteers != nil && now.Before(closes) {
		if err := s.sw.r.run(ctx, "volunteers", "Count volunteer sign-ups", a.VolunteerDrive, activities.VolunteerDriveInput{
			Ref: ref, AreaID: s.in.Area.ID, Quota: sp.volunteers, ClosesAt: closes,
		}, s.p.Volunteers, func() string { return fmt.Sprintf("%d of %d signed up", s.p.Volunteers.SignedUp, s.p.Volunteers.Quota) }); err != nil {
			return err
		}
	}
	if err := s.check(ctx, sp); err != nil {
		return err
	}
	// Runs recorded before continue-as-new never did.
	c.checks++
	if longHistory(ctx, s.in.HistoryLimit, c.checks*eventsPerSupplyCheck) && workflow.Now(ctx).Before(c.end) &&
		workflow.GetVersion(ctx, "supply-continue-as-new", workflow.DefaultVersion, 1) >= 1 {
		return s.continueAsNew(ctx, *c)
	}
	return nil
}

// continueAsNew hands the step to its next run, with the acknowledgements
// received meanwhile.
func (s *supply) continueAsNew(ctx workflow.Context, c supplyClock) error {
	receive(ctx, s.sw.inbox, SignalAcknowledged, func(in AcknowledgeInput) { s.acknowledged(in.Assignment) })
	return continueAsNewWhenQuiet(ctx, canPlan{
		name: StaffSupplyStepName, inbox: s.sw.inbox,
		next: func() any {
			next := s.in
			next.ResumeSupply = &SupplyState{
				Progress: s.p, Steps: s.sw.list, Pending: s.pending, LowSince: s.lowSince, Escalated: s.escalated, Overdue: s.overdue,
				ShiftEnd: c.shiftEnd, AckBy: c.ackBy, RemindAt: c.remindAt, NextCheck: c.nextCheck, Reminded: c.reminded, Waves: c.waves,
			}
			next.Retries = pendingRetries(s.sw.r.retry)
			return next
		},
	})
}

// close releases the staff whose shift ends with the step and reports
// the step's figures.
func (s *supply) close(ctx workflow.Context, shiftEnd time.Time) (StepResult, error) {
	// Staff whose shift outlasts the step stay on it; their booking ends
	// with the shift.
	if !shiftEnd.After(workflow.Now(ctx)) {
		s.p.State = "releasing"
		var released int
		if err := s.sw.r.run(ctx, "release", "Release the staff", a.ReleaseStaff, activities.ReleaseStaffInput{Ref: s.sw.ref("muster"), At: workflow.Now(ctx)}, &released,
			func() string { return fmt.Sprintf("%d released", released) }); err != nil {
			return StepResult{}, err
		}
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return StepResult{}, err
	}
	s.p.State, s.p.AckBy = StateDone, time.Time{}
	s.render(ctx)
	m := s.p.Staff
	return StepResult{
		Outputs: map[string]float64{
			"assigned": float64(m.Assigned), "acknowledged": float64(m.Acknowledged), "shortfall": float64(m.Shortfall),
			"lapsed": float64(m.Lapsed), "orders": float64(s.p.Orders), "delivered": float64(s.p.Delivered), "late": float64(s.p.Late),
			"escalations": float64(len(s.p.Escalations)),
		},
		Detail: fmt.Sprintf("%d of %d staff assigned (%d acknowledged, %d reassigned); %d restock orders, %d delivered, %d late",
			m.Assigned, m.Needed, m.Acknowledged, m.Lapsed, s.p.Orders, s.p.Delivered, s.p.Late),
	}, nil
}
