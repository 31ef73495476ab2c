package workflows

// Setting up a seal: the steps that seal a compound, and the texts of the
// notice that tells its residents.

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// setUp runs the steps that seal the compound.
func (s *seal) setUp(ctx workflow.Context) error {
	if err := s.r.run(ctx, "plan", "Read the compound's gates and roads",
		a.PlanSeal, activities.PlanSealInput{Ref: s.ref(s.in.RequestedBy), Compound: s.in.Compound, Runbook: s.in.Runbook, Level: s.in.Level},
		&s.plan, func() string {
			return fmt.Sprintf("%d gates, %d roads, %d residents", len(s.plan.Gates), len(s.plan.Roads), s.plan.Residents)
		}); err != nil {
		return err
	}
	s.progress.Compound, s.progress.CompoundName, s.progress.AreaPath, s.progress.Residents =
		s.plan.Code, s.plan.Name, s.plan.Path, s.plan.Residents
	if err := s.upsert(ctx, SAAreaPath.ValueSet(domain.PathPrefixes(s.plan.Path))); err != nil {
		return err
	}

	body := fmt.Sprintf("%s is sealed from now (incident %s). Enter and leave only through the checkpoint at %s%s. Stay at home except for testing; staff at the gates will help with deliveries and emergencies.",
		s.plan.Name, s.in.Incident, entranceName(s.plan.Gates), roadsClause(s.plan.Roads))
	announced := activities.NoticeInput{Ref: s.ref("muster"), Step: "notify-residents", AreaID: s.plan.AreaID,
		Kind: "seal-announced", Audience: "residents of " + s.plan.Name, Body: body}
	if s.quick || workflow.GetVersion(ctx, noticeMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		announced.Message, announced.Args = sealAnnouncedMessage(s.in.Incident, s.plan)
	}
	if err := s.r.run(ctx, "notify-residents", "Notify residents of the seal",
		a.PublishNotice, announced,
		nil, func() string { return "seal notice in the outbox" }); err != nil {
		return err
	}

	if err := s.checkpoints(ctx); err != nil {
		return err
	}

	var roads activities.CloseRoadsResult
	if err := s.r.run(ctx, "close-roads", "Close roads except the entrance",
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
	if err := s.r.run(ctx, "disinfect", "Disinfect public areas",
		a.Disinfect, activities.DisinfectInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Zones: s.plan.PublicAreas, Round: 1},
		&dis, func() string { return fmt.Sprintf("%d zones done", dis.Zones) }); err != nil {
		return err
	}
	s.progress.Zones = dis.Zones
	s.progress.Phase = PhaseSealed
	s.progress.SealedAt = workflow.Now(ctx)
	return nil
}

// checkpoints opens a checkpoint at every gate at once: a quick seal in
// one activity for all gates (openAtOnce), then each gate left, and every
// gate of older seals, in an activity of its own.
func (s *seal) checkpoints(ctx workflow.Context) error {
	s.progress.Checkpoints = make([]CheckpointProgress, len(s.plan.Gates))
	left := make([]int, len(s.plan.Gates))
	for i, g := range s.plan.Gates {
		mode := "closed"
		if g.Entrance {
			mode = "entry"
		}
		s.progress.Checkpoints[i] = CheckpointProgress{Gate: g.Code, Name: g.Name, Mode: mode, Required: s.in.StaffPerCheckpoint}
		left[i] = i
	}
	var failed map[int]error
	if s.quick {
		left, failed = s.openAtOnce(ctx)
	}
	errs := make([]error, len(left))
	wg := workflow.NewWaitGroup(ctx)
	for k, i := range left {
		g, mode := s.plan.Gates[i], s.progress.Checkpoints[i].Mode
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			var res activities.CheckpointResult
			errs[k] = s.r.runAfter(ctx, "checkpoint/"+g.Code, fmt.Sprintf("Checkpoint at %s (%s)", g.Name, mode),
				a.OpenCheckpoint, activities.CheckpointInput{Ref: s.ref("muster"), AreaID: s.plan.AreaID, Gate: g, RequiredStaff: s.in.StaffPerCheckpoint},
				&res, func() string { return s.checkpointDetail(res) }, failed[i])
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

// checkpointDetail says how a checkpoint is staffed: "1 of 2 staff (1 short)".
func (s *seal) checkpointDetail(res activities.CheckpointResult) string {
	d := fmt.Sprintf("%d of %d staff", len(res.Staff), s.in.StaffPerCheckpoint)
	if res.Shortfall > 0 {
		d += fmt.Sprintf(" (%d short)", res.Shortfall)
	}
	return d
}

// entranceName is the gate residents pass through while the compound is
// sealed.
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

// roadsClause says which roads close and which stays open, for the notice.
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
