package workflows

// What an inspection shows: the findings tallied per sub-district and unit,
// its search attribute, metrics, outputs and the current details.

import (
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/table"
)

// tally recounts the findings per sub-district and unit, groups shared
// problems, and refreshes the metrics, the search attribute and current
// details.
func (insp *inspection) tally(ctx workflow.Context) {
	bySub, byUnit, total, groups := insp.count()
	insp.p.Total = total
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"incident": insp.in.Incident})
	m.Gauge(MetricFindingsOpen).Update(float64(total.Open))
	overdueOpen := 0
	for _, f := range insp.p.Open {
		if f.Overdue {
			overdueOpen++
		}
	}
	m.Gauge(MetricFindingsOverdue).Update(float64(overdueOpen))
	insp.p.BySubDistrict, insp.p.ByUnit = flatten(bySub), flatten(byUnit)
	insp.p.Groups = nil
	for _, g := range groups {
		if len(g.Sites) > 1 {
			insp.p.Groups = append(insp.p.Groups, *g)
		}
	}
	sort.Slice(insp.p.Groups, func(i, j int) bool {
		a, b := insp.p.Groups[i], insp.p.Groups[j]
		if len(a.Sites) != len(b.Sites) {
			return len(a.Sites) > len(b.Sites)
		}
		return a.Unit+a.Category < b.Unit+b.Category
	})
	state := StateRunning
	if total.Overdue > 0 && total.Open > 0 {
		state = StateOverdue
	}
	if insp.ready {
		state = StateDone
	}
	if len(insp.p.Unreported) > 0 {
		state = StateOverdue
	}
	if state != insp.saState {
		insp.saState = state
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStepState.ValueSet(state))
	}
	insp.sw.detail = insp.summary()
	insp.render(ctx)
}

// count counts the findings per sub-district, per unit and in all, and
// groups them by unit and category, in the order of their IDs; the open
// findings go to the progress's open list.
func (insp *inspection) count() (bySub, byUnit map[string]*domain.Tally, total domain.Tally, groups []*domain.FindingGroup) {
	bySub, byUnit = map[string]*domain.Tally{}, map[string]*domain.Tally{}
	total = domain.Tally{Key: "total"}
	type gkey struct{ unit, category string }
	byKey := map[gkey]*domain.FindingGroup{}
	insp.p.Open = nil
	for _, id := range insp.findingIDs() {
		f := insp.findings[id]
		for _, tl := range []*domain.Tally{entry(bySub, f.SubDistrict), entry(byUnit, f.Unit), &total} {
			tl.Found++
			switch {
			case f.State == domain.FindingClosed:
				tl.Rectified++
			case f.State == domain.FindingWithdrawn:
				tl.Withdrawn++
			case f.Open():
				tl.Open++
			}
			if f.Overdue {
				tl.Overdue++
			}
			if f.Escalated {
				tl.Escalated++
			}
		}
		g := byKey[gkey{f.Unit, f.Category}]
		if g == nil {
			g = &domain.FindingGroup{Unit: f.Unit, Category: f.Category}
			byKey[gkey{f.Unit, f.Category}] = g
			groups = append(groups, g)
		}
		if !contains(g.Sites, f.Site) {
			g.Sites = append(g.Sites, f.Site)
		}
		if f.Open() {
			g.Open++
			insp.p.Open = append(insp.p.Open, *f)
		}
	}
	return bySub, byUnit, total, groups
}

func entry(m map[string]*domain.Tally, key string) *domain.Tally {
	if m[key] == nil {
		m[key] = &domain.Tally{Key: key}
	}
	return m[key]
}

func flatten(m map[string]*domain.Tally) []domain.Tally {
	out := make([]domain.Tally, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, *m[k])
	}
	return out
}

func (insp *inspection) summary() string {
	tl := insp.p.Total
	out := fmt.Sprintf("round %d: %d of %d sites reported", insp.p.Round, insp.p.Reported, len(insp.sites))
	if n := len(insp.p.Unreported); n > 0 {
		out += fmt.Sprintf(" · %d sites unreported by the last close, escalated", n)
	}
	out += fmt.Sprintf(" · %d findings: %d rectified, ", tl.Found, tl.Rectified)
	if tl.Withdrawn > 0 {
		out += fmt.Sprintf("%d withdrawn, ", tl.Withdrawn)
	}
	return out + fmt.Sprintf("%d open, %d overdue, %d escalated", tl.Open, tl.Overdue, tl.Escalated)
}

func (insp *inspection) outputs() map[string]float64 {
	tl := insp.p.Total
	return map[string]float64{
		"found": float64(tl.Found), "rectified": float64(tl.Rectified), "open": float64(tl.Open),
		"overdue": float64(tl.Overdue), "escalated": float64(tl.Escalated), "rounds": float64(insp.p.Round),
		"withdrawn": float64(tl.Withdrawn),
	}
}

// render writes the per-sub-district table the Web UI shows.
func (insp *inspection) render(ctx workflow.Context) {
	p := insp.p
	var b strings.Builder
	fmt.Fprintf(&b, "**Inspection of %s**, round %d (%s) · %d / %d sites reported · %d findings: %d rectified, %d open",
		p.Area, p.Round, p.RoundState, p.Reported, len(p.Sites), p.Total.Found, p.Total.Rectified, p.Total.Open)
	if p.Total.Overdue > 0 {
		fmt.Fprintf(&b, " · **%d overdue**", p.Total.Overdue)
	}
	if p.Total.Escalated > 0 {
		fmt.Fprintf(&b, " · %d talks", p.Total.Escalated)
	}
	if p.Schedule != "" {
		fmt.Fprintf(&b, " · a round every %s (schedule %s)", p.Every, p.Schedule)
	}
	b.WriteString("\n\n")
	t := table.New("Sub-district", "Found", "Rectified", "Open", "Overdue", "Escalated")
	for _, tl := range p.BySubDistrict {
		t.Row(tl.Key, tl.Found, tl.Rectified, tl.Open, tl.Overdue, tl.Escalated)
	}
	t.Render(&b)
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "\nShared: %s at %d sites of %s (%d open)", g.Category, len(g.Sites), g.Unit, g.Open)
	}
	if len(p.Open) > 0 {
		b.WriteString("\n\nOpen: ")
		for i, f := range p.Open {
			if i == 10 {
				fmt.Fprintf(&b, " … and %d more", len(p.Open)-10)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "#%d %s (%s)", f.ID, f.Site, f.State)
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
