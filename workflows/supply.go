package workflows

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
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
	Staff      store.Mobilization
	Posts      store.PostSummary
	Volunteers *store.VolunteerDrive `json:",omitempty"`
	Levels     []store.SupplyLevel
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
	start := workflow.Now(ctx)
	end := start.Add(scaled(sp.duration, in.TimeScale))
	shiftEnd := start.Add(scaled(sp.shift, in.TimeScale))
	s.p = SupplyProgress{Incident: in.Incident, Area: in.Area.Name, State: StateRunning, From: start, To: end, TimeScale: max(in.TimeScale, 1)}
	resume := in.ResumeSupply
	if resume != nil {
		s.p, s.sw.list, s.overdue = resume.Progress, resume.Steps, resume.Overdue
		start, end, shiftEnd = s.p.From, s.p.To, resume.ShiftEnd
		//workflowcheck:ignore copying a map into a map: the order does not matter
		for id, staff := range resume.Pending {
			s.pending[id] = staff
		}
		//workflowcheck:ignore copying a map into a map: the order does not matter
		for k, v := range resume.LowSince {
			s.lowSince[k] = v
		}
		//workflowcheck:ignore copying a map into a map: the order does not matter
		for k, v := range resume.Escalated {
			s.escalated[k] = v
		}
		in.ResumeSupply, s.in.ResumeSupply = nil, nil
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (SupplyProgress, error) { return s.p, nil }); err != nil {
		return StepResult{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcknowledge, s.onAcknowledge, workflow.UpdateHandlerOptions{
		Validator:   s.validateAck,
		Description: "Acknowledge an assignment (only the person assigned)",
	}); err != nil {
		return StepResult{}, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalAcknowledged)
		for {
			var in AcknowledgeInput
			if !ch.Receive(ctx, &in) {
				return
			}
			if s.acknowledged(in.Assignment) {
				s.render(ctx)
			}
		}
	})
	ref := s.sw.ref("muster")
	ackWithin := scaled(sp.ackWithin, in.TimeScale)
	every := scaled(sp.every, in.TimeScale)
	var (
		ackBy, remindAt, nextCheck time.Time
		reminded                   bool
		waves                      int
	)
	if resume != nil {
		ackBy, remindAt, nextCheck, reminded, waves = resume.AckBy, resume.RemindAt, resume.NextCheck, resume.Reminded, resume.Waves
	} else {
		if err := s.open(ctx, sp, start, shiftEnd); err != nil {
			return StepResult{}, err
		}
		ackBy, remindAt, nextCheck = start.Add(ackWithin), start.Add(ackWithin/2), start.Add(every)
	}
	checks := 0
	for {
		now := workflow.Now(ctx)
		if !now.Before(end) {
			break
		}
		wake := nextCheck
		if end.Before(wake) {
			wake = end
		}
		if len(s.pending) > 0 {
			if !reminded && remindAt.Before(wake) {
				wake = remindAt
			}
			if ackBy.Before(wake) {
				wake = ackBy
			}
		}
		s.p.AckBy = time.Time{}
		if len(s.pending) > 0 {
			s.p.AckBy = ackBy
		}
		if err := workflow.NewTimerWithOptions(ctx, max(wake.Sub(now), time.Millisecond),
			workflow.TimerOptions{Summary: "Next supply check, reminder or acknowledgement deadline"}).Get(ctx, nil); err != nil {
			return StepResult{}, err
		}
		now = workflow.Now(ctx)
		if len(s.pending) > 0 && !reminded && !now.Before(remindAt) {
			reminded = true
			var n int
			if err := s.sw.r.run(ctx, fmt.Sprintf("remind/%d", waves), "Remind who has not acknowledged", a.RemindStaff,
				activities.RemindInput{Ref: ref, At: now, Name: fmt.Sprintf("remind/%d", waves)}, &n, func() string { return fmt.Sprintf("%d reminded", n) }); err != nil {
				return StepResult{}, err
			}
		}
		if len(s.pending) > 0 && !now.Before(ackBy) && waves < sp.waves {
			waves++
			if err := s.assign(ctx, a.ReassignLapsed, activities.ReassignInput{Ref: ref, AreaID: in.Area.ID, Now: now, AckBy: now.Add(ackWithin), Name: fmt.Sprintf("reassign/%d", waves)},
				fmt.Sprintf("reassign/%d", waves)); err != nil {
				return StepResult{}, err
			}
			ackBy, remindAt, reminded = now.Add(ackWithin), now.Add(ackWithin/2), false
		}
		if !now.Before(nextCheck) {
			nextCheck = nextCheck.Add(every)
			// Posts still short take whoever became free or signed up; the
			// counts catch up with acknowledgements made in the field.
			before := len(s.pending)
			if err := s.assign(ctx, a.AssignStaff, activities.AssignStaffInput{Ref: ref, AreaID: in.Area.ID, AckBy: now.Add(ackWithin), Name: fmt.Sprintf("top-up/%d", s.p.Checks)}, "top-up"); err != nil {
				return StepResult{}, err
			}
			if before == 0 && len(s.pending) > 0 {
				ackBy, remindAt, reminded = now.Add(ackWithin), now.Add(ackWithin/2), false
			}
			if s.p.Volunteers != nil && now.Before(start.Add(scaled(sp.signupFor, in.TimeScale))) {
				if err := s.sw.r.run(ctx, "volunteers", "Count volunteer sign-ups", a.VolunteerDrive, activities.VolunteerDriveInput{
					Ref: ref, AreaID: in.Area.ID, Quota: sp.volunteers, ClosesAt: start.Add(scaled(sp.signupFor, in.TimeScale)),
				}, s.p.Volunteers, func() string { return fmt.Sprintf("%d of %d signed up", s.p.Volunteers.SignedUp, s.p.Volunteers.Quota) }); err != nil {
					return StepResult{}, err
				}
			}
			if err := s.check(ctx, sp); err != nil {
				return StepResult{}, err
			}
			// A step of weeks continues as new before its history grows
			// large; runs recorded before this never did.
			checks++
			if s.longHistory(ctx, checks) && workflow.Now(ctx).Before(end) &&
				workflow.GetVersion(ctx, "supply-continue-as-new", workflow.DefaultVersion, 1) >= 1 {
				receive(ctx, s.sw.inbox, SignalAcknowledged, func(in AcknowledgeInput) { s.acknowledged(in.Assignment) })
				return StepResult{}, continueAsNewWhenQuiet(ctx, canPlan{
					name: StaffSupplyStepName, inbox: s.sw.inbox,
					next: func() any {
						next := s.in
						next.ResumeSupply = &SupplyState{
							Progress: s.p, Steps: s.sw.list, Pending: s.pending, LowSince: s.lowSince, Escalated: s.escalated, Overdue: s.overdue,
							ShiftEnd: shiftEnd, AckBy: ackBy, RemindAt: remindAt, NextCheck: nextCheck, Reminded: reminded, Waves: waves,
						}
						next.Retries = pendingRetries(s.sw.r.retry)
						return next
					},
				})
			}
		}
	}

	// Staff whose shift outlasts the step stay on it; their booking ends
	// with the shift.
	if !shiftEnd.After(workflow.Now(ctx)) {
		s.p.State = "releasing"
		var released int
		if err := s.sw.r.run(ctx, "release", "Release the staff", a.ReleaseStaff, activities.ReleaseStaffInput{Ref: ref, At: workflow.Now(ctx)}, &released,
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

// longHistory says the run should continue as new.
func (s *supply) longHistory(ctx workflow.Context, checks int) bool {
	limit := s.in.HistoryLimit
	if limit == 0 {
		limit = DefaultHistoryLimit
	}
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit || checks*eventsPerSupplyCheck > limit
}

// open plans the posts, assigns the first staff, opens the volunteer
// drive and checks supplies once.
func (s *supply) open(ctx workflow.Context, sp supplyParams, start, shiftEnd time.Time) error {
	in := s.in
	ref := s.sw.ref("muster")
	if err := s.sw.r.run(ctx, "plan-staff", "Derive staff posts from the response", a.PlanStaff, activities.PlanStaffInput{
		Ref: ref, AreaID: in.Area.ID, From: start, To: shiftEnd, Hours: sp.shift.Hours(),
		PerSamplingPoint: sp.perPoint, PerCommunity: sp.perCommunity, PerSupplier: sp.perSupplier, PerCheckpoint: sp.perCheckpoint,
	}, &s.p.Posts, func() string { return fmt.Sprintf("%d posts need %d staff", s.p.Posts.Posts, s.p.Posts.Needed) }); err != nil {
		return err
	}
	ackWithin := scaled(sp.ackWithin, in.TimeScale)
	if err := s.assign(ctx, a.AssignStaff, activities.AssignStaffInput{Ref: ref, AreaID: in.Area.ID, AckBy: start.Add(ackWithin), Name: "assign"}, "assign"); err != nil {
		return err
	}
	if sp.volunteers > 0 {
		s.p.Volunteers = &store.VolunteerDrive{}
		if err := s.sw.r.run(ctx, "volunteers", "Open volunteer sign-ups", a.VolunteerDrive, activities.VolunteerDriveInput{
			Ref: ref, AreaID: in.Area.ID, Quota: sp.volunteers, ClosesAt: start.Add(scaled(sp.signupFor, in.TimeScale)),
		}, s.p.Volunteers, func() string { return fmt.Sprintf("%d of %d signed up", s.p.Volunteers.SignedUp, s.p.Volunteers.Quota) }); err != nil {
			return err
		}
	}
	return s.check(ctx, sp)
}

// assign runs an assignment activity and takes in its counts.
func (s *supply) assign(ctx workflow.Context, fn, arg any, name string) error {
	var m store.Mobilization
	if err := s.sw.r.run(ctx, name, "Assign staff nearest first", fn, arg, &m, func() string {
		return fmt.Sprintf("%d of %d assigned, %d acknowledged, %d short", m.Assigned, m.Needed, m.Acknowledged, m.Shortfall)
	}); err != nil {
		return err
	}
	s.take(m)
	return nil
}

func (s *supply) take(m store.Mobilization) {
	s.pending = map[int64]string{}
	for _, p := range m.PendingAcks {
		s.pending[p.ID] = p.Staff
	}
	m.PendingAcks = nil
	s.p.Staff = m
}

// check runs a supply check and escalates late shipments and stock that
// stays low.
func (s *supply) check(ctx workflow.Context, sp supplyParams) error {
	s.p.Checks++
	now := workflow.Now(ctx)
	var st store.SupplyStatus
	if err := s.sw.r.run(ctx, "supply-check", "Check days of supply, order restocks", a.CheckSupply, activities.CheckSupplyInput{
		Ref: s.sw.ref("muster"), AreaID: s.in.Area.ID, Check: s.p.Checks, Need: sp.need, MinDays: sp.minDays, TargetDays: sp.targetDays,
		Now: now, Due: now.Add(scaled(sp.deliveryWithin, s.in.TimeScale)),
	}, &st, func() string {
		return fmt.Sprintf("%d restock orders, %d delivered, %d late", st.Orders, st.Delivered, len(st.Late))
	}); err != nil {
		return err
	}
	s.p.Levels, s.p.Orders, s.p.Delivered, s.p.Late = st.Levels, st.Orders, st.Delivered, len(st.Late)
	if late := len(st.Late) > 0; late != s.overdue {
		s.overdue = late
		state := StateRunning
		if late {
			state = StateOverdue
		}
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
	}
	for _, sh := range st.Late {
		key := fmt.Sprintf("late/%d", sh.ID)
		if s.escalated[key] {
			continue
		}
		body := fmt.Sprintf("Shortage risk in %s (incident %s): shipment %d of %g t of %s to %s was due at %s and has not been confirmed delivered. Chase the supplier, or confirm it with `starter supply deliver %d --tonnes T`.",
			sh.Area, s.in.Incident, sh.ID, sh.Tonnes, sh.Commodity, sh.Site, s.clock(sh.DueAt).Format("15:04"), sh.ID)
		if err := s.escalate(ctx, key, body, MsgSupplyLate, map[string]string{"area": sh.Area, "incident": s.in.Incident, "shipment": fmt.Sprint(sh.ID), "tonnes": fmt.Sprint(sh.Tonnes), "commodity": sh.Commodity, "site": sh.Site, "due": s.clock(sh.DueAt).Format("15:04")}); err != nil {
			return err
		}
	}
	for _, l := range st.Levels {
		key := l.Area + "/" + l.Commodity
		if !l.Low {
			delete(s.lowSince, key)
			continue
		}
		since, ok := s.lowSince[key]
		if !ok {
			s.lowSince[key] = now
			continue
		}
		esc := fmt.Sprintf("low/%s/%s", key, since.Format(time.RFC3339))
		if now.Sub(since) >= scaled(sp.escalateAfter, s.in.TimeScale) && !s.escalated[esc] {
			body := fmt.Sprintf("Shortage in %s (incident %s): %s has stayed below %g days of supply since %s (%.1f days: %.1f t for %.1f t a day).",
				l.Area, s.in.Incident, l.Commodity, sp.minDays, s.clock(since).Format("15:04"), l.Days, l.Stock, l.NeedPerDay)
			if err := s.escalate(ctx, esc, body, MsgSupplyShortage, map[string]string{"area": l.Area, "incident": s.in.Incident, "commodity": l.Commodity, "min_days": fmt.Sprint(sp.minDays), "since": s.clock(since).Format("15:04"), "days": fmt.Sprintf("%.1f", l.Days), "stock": fmt.Sprintf("%.1f", l.Stock), "need": fmt.Sprintf("%.1f", l.NeedPerDay)}); err != nil {
				return err
			}
		}
	}
	s.render(ctx)
	return nil
}

func (s *supply) escalate(ctx workflow.Context, key, body, msg string, args map[string]string) error {
	s.escalated[key] = true
	if err := s.sw.r.run(ctx, "escalate/"+key, "Escalate a shortage", a.PublishNotice, activities.NoticeInput{
		Ref: s.sw.ref("muster"), Step: s.in.Path + "/shortage/" + key, AreaID: s.in.Area.ID,
		Kind: "supply/shortage/" + key, Audience: "district command", Body: body, Message: msg, Args: args,
	}, nil, func() string { return "escalated to the district command" }); err != nil {
		return err
	}
	s.p.Escalations = append(s.p.Escalations, body)
	return nil
}

func (s *supply) validateAck(ctx workflow.Context, in AcknowledgeInput) error {
	if err := limitText("staff", in.Staff); err != nil {
		return err
	}
	staff := strings.TrimSpace(in.Staff)
	switch {
	case in.Assignment <= 0:
		return fmt.Errorf("assignment: give the assignment's number (from the mobilization notice)")
	case staff == "":
		return fmt.Errorf("staff: give your staff code")
	case s.p.State != StateRunning:
		return fmt.Errorf("the staff-supply step of %s is %s", s.p.Area, s.p.State)
	}
	holder, ok := s.pending[in.Assignment]
	switch {
	case !ok:
		return fmt.Errorf("assignment %d is not waiting for an acknowledgement in this step (unknown, lapsed or already acknowledged)", in.Assignment)
	case holder != staff:
		return fmt.Errorf("assignment %d is not %s's: only the person assigned can acknowledge it", in.Assignment, staff)
	}
	return nil
}

func (s *supply) onAcknowledge(ctx workflow.Context, in AcknowledgeInput) (store.Assignment, error) {
	actx := workflow.WithActivityOptions(ctx, activityOptions("Acknowledge assignment "+strconv.FormatInt(in.Assignment, 10), s.sw.r.policy))
	var as store.Assignment
	err := workflow.ExecuteActivity(actx, a.AcknowledgeAssignment, activities.AcknowledgeInput{
		Ref: s.sw.ref("staff " + in.Staff), Assignment: in.Assignment, Staff: strings.TrimSpace(in.Staff), At: workflow.Now(ctx),
	}).Get(ctx, &as)
	if err != nil {
		return as, err
	}
	s.acknowledged(in.Assignment)
	s.render(ctx)
	return as, nil
}

// acknowledged counts an assignment acknowledged, once; it reports whether
// the counts changed.
func (s *supply) acknowledged(id int64) bool {
	if _, ok := s.pending[id]; !ok {
		return false
	}
	delete(s.pending, id)
	s.p.Staff.Acknowledged++
	s.p.Staff.Pending = len(s.pending)
	return true
}

// clock turns workflow time into scenario time.
func (s *supply) clock(at time.Time) time.Time {
	return s.p.From.Add(time.Duration(float64(at.Sub(s.p.From)) * s.p.TimeScale))
}

// render writes the staff line and the per-area supply table the Web UI
// shows.
func (s *supply) render(ctx workflow.Context) {
	gaugeSupply(ctx, s.p)
	p := s.p
	m := p.Staff
	var b strings.Builder
	fmt.Fprintf(&b, "**%s staff supply** · %d / %d staff assigned · %d acknowledged · %d waiting", p.Area, m.Assigned, m.Needed, m.Acknowledged, m.Pending)
	if !p.AckBy.IsZero() {
		fmt.Fprintf(&b, " (by %s)", s.clock(p.AckBy).Format("15:04"))
	}
	if m.Lapsed > 0 {
		fmt.Fprintf(&b, " · %d reassigned", m.Lapsed)
	}
	if m.Shortfall > 0 {
		fmt.Fprintf(&b, " · **%d short**", m.Shortfall)
	}
	if v := p.Volunteers; v != nil && v.Quota > 0 {
		fmt.Fprintf(&b, " · volunteers %d / %d", v.SignedUp, v.Quota)
	}
	fmt.Fprintf(&b, " · %d passes", m.Passes)
	b.WriteString("\n\n| Area | Commodity | Stock (t) | Need (t/day) | Days | Restock |\n|---|---|---|---|---|---|\n")
	levels := slices.Clone(p.Levels)
	sort.SliceStable(levels, func(i, j int) bool { return levels[i].Days < levels[j].Days })
	for _, l := range levels {
		days := "—"
		if l.NeedPerDay > 0 {
			days = fmt.Sprintf("%.1f", l.Days)
			if l.Low {
				days = "**" + days + "**"
			}
		}
		order := ""
		if o := l.Order; o != nil {
			order = fmt.Sprintf("%g t from %s, %s", o.Tonnes, o.Site, o.State)
			if o.State == "late" {
				order = "**" + order + "**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.2f | %s | %s |\n", l.Area, l.Commodity, l.Stock, l.NeedPerDay, days, order)
	}
	fmt.Fprintf(&b, "\n%d restock orders · %d delivered · %d late · %d escalations", p.Orders, p.Delivered, p.Late, len(p.Escalations))
	workflow.SetCurrentDetails(ctx, b.String())
}
