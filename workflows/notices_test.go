package workflows

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// noticeRunbook tells the residents, then waits for an approval that is
// given after five hours.
const noticeRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: tell-residents
    kind: notice
    params:
      audience: residents
      topic: residents-told
      body: "{area}: stay at home."
  - id: approve-lift
    kind: approval
    params:
      question: Lift the seals of {area}?
      timeout: 12h
      default: reject
`

// TestResponseNoticeCounts: the response reads its notice counts from the
// store and shows them in its progress and current details; while one is
// undelivered the response is stalled (MusterStep notices), and once it is
// resent and delivered it is not.
func TestResponseNoticeCounts(t *testing.T) {
	rt := newResponseTest(t, noticeRunbook)
	const resentAt = 3 * time.Hour
	rt.CountNotices = func(string) (map[string]int, error) {
		c := map[string]int{"pending": 0, "sent": 0, "delivered": 0, "undelivered": 0}
		switch at := rt.env.Now().Sub(testStart); {
		case at < time.Hour:
			c["pending"] = 53
		case at < resentAt:
			c["delivered"], c["undelivered"] = 52, 1
		default:
			c["delivered"] = 53
		}
		return c, nil
	}
	type snapshot struct {
		p       ResponseProgress
		details string
		sa      map[string]any
	}
	snaps := map[string]*snapshot{}
	for name, d := range map[string]time.Duration{"pending": 30 * time.Minute, "undelivered": 2 * time.Hour, "resent": 4 * time.Hour} {
		s := &snapshot{}
		snaps[name] = s
		rt.At(d, func() { s.p, s.details, s.sa = rt.Progress(), currentDetails(t, rt.sealTest), rt.SearchAttributes() })
	}
	rt.UpdateAt(5*time.Hour, UpdateDecide, Decision{Step: "approve-lift", Decision: "approve"})
	rt.Run(testResponseInput())

	tests := []struct {
		when, line, step, state string
		notices                 map[string]int
	}{
		{"pending", "Notices: 53 pending", "approve-lift", StateAwaitingDecision, map[string]int{"pending": 53, "sent": 0, "delivered": 0, "undelivered": 0}},
		{"undelivered", "Notices: 52 delivered · 1 undelivered", NoticesStep, StateStalled, map[string]int{"pending": 0, "sent": 0, "delivered": 52, "undelivered": 1}},
		{"resent", "Notices: 53 delivered", "approve-lift", StateAwaitingDecision, map[string]int{"pending": 0, "sent": 0, "delivered": 53, "undelivered": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			s := snaps[tt.when]
			if !maps.Equal(s.p.Notices, tt.notices) {
				t.Errorf("Progress().Notices = %v, want %v", s.p.Notices, tt.notices)
			}
			if !strings.Contains(s.details, tt.line+"\n") {
				t.Errorf("current details = %q, want a line %q", s.details, tt.line)
			}
			if s.sa["MusterStep"] != tt.step || s.sa["MusterStepState"] != tt.state {
				t.Errorf("MusterStep, MusterStepState = %v, %v; want %s, %s", s.sa["MusterStep"], s.sa["MusterStepState"], tt.step, tt.state)
			}
		})
	}
	if _, err := rt.Result(); err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	// The counts are read while notices are pending or undelivered, backing
	// off, and not while nothing can change them: a handful over five hours.
	if n := len(rt.Calls("CountNotices")); n < 3 || n > 30 {
		t.Errorf("CountNotices called %d times over the run, want 3 to 30", n)
	}
}

// TestNoticesLine: only the states with notices are shown, in the order a
// notice moves through them.
func TestNoticesLine(t *testing.T) {
	for _, tt := range []struct {
		counts map[string]int
		want   string
	}{
		{nil, ""},
		{map[string]int{"pending": 0, "undelivered": 0}, ""},
		{map[string]int{"undelivered": 1, "delivered": 52}, "Notices: 52 delivered · 1 undelivered"},
		{map[string]int{"sent": 2, "pending": 1}, "Notices: 1 pending · 2 sent"},
	} {
		if got := noticesLine(tt.counts); got != tt.want {
			t.Errorf("noticesLine(%v) = %q, want %q", tt.counts, got, tt.want)
		}
	}
}

// TestNoticeCarriesBothTexts: a runbook notice with a Chinese text is
// published with both texts, placeholders filled in each, under the
// message key the dispatcher renders per route locale; a notice with one
// text stays a free text.
func TestNoticeCarriesBothTexts(t *testing.T) {
	for _, tt := range []struct {
		name    string
		params  map[string]any
		message string
		args    map[string]string
	}{
		{"both", map[string]any{"topic": "schools-postponed", "audience": "all schools of {area}",
			"body":    "All schools of {area} postpone reopening (incident {incident}).",
			"body_zh": "{area}各学校推迟开学（事件{incident}）。"},
			domain.MessageRunbookText, map[string]string{
				"en":    "All schools of 小店区 postpone reopening (incident xd-0403).",
				"zh-CN": "小店区各学校推迟开学（事件xd-0403）。"}},
		{"english only", map[string]any{"topic": "t", "audience": "residents", "body": "{area}: stay at home."},
			"", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.OnUpsertTypedSearchAttributes(mock.Anything).Return().Maybe()
			env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(nil).Maybe()
			var got []activities.NoticeInput
			env.OnActivity(a.PublishNotice, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NoticeInput) error {
				got = append(got, in)
				return nil
			})
			env.ExecuteWorkflow(NoticeStep, StepInput{Incident: "xd-0403", Path: "schools", Kind: KindNotice, Title: "Schools",
				Area: &AreaRef{ID: 7, Name: "小店区"}, Params: tt.params})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("PublishNotice calls = %d, want 1", len(got))
			}
			n := got[0]
			if n.Message != tt.message || !maps.Equal(n.Args, tt.args) {
				t.Errorf("notice message = %q %v, want %q %v", n.Message, n.Args, tt.message, tt.args)
			}
			if want := strings.NewReplacer("{area}", "小店区", "{incident}", "xd-0403").Replace(tt.params["body"].(string)); n.Body != want {
				t.Errorf("notice body = %q, want the English text %q", n.Body, want)
			}
		})
	}
}
