package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// PlanStaffInput asks for the posts of a supply step.
type PlanStaffInput struct {
	Ref              StepRef
	AreaID           int64
	From, To         time.Time
	Hours            float64
	PerSamplingPoint int
	PerCommunity     int
	PerSupplier      int
	PerCheckpoint    int
}

// PlanStaff records the posts the step needs staffed, derived from the
// running response (sampling points, communities, suppliers, open
// checkpoints in the area).
func (a *Activities) PlanStaff(ctx context.Context, in PlanStaffInput) (domain.PostSummary, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.PostSummary{}, classify(err)
	}
	s, err := a.Store.PlanPosts(ctx, store.PostOrder{
		Incident: in.Ref.Incident, Step: in.Ref.WorkflowID, AreaID: in.AreaID, From: in.From, To: in.To, Hours: in.Hours,
		PerSamplingPoint: in.PerSamplingPoint, PerCommunity: in.PerCommunity, PerSupplier: in.PerSupplier, PerCheckpoint: in.PerCheckpoint,
	}, in.Ref.event("plan-staff", "done", ""))
	return s, classify(err)
}

// AssignStaffInput fills a step's posts.
type AssignStaffInput struct {
	Ref    StepRef
	AreaID int64
	AckBy  time.Time
	// Name names the call in the event log (assign, top-up/3); each
	// call is logged once however often it is retried.
	Name string
}

// AssignStaff fills the step's open posts, nearest first and fairly, with
// a mobilization notice and a pass for each person; it tops up only, so a
// repeated call adds nothing.
func (a *Activities) AssignStaff(ctx context.Context, in AssignStaffInput) (domain.Mobilization, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.Mobilization{}, classify(err)
	}
	m, err := a.Store.AssignStaff(ctx, store.AssignOrder{Incident: in.Ref.Incident, Step: in.Ref.WorkflowID, AreaID: in.AreaID, AckBy: in.AckBy},
		in.Ref.event(nameOr(in.Name, "assign"), "done", ""))
	return m, classify(err)
}

// AcknowledgeInput is a person acknowledging their assignment.
type AcknowledgeInput struct {
	Ref        StepRef
	Assignment int64
	Staff      string
	At         time.Time
}

// AcknowledgeAssignment records an acknowledgement; someone else's
// assignment, an unknown one or a lapsed one fails at once.
func (a *Activities) AcknowledgeAssignment(ctx context.Context, in AcknowledgeInput) (domain.Assignment, error) {
	as, err := a.Store.Acknowledge(ctx, in.Assignment, in.Staff, in.At)
	if err != nil {
		return as, classify(err)
	}
	if in.Ref.WorkflowID != "" && as.Step != in.Ref.WorkflowID {
		return as, badInput("assignment %d belongs to %s, not to this step", in.Assignment, as.Step)
	}
	return as, nil
}

// RemindInput asks to remind everyone who has not acknowledged.
type RemindInput struct {
	Ref StepRef
	At  time.Time
	// Name names the call in the event log (remind/1).
	Name string
}

// RemindStaff sends one reminder to each person of the step who has not
// acknowledged yet.
func (a *Activities) RemindStaff(ctx context.Context, in RemindInput) (int, error) {
	if err := in.Ref.validate(); err != nil {
		return 0, classify(err)
	}
	n, err := a.Store.Remind(ctx, in.Ref.WorkflowID, in.At, in.Ref.event(nameOr(in.Name, "remind"), "done", ""))
	return n, classify(err)
}

// ReassignInput lapses what was not acknowledged by Now and fills the posts
// again, to be acknowledged by AckBy.
type ReassignInput struct {
	Ref    StepRef
	AreaID int64
	Now    time.Time
	AckBy  time.Time
	// Name names the call in the event log (reassign/1).
	Name string
}

// ReassignLapsed lapses the assignments nobody acknowledged in time and
// gives their posts to others.
func (a *Activities) ReassignLapsed(ctx context.Context, in ReassignInput) (domain.Mobilization, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.Mobilization{}, classify(err)
	}
	if !in.AckBy.After(in.Now) {
		return domain.Mobilization{}, badInput("the new acknowledgement deadline must be after now")
	}
	m, err := a.Store.Reassign(ctx, store.AssignOrder{Incident: in.Ref.Incident, Step: in.Ref.WorkflowID, AreaID: in.AreaID, AckBy: in.AckBy}, in.Now,
		in.Ref.event(nameOr(in.Name, "reassign"), "done", ""))
	return m, classify(err)
}

// ReleaseStaffInput ends a step's assignments.
type ReleaseStaffInput struct {
	Ref StepRef
	At  time.Time
}

// ReleaseStaff ends the step's assignments.
func (a *Activities) ReleaseStaff(ctx context.Context, in ReleaseStaffInput) (int, error) {
	if err := in.Ref.validate(); err != nil {
		return 0, classify(err)
	}
	n, err := a.Store.ReleaseStaff(ctx, in.Ref.WorkflowID, in.At, in.Ref.event("release", "done", ""))
	return n, classify(err)
}

// VolunteerDriveInput opens (or reads) a volunteer drive.
type VolunteerDriveInput struct {
	Ref      StepRef
	AreaID   int64
	Quota    int
	ClosesAt time.Time
}

// VolunteerDrive opens the step's volunteer drive once and returns how
// many have signed up.
func (a *Activities) VolunteerDrive(ctx context.Context, in VolunteerDriveInput) (domain.VolunteerDrive, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.VolunteerDrive{}, classify(err)
	}
	d, err := a.Store.OpenVolunteerDrive(ctx, domain.VolunteerDrive{Incident: in.Ref.Incident, AreaID: in.AreaID, Step: in.Ref.WorkflowID, Quota: in.Quota, ClosesAt: in.ClosesAt},
		in.Ref.event("volunteer-drive", "done", fmt.Sprintf("volunteers wanted: %d until %s", in.Quota, in.ClosesAt.Format(time.RFC3339))))
	return d, classify(err)
}

// CheckSupplyInput asks for a supply check of an area.
type CheckSupplyInput struct {
	Ref    StepRef
	AreaID int64
	// Check numbers the step's checks, for the event log.
	Check int
	// Need is each commodity's daily need per person, in kilograms.
	Need                map[string]float64
	MinDays, TargetDays float64
	Now, Due            time.Time
}

// CheckSupply computes days of supply per area and commodity, orders
// restocks where they are short and reports late shipments.
func (a *Activities) CheckSupply(ctx context.Context, in CheckSupplyInput) (domain.SupplyStatus, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.SupplyStatus{}, classify(err)
	}
	if in.AreaID <= 0 {
		return domain.SupplyStatus{}, badInput("a supply check needs an area")
	}
	e := in.Ref.event(fmt.Sprintf("supply-check/%d", in.Check), "done", "")
	st, err := a.Store.CheckSupply(ctx, store.SupplyOrder{
		Incident: in.Ref.Incident, Step: in.Ref.WorkflowID, AreaID: in.AreaID, Need: in.Need,
		MinDays: in.MinDays, TargetDays: in.TargetDays, Now: in.Now, Due: in.Due,
	}, e)
	return st, classify(err)
}

// nameOr returns name, or def when it is empty.
func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}
