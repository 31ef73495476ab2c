package workflows

// A staff-supply step's supplies: stock checked against days of supply per
// area, shortages escalated, and the current details.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/table"
)

// check runs a supply check and escalates late shipments and stock that
// stays low.
func (s *supply) check(ctx workflow.Context, sp supplyParams) error {
	s.p.Checks++
	now := workflow.Now(ctx)
	var st domain.SupplyStatus
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
		body := fmt.Sprintf("Shortage risk in %s (incident %s): shipment %d of %g t of %s to %s was due at %s and has not been confirmed delivered. Chase the supplier, or confirm it with `muster supply deliver %d --tonnes T`.",
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
	b.WriteString("\n\n")
	t := table.New("Area", "Commodity", "Stock (t)", "Need (t/day)", "Days", "Restock")
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
		t.Row(l.Area, l.Commodity, fmt.Sprintf("%.1f", l.Stock), fmt.Sprintf("%.2f", l.NeedPerDay), days, order)
	}
	t.Render(&b)
	fmt.Fprintf(&b, "\n%d restock orders · %d delivered · %d late · %d escalations", p.Orders, p.Delivered, p.Late, len(p.Escalations))
	workflow.SetCurrentDetails(ctx, b.String())
}
