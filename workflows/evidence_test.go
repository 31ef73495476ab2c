package workflows

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/notify"
)

// A round is clean only when its coverage reaches min_coverage: a round
// that sampled nobody, or 83% of its residents, is never clean whatever
// its positives, and says so.
func TestMassTestingNotCleanBelowCoverage(t *testing.T) {
	tests := []struct {
		name    string
		sampled int
		detail  string
		clean   float64
	}{
		{"nobody sampled", 0, "not clean: 0% sampled (min 99%)", 0},
		{"83% sampled", 5821, "not clean: 83% sampled (min 99%)", 0},
		{"99.4% sampled", 6971, "6971 of 7013 sampled (99.4%)", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := newTestingTest(t)
			tt.Sampled = func(d time.Duration) int { return min(int(1200*d.Hours()), tc.sampled) }
			tt.Run(testingInput())
			res, err := tt.Result()
			if err != nil {
				t.Fatalf("MassTestingStep() error = %v", err)
			}
			checkOutputs(t, res, map[string]float64{"sampled": float64(tc.sampled), "expected": 7013, "missing": float64(7013 - tc.sampled),
				"coverage": float64(tc.sampled) / 7013, "clean": tc.clean, "positives": float64(tc.sampled / 1000)})
			if !strings.Contains(res.Detail, tc.detail) {
				t.Errorf("Detail = %q, want it to contain %q", res.Detail, tc.detail)
			}
			notices := tt.notices("testing/1/not-clean")
			if tc.clean == 0 && (len(notices) != 1 || notices[0].Audience != "command center" || !strings.Contains(notices[0].Body, "no evidence for a lift")) {
				t.Errorf("not-clean notices = %+v, want one to the command center", notices)
			}
			if tc.clean == 0 && len(notices) == 1 {
				// The command center reads it in its own language too.
				n := notices[0]
				want := map[string]string{"round": "1", "area": "Longbao", "incident": n.Ref.Incident, "coverage": percent(float64(tc.sampled) / 7013),
					"sampled": fmt.Sprint(tc.sampled), "expected": "7013", "min": "99%", "missing": fmt.Sprint(7013 - tc.sampled),
					"positives": fmt.Sprint(tc.sampled / 1000), "response": n.Args["response"]}
				if n.Message != MsgTestingNotClean || !maps.Equal(n.Args, want) || n.Args["response"] == "" {
					t.Errorf("not-clean notice message = %q %v, want %q %v", n.Message, n.Args, MsgTestingNotClean, want)
				}
				checkRendersInChinese(t, n, "未达最低覆盖率")
			}
			if tc.clean == 1 && len(notices) != 0 {
				t.Errorf("not-clean notices = %d, want none for a clean round", len(notices))
			}
		})
	}
}

// The figures a round reports are the ones the database counted as it
// closed, not the workflow's last count: samples uploaded after the last
// check are in them.
func TestMassTestingReportsTheDatabasesFigures(t *testing.T) {
	tt := newTestingTest(t)
	tt.Sampled = func(d time.Duration) int { return min(int(1000*d.Hours()), 6482) }
	tt.CloseRound = func(activities.RoundRef) (activities.CloseRoundResult, error) { return tt.closed(201), nil }
	tt.Run(testingInput())
	res, err := tt.Result()
	if err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}
	checkOutputs(t, res, map[string]float64{"sampled": 6683, "missing": 7013 - 6683, "positives": 6})
	if p := tt.Progress(); p.Sampled != 6683 || p.Behind {
		t.Errorf("final Progress() Sampled, Behind = %d, %v; want 6683 (the database's), false (the round has closed)", p.Sampled, p.Behind)
	}
}

// A round whose checks could not run for a while (the database was down)
// and that is below its minimum at the deadline is extended once, with a
// notice, and closes clean when the extension brings the coverage up.
func TestMassTestingExtendedAfterOutage(t *testing.T) {
	tt := newTestingTest(t)
	// 900 an hour, none uploaded from 5h to 7h20 while the database is
	// down, then the backlog arrives and sampling goes on.
	down := func(d time.Duration) bool { return d >= 5*time.Hour && d < 7*time.Hour+20*time.Minute }
	tt.Sampled = func(d time.Duration) int {
		if d > 7*time.Hour+20*time.Minute {
			d -= 20 * time.Minute
		}
		return min(int(900*d.Hours()), 7000)
	}
	tt.Down = down
	tt.Run(testingInput())
	res, err := tt.Result()
	if err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}
	extended := inputs[activities.ExtendRoundInput](tt.sealTest, "ExtendRound")
	if len(extended) != 1 || !extended[0].Deadline.Equal(testStart.Add(9*time.Hour)) {
		t.Fatalf("ExtendRound calls = %+v, want one to 9h (extend_by 2h)", extended)
	}
	if got := tt.notices("testing/1/extended"); len(got) != 1 || !strings.Contains(got[0].Body, "extended by 2h") {
		t.Errorf("extended notices = %+v, want one saying extended by 2h", got)
	} else {
		wantMessage(t, got[0], MsgTestingExtended)
	}
	checkOutputs(t, res, map[string]float64{"sampled": 7000, "clean": 1})
	if close := tt.callTimes("CloseRound"); len(close) != 1 || close[0] > 9*time.Hour {
		t.Errorf("CloseRound at %v, want once, by the extended deadline 9h", close)
	}
}

// evidenceRunbook tests every resident in rounds until two in a row find
// no positive, the runbook's own condition reading positives only, then
// asks whether to lift.
const evidenceRunbook = `name: test-evidence
title: Evidence before a lift
level: 1
area: community
steps:
  - id: testing
    repeat:
      max: 3
      until: {output: positives, equals: 0, consecutive: 2}
      steps:
        - id: test
          kind: mass-testing
          params: {deadline: 7h}
  - id: approve-lift
    kind: approval
    params:
      question: "Lift the seals of {area}? Testing: {evidence}."
      timeout: 1h
      default: reject
`

// A round that sampled 0 of 12,650 residents found no positive, twice:
// that is no evidence. The repeat does not count such rounds, and the
// approval question shows every round's coverage.
func TestResponseNoLiftWithoutEvidence(t *testing.T) {
	tests := []struct {
		name    string
		outputs map[string]float64
		rounds  int
		detail  string
		ask     string
	}{
		{"nobody sampled", map[string]float64{"positives": 0, "sampled": 0, "expected": 12650, "missing": 12650, "coverage": 0, "clean": 0},
			3, "stopped after 3 rounds without positives = 0 in 2 consecutive rounds",
			"round 1 of Longbao: 0% sampled (0 of 12650), 0 positive, not clean; round 2 of Longbao: 0% sampled (0 of 12650), 0 positive, not clean; round 3"},
		{"all sampled", map[string]float64{"positives": 0, "sampled": 12600, "expected": 12650, "missing": 50, "coverage": 12600.0 / 12650, "clean": 1},
			2, "positives = 0 in 2 consecutive rounds after 2 rounds",
			"round 1 of Longbao: 99.6% sampled (12600 of 12650), 0 positive; round 2 of Longbao: 99.6% sampled (12600 of 12650), 0 positive."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := newResponseTest(t, evidenceRunbook)
			rt.env.OnWorkflow(MassTestingStepName, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in StepInput) (StepResult, error) {
				return StepResult{Outputs: tc.outputs, Detail: "round"}, nil
			})
			asking := rt.ProgressAt(30 * time.Minute)
			rt.Run(testResponseInput())
			p := *asking
			testing := nodeOf(p, "testing")
			if testing.Round != tc.rounds || testing.Detail != tc.detail {
				t.Errorf("testing ran %d rounds: %q; want %d: %q", testing.Round, testing.Detail, tc.rounds, tc.detail)
			}
			ask := nodeOf(p, "approve-lift")
			if !strings.Contains(ask.Detail, "Lift the seals of Longbao? Testing: "+tc.ask) || strings.Contains(ask.Detail, "{") {
				t.Errorf("approve-lift asks %q, want the area and %q", ask.Detail, tc.ask)
			}
		})
	}
}

// A zh-CN response's approval quotes the evidence in Chinese, an en one in
// English, and the approval's node keeps both questions with the evidence
// each in its own language.
func TestResponseEvidenceInBothLanguages(t *testing.T) {
	runbook := strings.Replace(evidenceRunbook, `      timeout: 1h`, `      question_zh: "是否解除{area}封控？检测：{evidence}。"
      timeout: 1h`, 1)
	want := map[string]string{
		"en":    "Lift the seals of Longbao? Testing: round 1 of Longbao: 99.3% sampled (6969 of 7013), 0 positive; round 2 of Longbao: 99.3% sampled (6969 of 7013), 0 positive.",
		"zh-CN": "是否解除Longbao封控？检测：Longbao第1轮：采样 6969/7013（99.3%），阳性 0；Longbao第2轮：采样 6969/7013（99.3%），阳性 0。",
	}
	for _, locale := range []string{"zh-CN", "en"} {
		t.Run(locale, func(t *testing.T) {
			rt := newResponseTest(t, runbook)
			open := rt.OpenResponse
			rt.OpenResponse = func(in activities.OpenResponseInput) (activities.OpenResponseResult, error) {
				res, err := open(in)
				res.Locale = locale
				return res, err
			}
			outputs := map[string]float64{"positives": 0, "sampled": 6969, "expected": 7013, "missing": 44, "coverage": 6969.0 / 7013, "clean": 1}
			rt.env.OnWorkflow(MassTestingStepName, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in StepInput) (StepResult, error) {
				return StepResult{Outputs: outputs, Detail: "round"}, nil
			})
			asking := rt.ProgressAt(30 * time.Minute)
			rt.Run(testResponseInput())
			ask := nodeOf(*asking, "approve-lift")
			if ask.Ask == nil || !maps.Equal(ask.Ask.Question, want) {
				t.Fatalf("approve-lift Ask = %+v, want questions %v", ask.Ask, want)
			}
			if !strings.HasPrefix(ask.Detail, want[locale]+" — asking") {
				t.Errorf("approve-lift asks %q, want %q", ask.Detail, want[locale])
			}
		})
	}
}

// A plan that cannot meet the deadline is told as the round opens, with
// how many more points of what capacity would; every point has its own
// planned and projected finish.
func TestMassTestingPlanShort(t *testing.T) {
	tt := newTestingTest(t)
	in := testingInput()
	in.Params["deadline"] = "5h" // 6,943 at 1,000 an hour: about 7 hours
	start, _ := tt.ProgressAt(time.Minute)
	tt.Run(in)
	if _, err := tt.Result(); err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}
	short := tt.notices("testing/1/plan-short")
	// 7,013 in 5 hours needs 1,403 an hour: 2 more points of 250.
	if len(short) != 1 || !strings.Contains(short[0].Body, "2 more sampling point(s) of about 250 an hour") || !strings.Contains(short[0].Body, "finishes last") {
		t.Fatalf("plan-short notices = %+v, want one naming 2 more points of 250 an hour", short)
	}
	if n := short[0]; n.Message != MsgTestingPlanShort+"/more-points" || n.Args["more"] != "2" || n.Args["per"] != "250" || n.Args["deadline"] == "" || n.Args["last"] == "" {
		t.Errorf("plan-short notice message = %q %v, want %q with 2 more points of 250", n.Message, n.Args, MsgTestingPlanShort+"/more-points")
	}
	checkRendersInChinese(t, short[0], "再增设2个每小时约250人的采样点")
	for _, p := range start.Points {
		if p.Capacity != 250 || !p.Planned.Equal(testStart.Add(time.Duration(float64(p.Expected)/250*float64(time.Hour)))) || p.Projected.IsZero() {
			t.Errorf("point %s = %+v, want its capacity, planned finish at %d/250 h and a projection", p.Code, p, p.Expected)
		}
	}
	within := newTestingTest(t)
	within.Run(testingInput())
	if got := within.notices("testing/1/plan-short"); len(got) != 0 {
		t.Errorf("plan-short notices for a plan within the deadline = %d, want none", len(got))
	}
}

// checkRendersInChinese renders a notice as a zh-CN route gets it: the
// arguments the workflow wrote must fill every placeholder of the
// catalogue's body, or the command center would get the English text.
func checkRendersInChinese(t *testing.T, n activities.NoticeInput, want string) {
	t.Helper()
	cs, err := notify.LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	const fallback = "(the English text)"
	if got := cs.Body("zh-CN", n.Message, n.Args, fallback); got == fallback || !strings.Contains(got, want) || strings.Contains(got, "{{") {
		t.Errorf("notice %s in zh-CN = %q, want it rendered from %q with %q", n.Kind, got, n.Message, want)
	}
}
