package api

import (
	"context"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

type boardAreasReply struct {
	Areas []store.BoardArea `json:"areas"`
}

// TestBoardPageAndAreas covers the board's page, its assets and the area
// drill-down, which read the database alone.
func TestBoardPageAndAreas(t *testing.T) {
	ctx := context.Background()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test")

	for _, tt := range []struct{ accept, lang, want string }{
		{"", "en", "Muster live board"},
		{"zh-CN,zh;q=0.9,en;q=0.5", "zh-CN", "Muster 实时看板"},
		{"fr-FR", "en", "Muster live board"},
	} {
		r := c.doWith("GET", "/board", nil, map[string]string{"Accept-Language": tt.accept})
		body := string(r.body)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /board (%s) = %d %s", tt.accept, r.status, r.header.Get("Content-Type"))
		}
		if !strings.Contains(body, `<html lang="`+tt.lang+`">`) || !strings.Contains(body, tt.want) {
			t.Errorf("GET /board with Accept-Language %q: want lang %s and %q in\n%s", tt.accept, tt.lang, tt.want, body)
		}
		if strings.Contains(body, `src="http`) || strings.Contains(body, `href="http`) {
			t.Errorf("GET /board loads something from elsewhere:\n%s", body)
		}
	}
	if r := c.doWith("GET", "/board/assets/board.js", nil, nil); r.status != 200 || !strings.Contains(string(r.body), "/v1/board/") {
		t.Errorf("GET /board/assets/board.js = %d", r.status)
	}
	if r := c.doWith("GET", "/board/assets/board.css", nil, nil); r.status != 200 || r.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("GET /board/assets/board.css = %d %s", r.status, r.header.Get("Content-Type"))
	}
	c.wantError(404, "file", "GET", "/board/assets/secret.txt", nil)
	c.wantError(400, "lang", "GET", "/v1/responses/xd-b1?lang=fr", nil, "en or zh-CN")
	if r := c.doWith("GET", "/v1/board/xd-b1/areas", nil, nil); r.status != 401 {
		t.Errorf("GET /v1/board/xd-b1/areas without a token = %d, want 401", r.status)
	}

	// A testing round over Longbao, with samples from one compound.
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Now().Add(-time.Hour)
	plan, err := st.OpenRound(ctx, "xd-b1", longbao.ID, 1, opens, opens.Add(7*time.Hour),
		domain.Event{Incident: "xd-b1", WorkflowID: "response/xd-b1/testing", Step: "open-round", State: "done", Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	roster, err := st.Roster(ctx, plan.RoundID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.SampleRow
	for i, r := range roster {
		if !r.HomeVisit {
			rows = append(rows, store.SampleRow{Tube: "B" + r.Code, Resident: r.Code, Point: r.Point, TakenAt: opens.Add(time.Duration(i) * time.Minute)})
		}
	}
	res, err := st.IngestSamples(ctx, store.IngestBatch{Incident: "xd-b1", Rows: rows})
	if err != nil || res.Accepted < 40 {
		t.Fatalf("IngestSamples() = %+v, %v; want most of %d accepted", res, err, len(rows))
	}
	accepted := res.Accepted

	level := func(parent string) map[string]store.BoardArea {
		t.Helper()
		path := "/v1/board/xd-b1/areas"
		if parent != "" {
			path += "?parent=" + parent
		}
		var got boardAreasReply
		c.want(200, "GET", path, nil).decode(t, &got)
		out := map[string]store.BoardArea{}
		for _, a := range got.Areas {
			out[a.Code] = a
		}
		return out
	}
	top := level("")
	if a, ok := top["xiaodian"]; !ok || a.State != "testing" || a.Children != 12 || a.Sampled != accepted {
		t.Errorf("top level = %+v, want xiaodian testing with 12 sub-districts and %d sampled", top, accepted)
	}
	parts := strings.Split(longbao.Path, "/")
	subs := level("xiaodian")
	testing := 0
	for code, a := range subs {
		if a.State == "testing" {
			testing++
			if code != parts[1] {
				t.Errorf("sub-district %s is testing; only %s holds Longbao", code, parts[1])
			}
		} else if a.State != "calm" {
			t.Errorf("sub-district %s state %q, want calm", code, a.State)
		}
	}
	if len(subs) != 12 || testing != 1 {
		t.Errorf("sub-districts: %d, %d testing; want 12, 1", len(subs), testing)
	}
	compounds := level("longbao")
	pop, sampled := 0, 0
	for _, a := range compounds {
		pop += a.Population
		sampled += a.Sampled
		if a.State != "testing" || a.Level != "compound" || a.Compounds != 1 {
			t.Errorf("compound %+v, want testing, level compound", a)
		}
	}
	if len(compounds) != 6 || pop != 7013 || sampled != accepted {
		t.Errorf("Longbao: %d compounds, population %d, sampled %d; want 6, 7013, %d", len(compounds), pop, sampled, accepted)
	}
	c.wantError(404, "parent", "GET", "/v1/board/xd-b1/areas?parent=atlantis", nil)
	c.wantError(400, "depth", "GET", "/v1/board/xd-b1/areas?depth=3", nil)
}

func TestProject(t *testing.T) {
	opens := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	at := func(h float64) *time.Time { x := opens.Add(time.Duration(h * float64(time.Hour))); return &x }
	for _, c := range []struct {
		name       string
		done, want int
		last       *time.Time
		finish     *time.Time
	}{
		{"nothing yet", 0, 7013, nil, nil},
		// 1,000 in 2 hours: the other 6,000 take 12 more.
		{"a seventh in 2 hours", 1000, 7000, at(2), at(14)},
		{"done", 7000, 7000, at(6.5), at(6.5)},
		{"more than expected", 7100, 7000, at(6), at(6)},
	} {
		got := project(c.done, c.want, opens, c.last)
		if (got == nil) != (c.finish == nil) || got != nil && !got.Equal(*c.finish) {
			t.Errorf("project(%s) = %v, want %v", c.name, got, c.finish)
		}
	}
}

func TestAttentionOrderAndCommands(t *testing.T) {
	steps := []BoardStep{{Path: "a", State: "running", Overdue: true}, {Path: "b", State: "retrying"}, {Path: "c", State: "awaiting-decision"}, {Path: "d", State: "stalled"}}
	sort.SliceStable(steps, func(i, j int) bool { return attentionRank(steps[i]) < attentionRank(steps[j]) })
	var order []string
	for _, s := range steps {
		order = append(order, s.Path)
	}
	if strings.Join(order, "") != "dcba" {
		t.Errorf("attention order = %v, want stalled, awaiting-decision, retrying, overdue", order)
	}
	for _, c := range []struct {
		state   string
		overdue bool
		want    bool
	}{{"stalled", false, true}, {"retrying", false, true}, {"awaiting-decision", false, true}, {"running", true, true}, {"running", false, false}, {"done", true, false}} {
		if got := needsAttention(c.state, c.overdue); got != c.want {
			t.Errorf("needsAttention(%s, overdue %v) = %v, want %v", c.state, c.overdue, got, c.want)
		}
	}
	if got := commandsFor("xd-1", "schools", "stalled"); len(got) != 3 || got[0] != "muster step retry xd-1 schools" {
		t.Errorf("commandsFor(stalled) = %v", got)
	}
	if got := commandsFor("xd-1", "approve-lift", "awaiting-decision"); len(got) != 2 || !strings.HasPrefix(got[0], "muster step decide xd-1 approve-lift approve") {
		t.Errorf("commandsFor(awaiting-decision) = %v", got)
	}
	s := &Server{uiURL: "http://ui:8233/", namespace: "default"}
	if got := s.uiLink("response/xd-1/seal/a"); got != "http://ui:8233/namespaces/default/workflows/response%2Fxd-1%2Fseal%2Fa" {
		t.Errorf("uiLink = %q", got)
	}
	if got := (&Server{}).uiLink("response/xd-1"); got != "" {
		t.Errorf("uiLink without a UI URL = %q, want none", got)
	}
}

// TestBoardLocale: the board's summary speaks the language asked for,
// else the browser's, else the incident's; an approval awaiting its
// decision is worded from the catalogue around its question in that
// language, finished steps with figures are worded from the catalogue,
// and every step state has its label in every language.
func TestBoardLocale(t *testing.T) {
	for _, c := range []struct{ query, accept, incident, want string }{
		{"", "", "zh-CN", "zh-CN"},
		{"", "", "", "en"},
		{"", "en-GB,en;q=0.9", "zh-CN", "en"},
		{"", "zh-CN,zh;q=0.9", "en", "zh-CN"},
		{"?lang=en", "zh-CN", "zh-CN", "en"},
		{"?lang=xx", "", "zh-CN", "zh-CN"},
	} {
		r := httptest.NewRequest("GET", "/v1/board/xd-0403"+c.query, nil)
		if c.accept != "" {
			r.Header.Set("Accept-Language", c.accept)
		}
		if got := boardLocale(r, c.incident); got != c.want {
			t.Errorf("boardLocale(%q, Accept-Language %q, incident %q) = %q, want %q", c.query, c.accept, c.incident, got, c.want)
		}
	}

	n := &workflows.Node{Path: "approve-lift", State: workflows.StateAwaitingDecision, Detail: "是否解除龙堡封控？ — asking command-center; reject after 12h",
		Ask: &workflows.Ask{Question: map[string]string{"en": "Lift the seals of Longbao?", "zh-CN": "是否解除龙堡封控？"}, Approver: "区指挥部", Default: "reject", Timeout: "12h"}}
	if got, want := stepDetail(n, "zh-CN"), "是否解除龙堡封控？ — 请区指挥部决定；默认不批准（12h内无人决定时）"; got != want {
		t.Errorf("stepDetail(zh-CN) = %q, want %q", got, want)
	}
	if got, want := stepDetail(n, "en"), "Lift the seals of Longbao? — asking 区指挥部; reject when nobody decides within 12h"; got != want {
		t.Errorf("stepDetail(en) = %q, want %q", got, want)
	}
	n.State = workflows.StateDone
	n.Detail = "rejected by timeout"
	if got := stepDetail(n, "zh-CN"); got != n.Detail {
		t.Errorf("stepDetail of a decided approval = %q, want its own detail %q", got, n.Detail)
	}

	// Steps with their figures, and the fixed framing of stalled, cancelled
	// and understaffed steps, are worded from the catalogue; a detail the
	// figures do not reproduce stays as the step wrote it.
	done := workflows.StateDone
	for _, c := range []struct {
		n    workflows.Node
		want string
	}{
		{workflows.Node{Type: workflows.KindApproval, State: done, Detail: "rejected by timeout: no decision within 24h", Outputs: map[string]float64{"approved": 0}},
			"已由超时驳回：24h内无人决定"},
		{workflows.Node{Type: workflows.KindComplianceSweep, State: done, Detail: "5 of 6 checkpoints passed: gate 2 unstaffed", Outputs: map[string]float64{"checked": 6, "failed_checks": 1}},
			"卡口检查通过 5/6: gate 2 unstaffed"},
		{workflows.Node{Type: workflows.KindNotice, State: done, Detail: "notice to residents"}, "已通知residents"},
		{workflows.Node{Type: workflows.KindMassTesting, State: done, Detail: "round 2: 7000 of 7013 sampled (99.8%), 0 positive, 13 missing, 4 late",
			Outputs: map[string]float64{"sampled": 7000, "expected": 7013, "positives": 0, "missing": 13, "coverage": 7000.0 / 7013, "clean": 1, "late_results": 4}},
			"第2轮：采样 7000/7013（99.8%），阳性 0，未采样 13，迟到结果 4 份"},
		{workflows.Node{Type: workflows.KindComplianceSweep, State: done, Detail: "could not check", Outputs: map[string]float64{"checked": 6, "failed_checks": 1}},
			"could not check"},
		{workflows.Node{Type: workflows.KindMassTesting, State: workflows.StateRunning, Detail: "round 1: 7000 of 7013 sampled (99.8%), 0 positive, 13 missing, 2 late",
			Outputs: map[string]float64{"sampled": 7000, "expected": 7013, "positives": 0, "missing": 13, "coverage": 7000.0 / 7013, "clean": 1, "late_results": 2}},
			"第1轮：采样 7000/7013（99.8%），阳性 0，未采样 13，迟到结果 2 份"},
		{workflows.Node{Type: workflows.KindSeal, State: done, Held: true, Detail: "every gate staffed again", Outputs: map[string]float64{"checkpoints": 4}},
			"所有卡口已重新配齐人员"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateUnderstaffed, Held: true, Detail: "3 of 12 gates unstaffed; outside staff rejected",
			Outputs: map[string]float64{"checkpoints": 12, "open_gates": 3}}, "卡口 3/12 个无人值守; outside staff rejected"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateUnderstaffed, Held: true, Detail: "3 of 12 gates unstaffed; outside staff rejected by 区指挥部",
			Outputs: map[string]float64{"checkpoints": 12, "open_gates": 3}}, "卡口 3/12 个无人值守；外援人员申请已由区指挥部驳回"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateUnderstaffed, Held: true, Detail: "3 of 12 gates unstaffed; outside staff no answer by the deadline",
			Outputs: map[string]float64{"checkpoints": 12, "open_gates": 3}}, "卡口 3/12 个无人值守；外援人员申请逾期无人答复"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateAwaitingDecision, Detail: "6 staff from outside the district for 3 open gates? Answer by 23:30, or the seal stays understaffed"},
			"是否从区外调派 6 名人员值守 3 个无人卡口？请于 23:30 前答复，否则封控维持人手不足"},
		{workflows.Node{Type: workflows.KindSeal, State: done, Detail: "lifted by 区指挥部: 两轮阴性"}, "已由区指挥部解封：两轮阴性"},
		{workflows.Node{Type: workflows.KindLift, State: done, Detail: "lifted 3 seals", Outputs: map[string]float64{"lifted": 3}}, "已解除封控 3 处"},
		{workflows.Node{Type: workflows.KindWait, State: done, Detail: "waited 2h0m0s"}, "已等待 2h0m0s"},
		{workflows.Node{Type: workflows.KindStaffSupply, State: workflows.StateStalled, Stalls: 2, Detail: "retries ran out (2 times): connection refused"},
			"重试已用尽（第 2 次）：connection refused"},
		{workflows.Node{Type: workflows.KindNotice, State: workflows.StateStalled, Stalls: 1, Detail: "not retryable, waits for a person: no route for 楼长"},
			"不可重试，等待人工处理：no route for 楼长"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateStalled, Stalls: 3, Detail: "retries ran out (2 times): connection refused"},
			"retries ran out (2 times): connection refused"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateCancelled, Detail: "cancelled; gates and roads reopened"}, "已取消；卡口与道路已重新开放"},
		{workflows.Node{Type: workflows.KindWait, State: workflows.StateCancelled, Detail: "the response was lifted"}, "响应已解除"},
		{workflows.Node{Type: workflows.KindComplianceSweep, State: workflows.StateSkipped, Detail: "gate repaired (by duty-officer)"}, "gate repaired（由duty-officer跳过）"},
		{workflows.Node{Type: workflows.KindMassTesting, State: workflows.StateAborted, Detail: "wrong area (by li-wei)"}, "wrong area（由li-wei中止）"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateRetrying, Detail: "retrying since 21:04:05: connection refused"}, "自 21:04:05 起重试中：connection refused"},
		{workflows.Node{Type: workflows.KindSeal, State: workflows.StateRunning, Detail: "checkpoint/g2 retrying after stall"}, "checkpoint/g2 停滞后重试中"},
		{workflows.Node{Type: workflows.KindStaffSupply, State: done, Detail: "12 of 14 staff assigned (11 acknowledged, 1 reassigned); 3 restock orders, 2 delivered, 1 late"},
			"已派人员 12/14（已确认 11，改派 1）；补货订单 3 个，已送达 2，迟到 1"},
		{workflows.Node{Type: workflows.KindInspection, State: workflows.StateRunning, Detail: "round 2: 5 of 8 sites reported · 2 sites unreported by the last close, escalated · 4 findings: 1 rectified, 3 open, 1 overdue, 0 escalated"},
			"第2轮：已报告点位 5/8 · 2 个点位至上次收轮仍未报告，已上报 · 问题 4 个：已整改 1，未整改 3，超期 1，已上报 0"},
		{workflows.Node{Type: workflows.KindInspection, State: done, Detail: "lifted by 区指挥部: round 3: 8 of 8 sites reported · 4 findings: 3 rectified, 1 withdrawn, 0 open, 0 overdue, 0 escalated"},
			"已由区指挥部解除：第3轮：已报告点位 8/8 · 问题 4 个：已整改 3，已撤销 1，未整改 0，超期 0，已上报 0"},
	} {
		if got := stepDetail(&c.n, "zh-CN"); got != c.want {
			t.Errorf("stepDetail(%s %q, zh-CN) = %q, want %q", c.n.Type, c.n.Detail, got, c.want)
		}
		if got := stepDetail(&c.n, "en"); got != c.n.Detail {
			t.Errorf("stepDetail(%s %q, en) = %q, want the step's own", c.n.Type, c.n.Detail, got)
		}
	}

	for _, loc := range i18n.Locales {
		for _, s := range append(slices.Clone(stepStates), workflows.ResponseRunning, workflows.ResponseHolding, workflows.ResponseLifting, workflows.ResponseClosed) {
			if _, ok := catalogue.Message(loc, "board.step_"+s); !ok {
				t.Errorf("catalogue %s has no label board.step_%s for the state %s", loc, s, s)
			}
		}
	}
}

// boardRunbook seals a compound, tests it once and asks whether to lift,
// quoting the round as evidence.
const boardRunbook = `name: board-in-chinese
title: Board in Chinese
level: 1
area: compound
steps:
  - id: seal
    for_each:
      areas: {level: compound, under: response}
      steps:
        - id: seal-compound
          kind: seal
  - id: test
    kind: mass-testing
    params: {deadline: 1h, check_every: 15m}
  - id: approve-lift
    kind: approval
    params:
      question: "Lift the seal of {area}? Testing: {evidence}."
      question_zh: "是否解除{area}封控？检测：{evidence}。"
      timeout: 24h
      default: reject
`

// TestBoardInChinese: a zh-CN board words the fixed parts of a seal's, a
// testing round's and a decided approval's details from the catalogue
// with the steps' figures, and asks the approval's question with the
// evidence in Chinese; the en board shows the details the steps wrote.
func TestBoardInChinese(t *testing.T) {
	t.Parallel()
	c := engine(t)
	incident := pgtest.Name("board-zh")
	c.want(201, "POST", "/v1/runbooks", boardRunbook)
	c.want(201, "POST", "/v1/responses", map[string]any{"incident": incident, "runbook": "board-in-chinese", "area": "longbao-jiayuan", "time_scale": 3600})
	c.awaitStep(incident, "approve-lift", workflows.StateAwaitingDecision)
	board := func(lang string) map[string]BoardStep {
		var b Board
		c.want(200, "GET", "/v1/board/"+incident+"?lang="+lang, nil).decode(t, &b)
		steps := map[string]BoardStep{}
		for _, s := range b.Steps {
			steps[s.Path] = s
		}
		return steps
	}
	p := c.progress(incident)
	en, zh := board("en"), board("zh-CN")
	seal := "seal/longbao-jiayuan"
	for _, path := range []string{seal, "test"} {
		if en[path].Detail != p.Find(path).Detail {
			t.Errorf("en board: %s = %q, want the step's own %q", path, en[path].Detail, p.Find(path).Detail)
		}
	}
	for path, want := range map[string]string{seal: "已封控：卡口 ", "test": "第1轮：", "approve-lift": "是否解除"} {
		if got := zh[path].Detail; !strings.HasPrefix(got, want) {
			t.Errorf("zh-CN board: %s = %q, want it to begin %q", path, got, want)
		}
	}
	if q := zh["approve-lift"].Detail; !strings.Contains(q, "第1轮：采样 ") || !strings.Contains(q, "，阳性 ") || strings.Contains(q, "sampled") {
		t.Errorf("zh-CN board asks %q, want the evidence in Chinese", q)
	}

	c.want(200, "POST", "/v1/responses/"+incident+"/steps/decide", map[string]any{"step": "approve-lift", "decision": "approve", "reason": "clean"})
	c.awaitStep(incident, "approve-lift", workflows.StateDone)
	if got := board("zh-CN")["approve-lift"].Detail; !strings.HasPrefix(got, "已由") || !strings.HasSuffix(got, "批准：clean") {
		t.Errorf("zh-CN board: decided approval = %q, want 已由…批准：clean", got)
	}
	if got, want := board("en")["approve-lift"].Detail, c.progress(incident).Find("approve-lift").Detail; got != want {
		t.Errorf("en board: decided approval = %q, want the step's own %q", got, want)
	}
}
