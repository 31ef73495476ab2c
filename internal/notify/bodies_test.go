package notify

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// TestCatalogueBodies: every message key the workflows write is in every
// catalogue and renders in its locale with its arguments; an unknown key or
// a missing argument falls back to the English text the workflow wrote.
func TestCatalogueBodies(t *testing.T) {
	cs, err := LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range append(slices.Clone(workflows.NoticeMessages), store.MsgMobilization) {
		for _, l := range Locales() {
			if _, ok := cs[l].Bodies[key]; !ok {
				t.Errorf("%s.yaml has no body %s, which the workflows write", l, key)
			}
		}
	}
	args := map[string]string{"compound": "龙宝佳苑", "incident": "xd-0403", "entrance": "东门", "closed": "龙宝路", "open": "长江路"}
	const fallback = "Longbao Jiayuan is sealed from now."
	zh := cs.Body("zh-CN", "seal-announced/closed-open", args, fallback)
	for _, want := range []string{"龙宝佳苑", "封控", "东门", "龙宝路已封闭", "长江路", "xd-0403"} {
		if !strings.Contains(zh, want) {
			t.Errorf("zh-CN body = %q, want it to contain %q", zh, want)
		}
	}
	en := cs.Body("en", "seal-announced/closed-open", args, fallback)
	if !strings.HasPrefix(en, "龙宝佳苑 is sealed from now (incident xd-0403). Enter and leave only through the checkpoint at 东门; 龙宝路 are closed; everyone comes and goes by 长江路.") {
		t.Errorf("en body = %q", en)
	}
	if got := cs.Body("fr", "seal-lifted", args, fallback); !strings.HasPrefix(got, "The seal of 龙宝佳苑 is lifted") {
		t.Errorf("body in an unknown locale = %q, want the English message", got)
	}
	for name, got := range map[string]string{
		"no key":           cs.Body("zh-CN", "", args, fallback),
		"unknown key":      cs.Body("zh-CN", "no-such-message", args, fallback),
		"missing closed":   cs.Body("zh-CN", "seal-announced/closed", map[string]string{"compound": "x", "incident": "y", "entrance": "z"}, fallback),
		"missing all args": cs.Body("en", "seal-lifted", nil, fallback),
	} {
		if got != fallback {
			t.Errorf("%s: body = %q, want the stored English text", name, got)
		}
	}
}

// TestCatalogueBodiesChecked: a catalogue missing a body, having one the
// English catalogue has not, or wording one with other placeholders is
// refused, naming the key.
func TestCatalogueBodiesChecked(t *testing.T) {
	cs, err := LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b map[string]string)) Catalogues {
		out := Catalogues{}
		for l, c := range cs {
			c.Bodies = maps.Clone(c.Bodies)
			if l == "zh-CN" {
				f(c.Bodies)
			}
			out[l] = c
		}
		return out
	}
	for name, tt := range map[string]struct {
		cs   Catalogues
		want string
	}{
		"missing":      {edit(func(b map[string]string) { delete(b, "seal-lifted") }), "bodies.seal-lifted is missing"},
		"extra":        {edit(func(b map[string]string) { b["seal-extra"] = "x" }), "bodies.seal-extra is not in en.yaml"},
		"reserved":     {edit(func(b map[string]string) { b[domain.MessageRunbookText] = "x" }), "bodies.runbook-text is reserved"},
		"placeholders": {edit(func(b map[string]string) { b["seal-lifted"] = "{{compound}}封控已解除" }), "bodies.seal-lifted has placeholders"},
	} {
		err := tt.cs.checkBodies()
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "zh-CN.yaml") {
			t.Errorf("%s: checkBodies() = %v, want an error with %q in zh-CN.yaml", name, err, tt.want)
		}
	}
	if err := cs.checkBodies(); err != nil {
		t.Errorf("checkBodies() of the embedded catalogues = %v", err)
	}
	if _, err := parseCatalogue("x.yaml", []byte("messages:\n  - kinds: [default]\n    title: t\n    text: t\nbodies:\n  k: \"{{a\"\n")); err == nil || !strings.Contains(err.Error(), "bodies.k") {
		t.Errorf("a body with an unclosed placeholder = %v, want refused", err)
	}
}
