package main

import (
	"testing"

	"github.com/musterhq/muster/workflows"
)

// TestAskedIn: the question an approval asks is shown in the incident's
// language unless --locale asks for another.
func TestAskedIn(t *testing.T) {
	ask := &workflows.Ask{Question: map[string]string{"en": "Lift the seals of Longbao?", "zh-CN": "是否解除龙堡封控？"}}
	p := workflows.ResponseProgress{Locale: "zh-CN", Root: &workflows.Node{Children: []*workflows.Node{
		{Path: "approve-lift", State: workflows.StateAwaitingDecision, Ask: ask},
		{Path: "seal", State: workflows.StateRunning},
	}}}
	for _, c := range []struct{ step, locale, want string }{
		{"approve-lift", "", "是否解除龙堡封控？"},
		{"approve-lift", "en", "Lift the seals of Longbao?"},
		{"seal", "", ""},
		{"no-such-step", "", ""},
	} {
		if got := askedIn(p, c.step, c.locale); got != c.want {
			t.Errorf("askedIn(%s, %q) = %q, want %q", c.step, c.locale, got, c.want)
		}
	}
	if err := checkLocale("fr"); err == nil {
		t.Error("checkLocale(fr) = nil, want an error")
	}
	for _, l := range []string{"", "en", "zh-CN"} {
		if err := checkLocale(l); err != nil {
			t.Errorf("checkLocale(%q) = %v, want nil", l, err)
		}
	}
}
