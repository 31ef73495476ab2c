package service

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/musterhq/muster/internal/plan"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// maxAddedPoints bounds the points a capacity warning proposes: past it
// the advice is no longer "add points" but "change the plan".
const maxAddedPoints = 50

// TestingCapacityWarnings says, before a response starts, which of the
// runbook's testing rounds over the response's area cannot finish by its
// deadline with the area's sampling points (planned as the round would
// plan them): the area, the projected finish against the deadline, and
// how many more points of what capacity would meet it. Steps inside a
// for_each run over areas chosen as the response runs and are not
// previewed; their rounds warn as they open.
func TestingCapacityWarnings(ctx context.Context, st *store.Store, def *runbook.Definition, area store.Area) ([]string, error) {
	var out []string
	var pv *store.PlanPreview
	for _, ts := range testingSteps(def.Steps, "") {
		if pv == nil {
			p, err := st.PreviewPlan(ctx, area.ID)
			if err != nil {
				return nil, err
			}
			pv = &p
		}
		if w := capacityWarning(*pv, ts, area); w != "" {
			out = append(out, w)
		}
	}
	return out, nil
}

// testingStep is a mass-testing step over the response's area and its
// deadline.
type testingStep struct {
	path     string
	deadline time.Duration
}

// testingSteps lists the mass-testing steps outside any for_each.
func testingSteps(steps []runbook.Step, prefix string) []testingStep {
	var out []testingStep
	for _, st := range steps {
		path := prefix + st.ID
		if st.Kind == workflows.KindMassTesting {
			if d, err := runbook.ParseDuration(fmt.Sprint(st.Params["deadline"])); err == nil && d.D() > 0 {
				out = append(out, testingStep{path: path, deadline: d.D()})
			}
		}
		out = append(out, testingSteps(st.Sequence, path+"/")...)
		out = append(out, testingSteps(st.Parallel, path+"/")...)
		if st.Repeat != nil {
			out = append(out, testingSteps(st.Repeat.Steps, path+"/")...)
		}
	}
	return out
}

// capacityWarning is the warning for one step, empty when its round can
// finish in time (or expects nobody at a point).
func capacityWarning(pv store.PlanPreview, ts testingStep, area store.Area) string {
	work := 0
	for _, u := range pv.Units {
		work += u.Size
	}
	hours := ts.deadline.Hours()
	where := fmt.Sprintf("Testing: step %s over %s (%s)", ts.path, area.Name, area.Code)
	if work == 0 {
		return ""
	}
	if len(pv.Points) == 0 {
		return fmt.Sprintf("%s: %d residents come to sampling points, and the area has none (add sites of kind sampling-point); the round cannot open.", where, work)
	}
	res := plan.Assign(pv.Points, pv.Units)
	if res.Makespan() <= hours {
		return ""
	}
	capacity := 0
	for _, p := range pv.Points {
		capacity += p.Capacity
	}
	last := 0
	for i, f := range res.Finish {
		if f > res.Finish[last] {
			last = i
		}
	}
	per := max((capacity+len(pv.Points)/2)/len(pv.Points), 1)
	more, finish := addPoints(pv.Points, pv.Units, hours, per)
	msg := fmt.Sprintf("%s: the plan finishes after %s, past its %s deadline: %d residents come to %d sampling points (%d an hour together); %s (%d an hour) finishes last.",
		where, hoursText(ceilMinutes(res.Makespan())), hoursText(ts.deadline), work, len(pv.Points), capacity, pv.Codes[last], pv.Points[last].Capacity)
	if more > maxAddedPoints {
		return fmt.Sprintf("%s Even %d more points of %d an hour would not finish it in time: lengthen the deadline or split the area.", msg, maxAddedPoints, per)
	}
	return fmt.Sprintf("%s %d more sampling point(s) of %d an hour would finish it after %s.", msg, more, per, hoursText(ceilMinutes(finish)))
}

// ceilMinutes is hours of work as a duration, up to the next minute: a
// plan 30 seconds past its deadline is said to be past it.
func ceilMinutes(hours float64) time.Duration {
	return time.Duration(math.Ceil(hours*60-1e-9)) * time.Minute
}

// hoursText writes a duration as a runbook does: 5h, 7h30m, 45m.
func hoursText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// addPoints adds points of capacity per, each beside the point that
// finishes last (in its group), until the plan finishes within hours; it
// returns how many it took (more than maxAddedPoints when that is not
// enough) and the plan's finish with them.
func addPoints(points []plan.Point, units []plan.Unit, hours float64, per int) (int, float64) {
	ps := slices.Clone(points)
	for added := 0; ; added++ {
		res := plan.Assign(ps, units)
		if res.Makespan() <= hours || added > maxAddedPoints {
			return added, res.Makespan()
		}
		last := 0
		for i, f := range res.Finish {
			if f > res.Finish[last] {
				last = i
			}
		}
		ps = append(ps, plan.Point{Capacity: per, Group: ps[last].Group})
	}
}
