package workflows

// A testing round's progress: counts per sampling point, the projected
// finish, the coverage gauge, the escalation of a round that is behind and
// the current details.

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/table"
)

func (rnd *round) points(pr *domain.RoundProgress) {
	rnd.p.Points = rnd.p.Points[:0]
	for _, pt := range rnd.plan.Points {
		ps := PointStatus{Code: pt.Code, Expected: pt.Expected, Capacity: pt.CapacityPerHour}
		if pr != nil {
			for _, q := range pr.Points {
				if q.SiteID == pt.SiteID {
					ps.Sampled = q.Sampled
					if h := q.LastAt.Sub(rnd.p.OpensAt).Hours() * rnd.p.TimeScale; h > 0 {
						ps.PerHour = float64(q.Sampled) / h
					}
				}
			}
		}
		if pt.CapacityPerHour > 0 {
			ps.Planned = rnd.p.OpensAt.Add(scenarioHours(float64(pt.Expected)/float64(pt.CapacityPerHour), rnd.p.TimeScale))
			rate := float64(pt.CapacityPerHour)
			if ps.PerHour > 0 {
				rate = ps.PerHour
			}
			left := float64(max(pt.Expected-ps.Sampled, 0))
			from := rnd.p.OpensAt
			if pr != nil && pr.LastAt.After(from) {
				from = pr.LastAt
			}
			ps.Projected = from.Add(scenarioHours(left/rate, rnd.p.TimeScale))
		}
		rnd.p.Points = append(rnd.p.Points, ps)
	}
}

// latestPoint is the point projected to finish last.
func (rnd *round) latestPoint() (PointStatus, bool) {
	var out PointStatus
	found := false
	for _, p := range rnd.p.Points {
		if !p.Projected.IsZero() && (!found || p.Projected.After(out.Projected)) {
			out, found = p, true
		}
	}
	return out, found
}

// update takes in a count and projects the finish from the rate so far.
func (rnd *round) update(ctx workflow.Context, pr domain.RoundProgress) {
	rnd.p.Sampled, rnd.p.Expected, rnd.p.Positives = pr.Sampled, pr.Expected, pr.Positives
	rnd.p.Cohorts, rnd.p.Visits = pr.Cohorts, pr.HomeVisits
	rnd.points(&pr)
	now := workflow.Now(ctx)
	elapsed := now.Sub(rnd.p.OpensAt)
	rnd.p.Projected, rnd.p.Behind = time.Time{}, false
	if pr.Sampled > 0 && elapsed > 0 && pr.Sampled < pr.Expected {
		rate := float64(pr.Sampled) / float64(elapsed)
		rnd.p.Projected = now.Add(time.Duration(float64(pr.Expected-pr.Sampled) / rate))
		rnd.p.Behind = rnd.p.Projected.After(rnd.p.Deadline)
	}
	// Nobody has come after a quarter of the round: behind, with no rate
	// to project from.
	if pr.Sampled == 0 && pr.Expected > 0 && elapsed > rnd.p.Deadline.Sub(rnd.p.OpensAt)/4 {
		rnd.p.Behind = true
	}
	state := StateRunning
	if rnd.p.Behind {
		state = StateOverdue
	}
	if !rnd.quietState || state != rnd.saState {
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
		rnd.saState = state
	}
	rnd.gauge(ctx)
	rnd.render(ctx)
}

// gauge reports the round's coverage to the worker's metrics, labelled with
// the area's code; a closed round is no longer behind.
func (rnd *round) gauge(ctx workflow.Context) {
	area := rnd.p.Area
	if rnd.in.Area != nil {
		area = rnd.in.Area.Code
	}
	gaugeRound(ctx, area, rnd.p.Incident, rnd.p.Round, rnd.p.Sampled, rnd.p.Expected, rnd.p.Behind && rnd.p.State != StateDone)
}

// escalate recommends another sampling point, with the numbers.
func (rnd *round) escalate(ctx workflow.Context) {
	capacity, per := 0, 0
	for _, p := range rnd.plan.Points {
		capacity += p.CapacityPerHour
	}
	if len(rnd.plan.Points) > 0 {
		per = capacity / len(rnd.plan.Points)
	}
	left := rnd.p.Expected - rnd.p.Sampled
	rate := float64(rnd.p.Sampled) / (workflow.Now(ctx).Sub(rnd.p.OpensAt).Hours() * rnd.p.TimeScale)
	if rate == 0 {
		body := fmt.Sprintf("Testing round %d of %s (incident %s) is behind: no sample has arrived since it opened at %s, with %d residents expected at %d points by %s. Check that the points are open and their stations upload; `muster testing status %s` shows each point.",
			rnd.p.Round, rnd.p.Area, rnd.in.Incident, rnd.clock(rnd.p.OpensAt).Format("15:04"), rnd.p.Expected, len(rnd.plan.Points), rnd.clock(rnd.p.Deadline).Format("15:04"), rnd.sw.id)
		_ = rnd.sw.r.run(ctx, "escalate", "Report a round with no samples", a.PublishNotice, activities.NoticeInput{
			Ref: rnd.sw.ref("muster"), Step: rnd.in.Path + "/behind", AreaID: rnd.in.Area.ID,
			Kind: fmt.Sprintf("testing/%d/behind", rnd.p.Round), Audience: "command center", Body: body,
			Message: MsgTestingBehind + "/no-samples", Args: map[string]string{"round": fmt.Sprint(rnd.p.Round), "area": rnd.p.Area, "incident": rnd.in.Incident, "opened": rnd.clock(rnd.p.OpensAt).Format("15:04"), "expected": fmt.Sprint(rnd.p.Expected), "points": fmt.Sprint(len(rnd.plan.Points)), "deadline": rnd.clock(rnd.p.Deadline).Format("15:04"), "response": rnd.sw.id},
		}, nil, func() string { return "no samples reported" })
		return
	}
	withOne := rate * float64(len(rnd.plan.Points)+1) / float64(max(len(rnd.plan.Points), 1))
	finishNow := rnd.clock(rnd.p.Projected)
	finishMore := rnd.clock(workflow.Now(ctx)).Add(time.Duration(float64(left) / withOne * float64(time.Hour)))
	body := fmt.Sprintf("Testing round %d of %s (incident %s) is behind: %d of %d sampled at %.0f an hour over %d points; at this rate it finishes at %s, after the deadline %s. Another sampling point (about %d an hour) would bring the finish to about %s. Open one with `muster testing add-point %s SITE`.",
		rnd.p.Round, rnd.p.Area, rnd.in.Incident, rnd.p.Sampled, rnd.p.Expected, rate, len(rnd.plan.Points),
		finishNow.Format("15:04"), rnd.clock(rnd.p.Deadline).Format("15:04"), per, finishMore.Format("15:04"), rnd.sw.id)
	key, args := MsgTestingBehind, map[string]string{"round": fmt.Sprint(rnd.p.Round), "area": rnd.p.Area, "incident": rnd.in.Incident, "sampled": fmt.Sprint(rnd.p.Sampled), "expected": fmt.Sprint(rnd.p.Expected), "rate": fmt.Sprintf("%.0f", rate), "points": fmt.Sprint(len(rnd.plan.Points)), "finish": finishNow.Format("15:04"), "deadline": rnd.clock(rnd.p.Deadline).Format("15:04"), "per": fmt.Sprint(per), "finish_more": finishMore.Format("15:04"), "response": rnd.sw.id}
	if pt, ok := rnd.latestPoint(); ok && rnd.evidence {
		key, args["point"], args["point_sampled"], args["point_expected"], args["point_rate"], args["point_finish"] = MsgTestingBehind+"/furthest", pt.Code, fmt.Sprint(pt.Sampled), fmt.Sprint(pt.Expected), fmt.Sprintf("%.0f", pt.PerHour), rnd.clock(pt.Projected).Format("15:04")
		body += fmt.Sprintf(" The point furthest behind is %s (%d of %d sampled, %.0f an hour, projected to finish at %s): open the new point in %s next to it, and it takes over part of %s's compounds.",
			pt.Code, pt.Sampled, pt.Expected, pt.PerHour, rnd.clock(pt.Projected).Format("15:04"), rnd.p.Area, pt.Code)
	}
	_ = rnd.sw.r.run(ctx, "escalate", "Recommend another sampling point", a.PublishNotice, activities.NoticeInput{
		Ref: rnd.sw.ref("muster"), Step: rnd.in.Path + "/behind", AreaID: rnd.in.Area.ID,
		Kind: fmt.Sprintf("testing/%d/behind", rnd.p.Round), Audience: "command center", Body: body, Message: key, Args: args,
	}, nil, func() string { return "recommended another point" })
}

// render writes the per-point table the Web UI shows.
func (rnd *round) render(ctx workflow.Context) {
	p := rnd.p
	var b strings.Builder
	fmt.Fprintf(&b, "**%s round %d**: %d / %d sampled · %d points", p.Area, p.Round, p.Sampled, p.Expected, len(p.Points))
	if !p.Projected.IsZero() {
		fmt.Fprintf(&b, " · projected finish %s", rnd.clock(p.Projected).Format("15:04"))
	}
	fmt.Fprintf(&b, " · deadline %s", rnd.clock(p.Deadline).Format("15:04"))
	if p.Behind && p.State != StateDone {
		b.WriteString(" · **behind**")
	}
	if p.Short != "" && p.State != StateDone {
		b.WriteString(" · **the plan cannot meet the deadline**: " + p.Short)
	}
	if p.Positives > 0 {
		fmt.Fprintf(&b, " · **%d positive**", p.Positives)
	}
	b.WriteString("\n\n")
	t := table.New("Point", "Sampled", "Expected", "Per hour", "Capacity", "Planned finish", "Projected finish")
	for _, pt := range p.Points {
		planned, projected := "", ""
		if !pt.Planned.IsZero() {
			planned = rnd.clock(pt.Planned).Format("15:04")
		}
		if !pt.Projected.IsZero() && p.State != StateDone {
			projected = rnd.clock(pt.Projected).Format("15:04")
		}
		t.Row(pt.Code, pt.Sampled, pt.Expected, fmt.Sprintf("%.0f", pt.PerHour), pt.Capacity, planned, projected)
	}
	t.Render(&b)
	fmt.Fprintf(&b, "\nHome visits: %d sampled, %d missed, %d pending", p.Visits.Sampled, p.Visits.Missed, p.Visits.Pending)
	if p.State == StateDone {
		fmt.Fprintf(&b, " · round closed, %d missing", p.Missing)
		if p.MinCoverage > 0 && !p.Clean {
			fmt.Fprintf(&b, " · **not clean: %s sampled (min %s)**", percent(p.Coverage), percent(p.MinCoverage))
		}
	}
	if p.Extended {
		fmt.Fprintf(&b, "\n\nExtended after an outage (%s lost)", p.Lost.Round(time.Minute))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// testingQuietStateChange gates setting a round's MusterStepState only when
// it changes: every set is an event in the round's history and a write to
// the server's visibility store, and a round set it at each activity's
// start and each coverage check, mostly to the value it already had.
const testingQuietStateChange = "testing-quiet-state"

// unchanged says the step runner's change of step name to state leaves
// the round's MusterStepState as it is and tells the response nothing:
// an activity starting while the round runs (or, behind, stays overdue),
// with no stall or recovery to report.
func (rnd *round) unchanged(name, state string) bool {
	if state != StateRunning || rnd.sw.r.ref(name).Stalls > 0 || rnd.sw.r.recovering(name) {
		return false
	}
	want := StateRunning
	if rnd.p.Behind && rnd.p.State == StateRunning {
		want = StateOverdue
	}
	return want == rnd.saState
}
