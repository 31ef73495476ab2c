package workflows

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/notify"
)

// bilingualRunbook asks its question and escalates in both languages.
const bilingualRunbook = `
name: test-outbreak
title: Test outbreak
level: 1
area: community
steps:
  - id: approve-lift
    kind: approval
    escalate:
      - after: 1h
        notify: district-command
        message: "{area} has not decided (incident {incident})"
        message_zh: "{area}尚未决定（事件{incident}）"
      - after: 3h
        notify: district-command
    params:
      question: "Lift the seals of {area}?"
      question_zh: "是否解除{area}封控？"
      timeout: 12h
      default: reject
`

// TestResponseLocale: a response over a zh-CN scenario asks an approval's
// question in Chinese, keeps it in both languages for its readers, and
// escalates with both texts; an en response asks in English.
func TestResponseLocale(t *testing.T) {
	for _, c := range []struct {
		locale, want string
	}{
		{"zh-CN", "是否解除Longbao封控？"},
		{"en", "Lift the seals of Longbao?"},
		{"", "Lift the seals of Longbao?"},
	} {
		t.Run("locale "+c.locale, func(t *testing.T) {
			rt := newResponseTest(t, bilingualRunbook)
			open := rt.OpenResponse
			rt.OpenResponse = func(in activities.OpenResponseInput) (activities.OpenResponseResult, error) {
				res, err := open(in)
				res.Locale = c.locale
				return res, err
			}
			asking := rt.ProgressAt(2 * time.Hour)
			rt.Run(testResponseInput())

			p := *asking
			if p.Locale != c.locale {
				t.Errorf("Progress().Locale = %q, want %q", p.Locale, c.locale)
			}
			n := nodeOf(p, "approve-lift")
			if n.State != StateAwaitingDecision || !strings.HasPrefix(n.Detail, c.want+" — asking") {
				t.Errorf("Progress() approve-lift = %s %q, want %s asking %q", n.State, n.Detail, StateAwaitingDecision, c.want)
			}
			want := map[string]string{"en": "Lift the seals of Longbao?", "zh-CN": "是否解除Longbao封控？"}
			if n.Ask == nil || !maps.Equal(n.Ask.Question, want) || n.Ask.Default != "reject" || n.Ask.Timeout != "12h" {
				t.Errorf("Progress() approve-lift Ask = %+v, want questions %v, reject after 12h", n.Ask, want)
			} else if got := n.Ask.In(c.locale); got != c.want {
				t.Errorf("Ask.In(%q) = %q, want %q", c.locale, got, c.want)
			}
			esc := rt.Notices("escalation/approve-lift/")
			if len(esc) != 2 {
				t.Fatalf("escalation notices = %d, want 2", len(esc))
			}
			wantMessage(t, esc[1].Input.(activities.NoticeInput), MsgStepEscalation)
			in := esc[0].Input.(activities.NoticeInput)
			wantArgs := map[string]string{"en": "Longbao has not decided (incident xd-0403)", "zh-CN": "Longbao尚未决定（事件xd-0403）"}
			if in.Body != wantArgs["en"] || in.Message != domain.MessageRunbookText || !maps.Equal(in.Args, wantArgs) {
				t.Errorf("escalation notice = %q %q %v, want %q with %v", in.Body, in.Message, in.Args, wantArgs["en"], wantArgs)
			}
		})
	}
}

func TestAskIn(t *testing.T) {
	ask := &Ask{Question: map[string]string{"en": "Lift the seals of Longbao?", "zh-CN": "是否解除Longbao封控？"}}
	for _, c := range []struct{ from, to, want string }{
		{"zh-CN", "en", "Lift the seals of Longbao? — asking command-center; reject after 12h"},
		{"", "zh-CN", "是否解除Longbao封控？ — asking command-center; reject after 12h"},
		{"en", "fr", "Lift the seals of Longbao? — asking command-center; reject after 12h"},
	} {
		p := ResponseProgress{Locale: c.from, Root: &Node{Children: []*Node{{Path: "approve-lift", State: StateAwaitingDecision, Ask: ask,
			Detail: ask.In(c.from) + " — asking command-center; reject after 12h"}}}}
		p.AskIn(c.to)
		if got := p.Root.Children[0].Detail; got != c.want {
			t.Errorf("AskIn(%q) of a %q response = %q, want %q", c.to, c.from, got, c.want)
		}
	}
}

// wantMessage checks that a notice names the catalogue message key and
// that its arguments render the catalogue's English text to exactly the
// body the workflow wrote, and its Chinese text with nothing missing.
func wantMessage(t *testing.T, n activities.NoticeInput, key string) {
	t.Helper()
	cs, err := notify.LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	if n.Message != key {
		t.Errorf("notice %s message = %q, want %q", n.Kind, n.Message, key)
		return
	}
	if got := cs.Body("en", n.Message, n.Args, ""); got != n.Body {
		t.Errorf("notice %s rendered in en =\n%q\nwant the body written\n%q", n.Kind, got, n.Body)
	}
	if got := cs.Body("zh-CN", n.Message, n.Args, ""); got == "" {
		t.Errorf("notice %s does not render in zh-CN: args %v", n.Kind, n.Args)
	}
}
