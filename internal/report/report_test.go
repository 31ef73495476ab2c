package report_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/report"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var cst = time.FixedZone("CST", 8*3600)

// Longbao's first round: 17:00 to midnight on 3 April 2022.
var (
	opens    = time.Date(2022, 4, 3, 17, 0, 0, 0, cst)
	deadline = time.Date(2022, 4, 4, 0, 0, 0, 0, cst)
)

// respondedStore is the reference district with a Longbao response: a
// testing round with 600 samples over its four points, a stock report, and
// a step that stalled, was skipped by an operator and one that finished
// 90 minutes after its deadline.
func respondedStore(t *testing.T) (*store.Store, *scenario.File) {
	t.Helper()
	ctx := context.Background()
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	s := pgtest.New(t)
	if _, err := s.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	longbao, err := s.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	const inc = "xd-r1"
	wf := "response/" + inc
	ev := func(step, state, reason, actor string) domain.Event {
		return domain.Event{Incident: inc, WorkflowID: wf, Step: step, State: state, Reason: reason, Actor: actor}
	}
	if err := s.OpenResponse(ctx, store.Response{Incident: inc, Runbook: "community-outbreak-level-1", Level: 1, AreaPath: longbao.Path}, ev("response", "open", "", "")); err != nil {
		t.Fatal(err)
	}
	plan, err := s.OpenRound(ctx, inc, longbao.ID, 1, opens, deadline, ev("testing/round-1", "running", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	roster, err := s.Roster(ctx, plan.RoundID, 0, 2000)
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.SampleRow
	for _, r := range roster {
		if r.HomeVisit || len(rows) == 600 {
			continue
		}
		rows = append(rows, store.SampleRow{Tube: "T" + r.Code, Resident: r.Code, Point: r.Point,
			TakenAt: opens.Add(time.Duration(len(rows)) * 30 * time.Second)})
	}
	if res, err := s.IngestSamples(ctx, store.IngestBatch{Incident: inc, Rows: rows}); err != nil || res.Accepted != 600 {
		t.Fatalf("IngestSamples() = %+v, %v; want 600 accepted", res, err)
	}
	if _, err := s.ReportStock(ctx, "", []store.StockRow{{Site: "meiteihao-kangning", Commodity: "vegetables", Tonnes: 1.25}}, "test"); err != nil {
		t.Fatal(err)
	}
	overdueBy := time.Now().Add(-90 * time.Minute).UTC().Format(time.RFC3339)
	for _, e := range []domain.Event{
		ev("notify-residents", "running", "Tell residents", ""),
		ev("notify-residents", "done", "", ""),
		ev("supply", "running", "", ""),
		ev("supply", "stalled", "check-supply: retries ran out 1 times: supplier feed down", ""),
		ev("supply", "skipped", "supplies handled by the street office by phone", "lin.wei"),
		ev("testing", "overdue", "not done by its deadline "+overdueBy, ""),
		ev("testing", "done", "", ""),
	} {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	return s, ref
}

func TestReportData(t *testing.T) {
	s, _ := respondedStore(t)
	d, err := s.ReportData(context.Background(), "xd-r1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Scenario != "xiaodian-2022-04" || d.Response.Runbook != "community-outbreak-level-1" || len(d.Events) != 9 {
		t.Errorf("ReportData() = scenario %q runbook %q, %d events; want xiaodian-2022-04, community-outbreak-level-1, 9", d.Scenario, d.Response.Runbook, len(d.Events))
	}
	if len(d.Rounds) != 1 || d.Rounds[0].Sampled != 600 || len(d.Rounds[0].Points) != 4 {
		t.Fatalf("ReportData().Rounds = %+v, want one round of 600 samples at 4 points", d.Rounds)
	}
	r := d.Rounds[0]
	sum := 0
	for _, p := range r.Points {
		last := p.Cumulative[len(p.Cumulative)-1]
		if last != p.Sampled {
			t.Errorf("point %s: cumulative ends at %d, want its %d samples", p.Site, last, p.Sampled)
		}
		sum += p.Sampled
	}
	if sum != 600 || r.Population != 7013 {
		t.Errorf("round: points sampled %d of population %d, want 600 of 7013", sum, r.Population)
	}
	// The round's span is opening to deadline: 600 samples 30 s apart take
	// 5 of 7 hours, so the last 2/7 of the slices add nothing.
	edge := r.BucketEdges[len(r.BucketEdges)*5/7+1]
	for _, p := range r.Points {
		if p.LastSample != nil && p.LastSample.After(edge) {
			t.Errorf("point %s: last sample %s after %s", p.Site, p.LastSample, edge)
		}
	}
	var veg []float64
	for _, st := range d.Stock {
		if st.Site == "meiteihao-kangning" && st.Commodity == "vegetables" {
			veg = append(veg, st.Tonnes)
		}
	}
	if len(veg) != 2 || veg[0] != 5 || veg[1] != 1.25 {
		t.Errorf("stock history of meiteihao-kangning vegetables = %v, want [5 1.25] (loaded, then reported)", veg)
	}
	if _, err := s.ReportData(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("ReportData(nope) error = %v, want not found", err)
	}
}

var rawKey = regexp.MustCompile(`report\.[a-z]+\.?[a-z]*`)

func TestReportRenders(t *testing.T) {
	s, ref := respondedStore(t)
	d, err := s.ReportData(context.Background(), "xd-r1")
	if err != nil {
		t.Fatal(err)
	}
	cat := i18n.MustLoad()
	rep := report.Build(cat, d, report.Options{Locale: "en", References: ref.References})
	var html, md bytes.Buffer
	if err := rep.HTML(&html); err != nil {
		t.Fatal(err)
	}
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	for _, want := range []string{
		"After-action report: incident xd-r1",
		"Longbao Community, testing round 1",
		"600 of 7,013 residents sampled (8.6%)",
		// Planned against actual: 250 an hour at each point.
		"<th>Residents per point-hour</th>",
		// Stock and coverage charts, inline.
		"<svg", "Coverage over time: Longbao Community, round 1", "Stock over time",
		// The stall, the skip with who and why, the overdue step.
		"supplier feed down", "<td>lin.wei</td><td>supplies handled by the street office by phone</td>",
		`<td class="n late">1h30m</td>`,
		// The account's figures beside this response's.
		"Longbao residents tested in the first round (7,000&#43;)", "<td class=\"n\">7000</td><td class=\"n\">600.0</td>",
		"Longbao sampling points", "<td class=\"n\">4</td><td class=\"n\">4.0</td>",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	// Figures for another area (the district's inspection) do not apply.
	if strings.Contains(h, "discipline office") {
		t.Errorf("HTML report of a Longbao response shows the district's inspection figures")
	}
	for _, bad := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML report has %q: it must be self-contained", bad)
		}
	}
	if k := rawKey.FindString(h); k != "" {
		t.Errorf("HTML report shows the message key %q instead of its text", k)
	}
	m := md.String()
	for _, want := range []string{"# After-action report: incident xd-r1", "| Sampling point |", "| lin.wei | supplies handled by the street office by phone |", "| 1h30m |"} {
		if !strings.Contains(m, want) {
			t.Errorf("Markdown report lacks %q", want)
		}
	}

	zh := report.Build(cat, d, report.Options{Locale: "zh-CN", References: ref.References})
	var zhHTML bytes.Buffer
	if err := zh.HTML(&zhHTML); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<html lang="zh-CN">`, "事后总结报告：事件 xd-r1", "已采样 600 / 7,013 人", "停滞、决策与跳过"} {
		if !strings.Contains(zhHTML.String(), want) {
			t.Errorf("zh-CN report lacks %q", want)
		}
	}
	if k := rawKey.FindString(zhHTML.String()); k != "" {
		t.Errorf("zh-CN report shows the message key %q", k)
	}
}
