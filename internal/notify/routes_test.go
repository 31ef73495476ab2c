package notify

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/store"
)

func env(vals map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
}

const goodRoutes = `districts:
  xiaodian:
    channels:
      groups:
        type: wecom
        targets:
          longbao-1: http://robot/send?key=${KEY1}
          longbao: http://robot/send?key=community
      hook:
        type: webhook
        url: http://hook
        secret: ${SECRET}
    routes:
      - audience: [residents]
        channels: [groups]
      - audience: [command]
        kinds: ["testing/*"]
        channels: [hook]
`

func TestParseRoutesRefusesWithTheFieldNamed(t *testing.T) {
	ok := env(map[string]string{"KEY1": "k1", "SECRET": "s"})
	tests := []struct {
		name, yaml, want string
		lookup           func(string) (string, bool)
	}{
		{"unset secret", goodRoutes, "${SECRET} not set", env(map[string]string{"KEY1": "k1"})},
		{"unknown channel", strings.Replace(goodRoutes, "channels: [hook]", "channels: [hoook]", 1), `routes[1].channels: no channel "hoook"`, ok},
		{"unknown audience", strings.Replace(goodRoutes, "[residents]", "[residentz]", 1), `routes[0].audience: "residentz"`, ok},
		{"unknown type", strings.Replace(goodRoutes, "type: webhook", "type: pager", 1), `channels.hook.type: "pager"`, ok},
		{"bad locale", strings.Replace(goodRoutes, "xiaodian:\n", "xiaodian:\n    locale: fr\n", 1), `districts.xiaodian.locale: "fr"`, ok},
		{"sms placeholder", strings.Replace(goodRoutes, "type: webhook\n        url: http://hook", "type: sms\n        url: http://gw\n        to: [\"+860\"]\n        template: \"{{title}} {{name}}\"", 1), "unknown placeholder {{name}}", ok},
		{"unknown field", strings.Replace(goodRoutes, "secret: ${SECRET}", "secrett: x", 1), "field secrett not found", ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRoutes("routes.yaml", []byte(tc.yaml), tc.lookup)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseRoutes = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseRoutes("routes.yaml", []byte(goodRoutes), ok); err != nil {
		t.Fatalf("ParseRoutes(good) = %v", err)
	}
}

func TestPlanRoutesResidentsThroughTheirGroup(t *testing.T) {
	r, err := ParseRoutes("routes.yaml", []byte(goodRoutes), env(map[string]string{"KEY1": "k1", "SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		n        store.RoutableNotice
		channel  string
		target   string
		reasonIn string
	}{
		{"compound with its own group", store.RoutableNotice{Audience: "residents of Longbao 1", Kind: "seal-announced", AreaPath: "xiaodian/beiying/longbao/longbao-1"}, "groups", "longbao-1", ""},
		{"compound through its community's group", store.RoutableNotice{Audience: "residents of Longbao 2", Kind: "seal-announced", AreaPath: "xiaodian/beiying/longbao/longbao-2"}, "groups", "longbao", ""},
		{"command, matching kind", store.RoutableNotice{Audience: "command center", Kind: "testing/1/behind", AreaPath: "xiaodian/beiying/longbao"}, "hook", "", ""},
		{"command, other kind: no route", store.RoutableNotice{Audience: "district command", Kind: "supply/shortage/x", AreaPath: "xiaodian"}, "none", "", "no route"},
		{"other district", store.RoutableNotice{Audience: "residents", Kind: "seal-announced", AreaPath: "yingze/x"}, "none", "", "no routes for district"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := r.Plan(tc.n)
			if len(ps) != 1 || ps[0].Channel != tc.channel || ps[0].Target != tc.target || !strings.Contains(ps[0].Reason, tc.reasonIn) {
				t.Fatalf("Plan = %+v, want one delivery on %s/%s (reason %q)", ps, tc.channel, tc.target, tc.reasonIn)
			}
		})
	}
}

func TestCataloguesRenderBothLocales(t *testing.T) {
	cs, err := LoadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{"incident": "xd-0403", "area": "Longbao 1", "kind": "seal-announced", "body": "Enter by Longbao Street.", "audience": "residents"}
	title, text := cs.Render("zh-CN", vals)
	if !strings.Contains(title, "封控") || !strings.Contains(text, "Enter by Longbao Street.") {
		t.Fatalf("zh-CN = %q / %q", title, text)
	}
	title, _ = cs.Render("en", vals)
	if title != "Longbao 1 is sealed" {
		t.Fatalf("en title = %q", title)
	}
	if _, err := parseCatalogue("x.yaml", []byte("messages:\n  - kinds: [default]\n    title: \"{{who}}\"\n    text: t\n")); err == nil || !strings.Contains(err.Error(), "{{who}}") {
		t.Fatalf("a catalogue with {{who}} = %v, want refused", err)
	}
}
