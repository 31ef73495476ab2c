package i18n

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var verb = regexp.MustCompile(`%[-+# 0]*[0-9.]*[a-zA-Z%]`)

// TestCataloguesComplete fails when a message is in one language and not
// in another, is empty, or takes other arguments.
func TestCataloguesComplete(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	base := c.Keys(Default)
	if len(base) == 0 {
		t.Fatal("the default catalogue is empty")
	}
	for _, loc := range Locales {
		keys := c.Keys(loc)
		for _, k := range base {
			if !slices.Contains(keys, k) {
				t.Errorf("catalogue %s lacks %q", loc, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(base, k) {
				t.Errorf("catalogue %s has %q, which %s lacks", loc, k, Default)
			}
			m, _ := c.Message(loc, k)
			if strings.TrimSpace(m) == "" {
				t.Errorf("catalogue %s: %q is empty", loc, k)
			}
			want, _ := c.Message(Default, k)
			if got, w := verb.FindAllString(m, -1), verb.FindAllString(want, -1); !slices.Equal(got, w) {
				t.Errorf("catalogue %s: %q takes %v, %s takes %v", loc, k, got, Default, w)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct{ accept, want string }{
		{"", "en"},
		{"zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"},
		{"zh", "zh-CN"},
		{"zh-Hans", "zh-CN"},
		{"en-GB,en;q=0.9", "en"},
		{"fr-FR", "en"},
		{"de;q=0.9, zh-CN;q=0.5", "zh-CN"},
		{"%%%", "en"},
	} {
		if got := Match(c.accept); got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.accept, got, c.want)
		}
	}
}

func TestPrinter(t *testing.T) {
	c := MustLoad()
	if got := c.Printer("zh-CN").Sprintf("report.title", "xd-1"); got != "事后总结报告：事件 xd-1" {
		t.Errorf("zh-CN report.title = %q", got)
	}
	if got := c.Printer("xx").Sprintf("report.title", "xd-1"); got != "After-action report: incident xd-1" {
		t.Errorf("unknown locale report.title = %q, want English", got)
	}
}
