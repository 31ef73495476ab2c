package activities

import (
	"context"
	"testing"
	"time"
)

// TestSupplyBadInputIsNonRetryable: bad input to the supply activities
// fails at once, so no workflow retries it, and writes nothing.
func TestSupplyBadInputIsNonRetryable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	longbao, err := a.Store.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	rf := StepRef{Incident: "xd-bad", WorkflowID: "response/xd-bad/supply", Actor: "muster"}
	now := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	m, err := a.AssignStaff(ctx, AssignStaffInput{Ref: rf, AreaID: longbao.ID, AckBy: now})
	if err != nil || m.Assigned != 0 {
		t.Fatalf("AssignStaff() with no posts = %+v, %v; want nothing assigned", m, err)
	}
	if _, err := a.PlanStaff(ctx, PlanStaffInput{Ref: rf, AreaID: longbao.ID, From: now, To: now.Add(8 * time.Hour), Hours: 8, PerSamplingPoint: 1}); err != nil {
		t.Fatal(err)
	}
	if m, err = a.AssignStaff(ctx, AssignStaffInput{Ref: rf, AreaID: longbao.ID, AckBy: now.Add(time.Hour)}); err != nil || len(m.PendingAcks) != 4 {
		t.Fatalf("AssignStaff() = %+v, %v; want 4 waiting", m, err)
	}
	mine, other := m.PendingAcks[0], m.PendingAcks[1]
	before := count(t, a, `SELECT count(*) FROM step_events`)
	for _, c := range []struct {
		name string
		call func() error
		typ  string
	}{
		{"PlanStaff shift backwards", func() error {
			_, err := a.PlanStaff(ctx, PlanStaffInput{Ref: rf, AreaID: longbao.ID, From: now, To: now.Add(-time.Hour), Hours: 8})
			return err
		}, ErrBadInput},
		{"PlanStaff absurd demand", func() error {
			_, err := a.PlanStaff(ctx, PlanStaffInput{Ref: rf, AreaID: longbao.ID, From: now, To: now.Add(time.Hour), Hours: 1, PerSamplingPoint: 5000})
			return err
		}, ErrBadInput},
		{"PlanStaff unknown area", func() error {
			_, err := a.PlanStaff(ctx, PlanStaffInput{Ref: rf, AreaID: 999999, From: now, To: now.Add(time.Hour), Hours: 1})
			return err
		}, ErrUnknownArea},
		{"AcknowledgeAssignment someone else's", func() error {
			_, err := a.AcknowledgeAssignment(ctx, AcknowledgeInput{Ref: rf, Assignment: mine.ID, Staff: other.Staff, At: now})
			return err
		}, ErrBadInput},
		{"AcknowledgeAssignment unknown", func() error {
			_, err := a.AcknowledgeAssignment(ctx, AcknowledgeInput{Ref: rf, Assignment: 999999, Staff: mine.Staff, At: now})
			return err
		}, ErrNotFound},
		{"ReassignLapsed deadline in the past", func() error {
			_, err := a.ReassignLapsed(ctx, ReassignInput{Ref: rf, AreaID: longbao.ID, Now: now, AckBy: now})
			return err
		}, ErrBadInput},
		{"CheckSupply unknown commodity", func() error {
			_, err := a.CheckSupply(ctx, CheckSupplyInput{Ref: rf, AreaID: longbao.ID, Need: map[string]float64{"beer": 1}, MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(time.Hour)})
			return err
		}, ErrBadInput},
		{"CheckSupply absurd need", func() error {
			_, err := a.CheckSupply(ctx, CheckSupplyInput{Ref: rf, AreaID: longbao.ID, Need: map[string]float64{"milk": 500}, MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(time.Hour)})
			return err
		}, ErrBadInput},
		{"CheckSupply no area", func() error {
			_, err := a.CheckSupply(ctx, CheckSupplyInput{Ref: rf, Need: map[string]float64{"milk": 0.2}, MinDays: 3, TargetDays: 7, Now: now, Due: now.Add(time.Hour)})
			return err
		}, ErrBadInput},
		{"VolunteerDrive negative quota", func() error {
			_, err := a.VolunteerDrive(ctx, VolunteerDriveInput{Ref: rf, AreaID: longbao.ID, Quota: -1, ClosesAt: now})
			return err
		}, ErrBadInput},
	} {
		t.Run(c.name, func(t *testing.T) { checkAppError(t, c.name, c.call(), c.typ) })
	}
	if after := count(t, a, `SELECT count(*) FROM step_events`); after != before {
		t.Errorf("events after refused calls = %d, want %d (nothing written)", after, before)
	}
	if n := count(t, a, `SELECT count(*) FROM shipments`); n != 0 {
		t.Errorf("shipments after refused checks = %d, want 0", n)
	}
}
