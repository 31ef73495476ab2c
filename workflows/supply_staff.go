package workflows

// A staff-supply step's staff: posts planned and assigned nearest first,
// and acknowledgements taken as updates or signals.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

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
		s.p.Volunteers = &domain.VolunteerDrive{}
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
	var m domain.Mobilization
	if err := s.sw.r.run(ctx, name, "Assign staff nearest first", fn, arg, &m, func() string {
		return fmt.Sprintf("%d of %d assigned, %d acknowledged, %d short", m.Assigned, m.Needed, m.Acknowledged, m.Shortfall)
	}); err != nil {
		return err
	}
	s.take(m)
	return nil
}

func (s *supply) take(m domain.Mobilization) {
	s.pending = map[int64]string{}
	for _, p := range m.PendingAcks {
		s.pending[p.ID] = p.Staff
	}
	m.PendingAcks = nil
	s.p.Staff = m
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

func (s *supply) onAcknowledge(ctx workflow.Context, in AcknowledgeInput) (domain.Assignment, error) {
	actx := workflow.WithActivityOptions(ctx, activityOptions("Acknowledge assignment "+strconv.FormatInt(in.Assignment, 10), s.sw.r.policy))
	var as domain.Assignment
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
