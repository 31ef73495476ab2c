// Package report builds the after-action report of a response from its
// event log and its records: a timeline of steps, planned against actual,
// charts of coverage, stock and findings, every intervention, every missed
// deadline, and the reference figures of a real day of the same kind.
package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/message"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// Options say how to present the records.
type Options struct {
	// Locale is the report's language (i18n.Locales).
	Locale string
	// TimeScale is the speed-up the response ran with: durations between
	// records are multiplied by it so hours read as the runbook's hours.
	// 0 or 1 means real time.
	TimeScale float64
	// References are the scenario's figures of a real day.
	References []scenario.ReferenceFigure
}

// Report is the after-action report, ready to render.
type Report struct {
	Locale      string
	Incident    string
	Runbook     string
	Level       int
	AreaPath    string
	State       string
	OpenedAt    time.Time
	ClosedAt    *time.Time
	GeneratedAt time.Time
	TimeScale   float64

	Steps         []StepSpan
	Interventions []domain.Event
	Rounds        []RoundSummary
	Missed        []Miss
	References    []ReferenceRow
	Charts        []Chart
	Shipments     int
	Findings      int
	FindingsOpen  int
	Events        []domain.Event

	p *message.Printer
}

// StepSpan is one step of one execution, from its first transition to its
// last.
type StepSpan struct {
	WorkflowID  string
	Step        string
	First, Last time.Time
	State       string
	Transitions int
}

// RoundSummary is a testing round's plan against what happened.
type RoundSummary struct {
	Area       string
	Round      int
	Population int
	Sampled    int
	Coverage   float64
	OpensAt    time.Time
	Deadline   time.Time
	// PlannedFinish is when the points' capacities would have sampled the
	// population; LastSample when the last sample was taken.
	PlannedFinish time.Time
	LastSample    *time.Time
	Points        []PointSummary
}

// PointSummary is one sampling point's plan against its work.
type PointSummary struct {
	Site     string
	Capacity int
	Expected int
	Sampled  int
	// Hours the point worked (round opening to its last sample), in
	// runbook hours; Rate its residents per point-hour over them.
	Hours float64
	Rate  float64
}

// Miss is something that was not done by its deadline.
type Miss struct {
	What     string
	Deadline time.Time
	// Done is when it was done; nil when it is still not done.
	Done *time.Time
	// Late is by how much, in runbook time.
	Late time.Duration
}

// ReferenceRow sets a figure of a real day beside the response's own.
type ReferenceRow struct {
	Label     string
	Metric    string
	Reference float64
	Actual    float64
	Source    string
}

// Build makes the report from the records.
func Build(cat *i18n.Catalogue, d store.ReportData, o Options) *Report {
	if !i18n.Valid(o.Locale) {
		o.Locale = i18n.Default
	}
	if o.TimeScale < 1 {
		o.TimeScale = 1
	}
	r := &Report{
		Locale: o.Locale, Incident: d.Response.Incident, Runbook: d.Response.Runbook, Level: d.Response.Level,
		AreaPath: d.Response.AreaPath, State: d.Response.State, OpenedAt: d.Response.OpenedAt, ClosedAt: d.Response.ClosedAt,
		GeneratedAt: d.ReadAt, TimeScale: o.TimeScale, Events: d.Events, Shipments: len(d.Shipments), Findings: len(d.Findings),
		p: cat.Printer(o.Locale),
	}
	scale := func(dur time.Duration) time.Duration { return time.Duration(float64(dur) * o.TimeScale) }
	r.Steps = steps(d.Events)
	for _, e := range d.Events {
		if notable[e.State] || (e.Actor != "muster" && e.Actor != "" && !routine[e.State]) {
			r.Interventions = append(r.Interventions, e)
		}
	}
	r.Missed = append(r.Missed, overdueSteps(d.Events, d.ReadAt, scale)...)
	for _, rd := range d.Rounds {
		r.Rounds = append(r.Rounds, summarize(rd, o.TimeScale))
		done := rd.ClosedAt
		if late := lateness(rd.Deadline, done, d.ReadAt); late > 0 {
			r.Missed = append(r.Missed, Miss{What: r.p.Sprintf("report.miss.round", rd.AreaName, rd.Round), Deadline: rd.Deadline, Done: done, Late: scale(late)})
		}
	}
	for _, s := range d.Shipments {
		if late := lateness(s.DueAt, s.DeliveredAt, d.ReadAt); late > 0 {
			r.Missed = append(r.Missed, Miss{What: r.p.Sprintf("report.miss.shipment", s.Commodity, s.Site), Deadline: s.DueAt, Done: s.DeliveredAt, Late: scale(late)})
		}
	}
	for _, f := range d.Findings {
		if f.ClosedAt == nil && f.State != "withdrawn" {
			r.FindingsOpen++
		}
		if f.DeadlineAt == nil || f.State == "withdrawn" {
			continue
		}
		if late := lateness(*f.DeadlineAt, f.ClosedAt, d.ReadAt); late > 0 {
			r.Missed = append(r.Missed, Miss{What: r.p.Sprintf("report.miss.finding", f.ID, f.Site, f.Category), Deadline: *f.DeadlineAt, Done: f.ClosedAt, Late: scale(late)})
		}
	}
	sort.SliceStable(r.Missed, func(i, j int) bool { return r.Missed[i].Deadline.Before(r.Missed[j].Deadline) })
	r.References = references(d, o)
	r.Charts = charts(r.p, d)
	return r
}

// notable are the transitions a reader of the report must see: stalls,
// operator decisions, skips and escalations.
var notable = map[string]bool{
	"stalled": true, "skipped": true, "aborted": true, "retry-requested": true, "paused": true, "resumed": true,
	"overdue": true, "escalated": true, "level-changed": true, "area-added": true, "lifting": true,
	"approved": true, "declined": true, "awaiting-decision": true, "failed": true,
}

// routine transitions are left out of the interventions even when a
// runbook or a person is their actor.
var routine = map[string]bool{"running": true, "done": true, "holding": true, "pending": true}

// steps folds the event log into one span per execution and step.
func steps(events []domain.Event) []StepSpan {
	index := map[string]int{}
	var out []StepSpan
	for _, e := range events {
		k := e.WorkflowID + "\x00" + e.Step
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, StepSpan{WorkflowID: e.WorkflowID, Step: e.Step, First: e.At, Last: e.At, State: e.State, Transitions: 1})
			continue
		}
		s := &out[i]
		s.Last, s.State = e.At, e.State
		s.Transitions++
	}
	return out
}

// finalStates end a step's race against its deadline: a seal is in time
// once it holds, though its step ends only when it is lifted.
var finalStates = map[string]bool{"done": true, "holding": true, "failed": true, "skipped": true, "aborted": true, "cancelled": true}

// overdueSteps finds the steps the response marked overdue, with the
// deadline their event names and when (if ever) they ended.
func overdueSteps(events []domain.Event, now time.Time, scale func(time.Duration) time.Duration) []Miss {
	var out []Miss
	for i, e := range events {
		if e.State != "overdue" {
			continue
		}
		deadline := e.At
		if _, after, ok := strings.Cut(e.Reason, "deadline "); ok {
			if t, err := time.Parse(time.RFC3339, strings.Fields(after)[0]); err == nil {
				deadline = t
			}
		}
		var done *time.Time
		for _, later := range events[i+1:] {
			if later.WorkflowID == e.WorkflowID && later.Step == e.Step && finalStates[later.State] {
				at := later.At
				done = &at
				break
			}
		}
		late := lateness(deadline, done, now)
		out = append(out, Miss{What: e.Step, Deadline: deadline, Done: done, Late: scale(late)})
	}
	return out
}

// lateness is how long after its deadline something was done, or is still
// not done at now; 0 when it was on time.
func lateness(deadline time.Time, done *time.Time, now time.Time) time.Duration {
	end := now
	if done != nil {
		end = *done
	}
	if end.After(deadline) {
		return end.Sub(deadline)
	}
	return 0
}

func summarize(rd store.ReportRound, timeScale float64) RoundSummary {
	s := RoundSummary{Area: rd.AreaName, Round: rd.Round, Population: rd.Population, Sampled: rd.Sampled,
		OpensAt: rd.OpensAt, Deadline: rd.Deadline, LastSample: rd.LastSample}
	if rd.Population > 0 {
		s.Coverage = float64(rd.Sampled) / float64(rd.Population)
	}
	capacity := 0
	for _, p := range rd.Points {
		capacity += p.Capacity
		ps := PointSummary{Site: p.Site, Capacity: p.Capacity, Expected: p.Expected, Sampled: p.Sampled}
		if p.LastSample != nil {
			ps.Hours = p.LastSample.Sub(rd.OpensAt).Hours() * timeScale
			if ps.Hours > 0 {
				ps.Rate = float64(p.Sampled) / ps.Hours
			}
		}
		s.Points = append(s.Points, ps)
	}
	atPoints := rd.Population - rd.HomeVisits
	if capacity > 0 {
		hours := float64(atPoints) / float64(capacity)
		s.PlannedFinish = rd.OpensAt.Add(time.Duration(hours / timeScale * float64(time.Hour)))
	}
	return s
}

// references sets each scenario figure that applies to this response
// beside the response's own figure.
func references(d store.ReportData, o Options) []ReferenceRow {
	area := d.Response.AreaPath
	if i := strings.LastIndex(area, "/"); i >= 0 {
		area = area[i+1:]
	}
	var out []ReferenceRow
	for _, f := range o.References {
		if f.Area != "" && f.Area != area {
			continue
		}
		out = append(out, ReferenceRow{Label: f.Label, Metric: f.Metric, Reference: f.Value, Actual: actual(d, f, o.TimeScale), Source: f.Source})
	}
	return out
}

// actual is the response's figure for a reference metric.
func actual(d store.ReportData, f scenario.ReferenceFigure, timeScale float64) float64 {
	var rounds []store.ReportRound
	for _, rd := range d.Rounds {
		if f.Round == 0 || rd.Round == f.Round {
			rounds = append(rounds, rd)
		}
	}
	switch f.Metric {
	case "testing.sampled":
		n := 0
		for _, rd := range rounds {
			n += rd.Sampled
		}
		return float64(n)
	case "testing.points":
		points := map[string]bool{}
		for _, rd := range rounds {
			for _, p := range rd.Points {
				points[p.Site] = true
			}
		}
		return float64(len(points))
	case "testing.hours":
		h := 0.0
		for _, rd := range rounds {
			if rd.LastSample != nil {
				h = max(h, rd.LastSample.Sub(rd.OpensAt).Hours()*timeScale)
			}
		}
		return h
	case "testing.rate":
		sampled, hours := 0, 0.0
		for _, rd := range rounds {
			for _, p := range rd.Points {
				if p.LastSample != nil {
					sampled += p.Sampled
					hours += p.LastSample.Sub(rd.OpensAt).Hours() * timeScale
				}
			}
		}
		if hours == 0 {
			return 0
		}
		return float64(sampled) / hours
	case "seal.compounds":
		return float64(d.SealedCompounds)
	case "seal.staff":
		return float64(d.CheckpointStaff)
	case "findings.opened":
		return float64(len(d.Findings))
	case "findings.closed":
		n := 0
		for _, f := range d.Findings {
			if f.ClosedAt != nil {
				n++
			}
		}
		return float64(n)
	}
	return 0
}

// charts draws coverage per point for each round, stock per commodity and
// findings opened against closed.
func charts(p *message.Printer, d store.ReportData) []Chart {
	var out []Chart
	for _, rd := range d.Rounds {
		c := Chart{Title: p.Sprintf("report.chart.coverage", rd.AreaName, rd.Round), Unit: p.Sprintf("report.unit.residents"),
			Marks: []Mark{{At: rd.Deadline, Label: p.Sprintf("report.deadline")}}}
		for _, pt := range rd.Points {
			s := Series{Name: pt.Site, Points: []Point{{At: rd.OpensAt, Value: 0}}}
			for b, n := range pt.Cumulative {
				s.Points = append(s.Points, Point{At: rd.BucketEdges[b], Value: float64(n)})
			}
			c.Series = append(c.Series, s)
		}
		out = append(out, c)
	}
	if len(d.Stock) > 0 {
		out = append(out, stockChart(p, d.Stock, d.ReadAt))
	}
	if len(d.Findings) > 0 {
		out = append(out, findingsChart(p, d.Findings, d.ReadAt))
	}
	return out
}

// stockChart sums the suppliers' stock of each commodity after every
// change of one of them.
func stockChart(p *message.Printer, readings []store.StockReading, now time.Time) Chart {
	c := Chart{Title: p.Sprintf("report.chart.stock"), Unit: p.Sprintf("report.unit.tonnes")}
	level := map[string]map[string]float64{}
	series := map[string]*Series{}
	var order []string
	for _, r := range readings {
		if level[r.Commodity] == nil {
			level[r.Commodity] = map[string]float64{}
			series[r.Commodity] = &Series{Name: r.Commodity}
			order = append(order, r.Commodity)
		}
		level[r.Commodity][r.Site] = r.Tonnes
		total := 0.0
		for _, t := range level[r.Commodity] {
			total += t
		}
		s := series[r.Commodity]
		if n := len(s.Points); n > 0 && s.Points[n-1].At.Equal(r.At) {
			s.Points[n-1].Value = total
		} else {
			s.Points = append(s.Points, Point{At: r.At, Value: total})
		}
	}
	sort.Strings(order)
	for _, k := range order {
		// Each level holds until the records were read.
		s := series[k]
		s.Points = append(s.Points, Point{At: now, Value: s.Points[len(s.Points)-1].Value})
		c.Series = append(c.Series, *s)
	}
	return c
}

// findingsChart counts findings opened and closed up to each change.
func findingsChart(p *message.Printer, fs []store.ReportFinding, now time.Time) Chart {
	type change struct {
		at     time.Time
		opened int
		closed int
	}
	var cs []change
	for _, f := range fs {
		cs = append(cs, change{at: f.OpenedAt, opened: 1})
		if f.ClosedAt != nil {
			cs = append(cs, change{at: *f.ClosedAt, closed: 1})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].at.Before(cs[j].at) })
	opened := Series{Name: p.Sprintf("report.findings.opened")}
	closed := Series{Name: p.Sprintf("report.findings.closed")}
	o, c := 0, 0
	for _, ch := range cs {
		o += ch.opened
		c += ch.closed
		opened.Points = append(opened.Points, Point{At: ch.at, Value: float64(o)})
		closed.Points = append(closed.Points, Point{At: ch.at, Value: float64(c)})
	}
	opened.Points = append(opened.Points, Point{At: now, Value: float64(o)})
	closed.Points = append(closed.Points, Point{At: now, Value: float64(c)})
	return Chart{Title: p.Sprintf("report.chart.findings"), Unit: p.Sprintf("report.unit.findings"), Series: []Series{opened, closed}}
}

// T prints a catalogue message in the report's language.
func (r *Report) T(key string, args ...any) string { return r.p.Sprintf(key, args...) }

// Duration prints a duration in hours and minutes.
func Duration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	if h == 0 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%02dm", h, m)
}
