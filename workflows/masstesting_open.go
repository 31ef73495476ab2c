package workflows

// Opening a testing round: its sampling points, the cohorts called in
// priority order into time slots, and a warning when the plan cannot meet
// the deadline.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/plan"
)

// open opens the round, calls the cohorts and assigns the home visits.
func (rnd *round) open(ctx workflow.Context, number int) error {
	in := rnd.in
	if err := rnd.sw.r.run(ctx, "open-round", fmt.Sprintf("Open testing round %d of %s", number, in.Area.Name), a.OpenRound,
		activities.OpenRoundInput{Ref: rnd.sw.ref("muster"), AreaID: in.Area.ID, Round: number, OpensAt: rnd.p.OpensAt, Deadline: rnd.p.Deadline,
			LateGrace: scaled(paramDuration(in.Params, "grace"), in.TimeScale)},
		&rnd.plan, func() string {
			return fmt.Sprintf("%d residents, %d points, %d home visits", rnd.plan.Expected, len(rnd.plan.Points), rnd.plan.HomeVisits)
		}); err != nil {
		return err
	}
	rnd.p.RoundID, rnd.p.Expected = rnd.plan.RoundID, rnd.plan.Expected
	priority := strings.Split(paramString(in.Params, "cohorts"), ",")
	rnd.p.Slots = cohortSlots(rnd.plan, priority, rnd.p.OpensAt, in.TimeScale)
	// Rounds before this version called every cohort in the step's order;
	// only plans with sites that list their own cohorts reach the check.
	if len(rnd.plan.SiteCohorts) > 0 && workflow.GetVersion(ctx, "testing-site-cohorts", workflow.DefaultVersion, 1) >= 1 {
		rnd.p.Slots = siteCohortSlots(rnd.plan, priority, rnd.p.OpensAt, in.TimeScale)
	}
	rnd.points(nil)
	if rnd.evidence {
		rnd.warnShort(ctx)
	}

	messages := len(rnd.p.Slots) > 0 && workflow.GetVersion(ctx, testingMessagesChange, workflow.DefaultVersion, 1) >= 1
	for _, s := range rnd.p.Slots {
		from, to := rnd.clock(s.From).Format("15:04"), rnd.clock(s.To).Format("15:04")
		// A site's cohort is called by the site's name, under its code.
		key, where, of := s.Cohort, in.Area.Name, in.Area.Name
		if s.Site != "" {
			key, where, of = s.Site+"/"+s.Cohort, s.SiteName+" ("+in.Area.Name+")", s.SiteName
		}
		body := fmt.Sprintf("Testing round %d of %s (incident %s): %s residents, please come to your sampling point between %s and %s. Residents who cannot come are visited at home.",
			number, where, in.Incident, s.Cohort, from, to)
		call := activities.NoticeInput{
			Ref: rnd.sw.ref("muster"), Step: in.Path + "/call/" + key, AreaID: in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/%s", number, key), Audience: s.Cohort + "s of " + of, Body: body,
		}
		if messages {
			call.Message, call.Args = MsgTestingCall, map[string]string{"round": fmt.Sprint(number), "area": where,
				"incident": in.Incident, "cohort": s.Cohort, "from": from, "to": to}
		}
		if err := rnd.sw.r.run(ctx, "call/"+key, "Call "+s.Cohort+" of "+of, a.PublishNotice, call,
			nil, func() string { return fmt.Sprintf("%d called", s.Expected) }); err != nil {
			return err
		}
	}
	var visits int
	if err := rnd.sw.r.run(ctx, "home-visits", "Assign home visits to grid workers", a.AssignHomeVisits,
		activities.RoundRef{Ref: rnd.sw.ref("muster"), RoundID: rnd.plan.RoundID}, &visits,
		func() string { return fmt.Sprintf("%d residents to visit", visits) }); err != nil {
		return err
	}

	return nil
}

// warnShort tells the command center, as the round opens, when its plan
// cannot meet the deadline: which point finishes last, and how many more
// points of the round's usual capacity would let it finish in time.
func (rnd *round) warnShort(ctx workflow.Context) {
	last, ok := rnd.latestPoint()
	if !ok || !last.Planned.After(rnd.p.Deadline) {
		return
	}
	var ps []plan.Point
	work, capacity := 0, 0
	for _, p := range rnd.plan.Points {
		ps = append(ps, plan.Point{Capacity: p.CapacityPerHour, Load: p.Expected})
		work += p.Expected
		capacity += p.CapacityPerHour
	}
	per := capacity / max(len(ps), 1)
	hours := rnd.p.Deadline.Sub(rnd.p.OpensAt).Hours() * rnd.p.TimeScale
	more := plan.Needed(ps, nil, hours, per)
	advice := fmt.Sprintf("%d more sampling point(s) of about %d an hour would let it finish by %s", more, per, rnd.clock(rnd.p.Deadline).Format("15:04"))
	if more == 0 {
		advice = "the points together have the capacity: move compounds from the last point to the others (`muster testing add-point` rebalances)"
	}
	rnd.p.Short = advice
	body := fmt.Sprintf("The plan of testing round %d of %s (incident %s) cannot meet its deadline %s: %d residents over %d points (%d an hour together); %s (%d an hour, %d residents) finishes last, at %s. %s.",
		rnd.p.Round, rnd.p.Area, rnd.in.Incident, rnd.clock(rnd.p.Deadline).Format("15:04"), work, len(ps), capacity,
		last.Code, last.Capacity, last.Expected, rnd.clock(last.Planned).Format("15:04"), advice)
	n := activities.NoticeInput{
		Ref: rnd.sw.ref("muster"), Step: rnd.in.Path + "/plan-short", AreaID: rnd.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/plan-short", rnd.p.Round), Audience: "command center", Body: body,
	}
	if workflow.GetVersion(ctx, escalationMessagesChange, workflow.DefaultVersion, 1) >= 1 {
		key := MsgTestingPlanShort + "/more-points"
		if more == 0 {
			key = MsgTestingPlanShort + "/rebalance"
		}
		n.Message, n.Args = key, map[string]string{"round": fmt.Sprint(rnd.p.Round), "area": rnd.p.Area, "incident": rnd.in.Incident,
			"deadline": rnd.clock(rnd.p.Deadline).Format("15:04"), "residents": fmt.Sprint(work), "points": fmt.Sprint(len(ps)),
			"capacity": fmt.Sprint(capacity), "last": last.Code, "last_capacity": fmt.Sprint(last.Capacity),
			"last_residents": fmt.Sprint(last.Expected), "last_at": rnd.clock(last.Planned).Format("15:04"),
			"more": fmt.Sprint(more), "per": fmt.Sprint(per)}
	}
	_ = rnd.sw.r.run(ctx, "plan-short", "Tell the command center the plan cannot meet the deadline", a.PublishNotice, n,
		nil, func() string { return advice })
}

// cohortSlots calls cohorts in priority order, each for as long as the
// points need to sample it at their capacity.
func cohortSlots(plan domain.RoundPlan, priority []string, opens time.Time, scale float64) []CohortSlot {
	capacity := 0
	for _, p := range plan.Points {
		capacity += p.CapacityPerHour
	}
	return layOutSlots(orderCohorts(plan.Cohorts, priority), float64(capacity), opens, scale)
}

// orderCohorts sorts cohorts by priority (a list of names, first called
// first); cohorts it does not name come after, by name.
func orderCohorts(counts []domain.CohortCount, priority []string) []domain.CohortCount {
	rank := map[string]int{}
	for i, c := range priority {
		if c = strings.TrimSpace(c); c != "" {
			rank[c] = i + 1
		}
	}
	cohorts := append([]domain.CohortCount(nil), counts...)
	sort.SliceStable(cohorts, func(i, j int) bool {
		ri, rj := rank[cohorts[i].Cohort], rank[cohorts[j].Cohort]
		if ri == 0 {
			ri = len(rank) + 1
		}
		if rj == 0 {
			rj = len(rank) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return cohorts[i].Cohort < cohorts[j].Cohort
	})
	return cohorts
}

// layOutSlots gives the cohorts, in order, one slot after another from
// opens, each as long as capacity (residents an hour) needs to sample it,
// at least a quarter of an hour.
func layOutSlots(cohorts []domain.CohortCount, capacity float64, opens time.Time, scale float64) []CohortSlot {
	var out []CohortSlot
	at := opens
	for _, c := range cohorts {
		if c.Count == 0 {
			continue
		}
		hours := 1.0
		if capacity > 0 {
			hours = math.Max(float64(c.Count)/capacity, 0.25)
		}
		d := scaled(time.Duration(hours*float64(time.Hour)), scale)
		out = append(out, CohortSlot{Cohort: c.Cohort, Expected: c.Count, From: at, To: at.Add(d)})
		at = at.Add(d)
	}
	return out
}

// clock turns workflow time into scenario time: with a time scale the
// round's hours pass in seconds, and supervisors read scenario hours.
func (rnd *round) clock(at time.Time) time.Time {
	return rnd.p.OpensAt.Add(time.Duration(float64(at.Sub(rnd.p.OpensAt)) * rnd.p.TimeScale))
}

// scenarioHours is a duration of scenario hours in workflow time.
func scenarioHours(h float64, scale float64) time.Duration {
	return time.Duration(h * float64(time.Hour) / max(scale, 1))
}
