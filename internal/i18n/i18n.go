// Package i18n holds Muster's message catalogues for the people who read its
// output: the after-action report, the board and the questions it asks. The
// catalogues are JSON files, one per language, embedded in the binaries;
// code names a message by its key and never carries the text itself.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Locales are the languages Muster speaks, the default first.
var Locales = []string{"en", "zh-CN"}

// Default is the locale used when none is asked for or matched.
const Default = "en"

//go:embed catalog/*.json
var files embed.FS

var (
	tags    = []language.Tag{language.English, language.SimplifiedChinese}
	matcher = language.NewMatcher(tags)
)

// Catalogue is the loaded message catalogues.
type Catalogue struct {
	cat      *catalog.Builder
	messages map[string]map[string]string
}

// Load reads the embedded catalogues.
func Load() (*Catalogue, error) {
	c := &Catalogue{cat: catalog.NewBuilder(catalog.Fallback(language.English)), messages: map[string]map[string]string{}}
	for i, loc := range Locales {
		b, err := files.ReadFile(path.Join("catalog", loc+".json"))
		if err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", loc, err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", loc, err)
		}
		c.messages[loc] = m
		for k, v := range m {
			if err := c.cat.SetString(tags[i], k, v); err != nil {
				return nil, fmt.Errorf("catalogue %s: message %s: %w", loc, k, err)
			}
		}
	}
	return c, nil
}

// MustLoad is Load for package-level use in programs whose catalogues are
// embedded: a broken catalogue is a build defect, caught by the tests.
func MustLoad() *Catalogue {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Valid reports whether locale is one Muster speaks.
func Valid(locale string) bool {
	for _, l := range Locales {
		if l == locale {
			return true
		}
	}
	return false
}

// Match picks the locale for an Accept-Language header (or any list of
// BCP 47 tags); Default when nothing matches.
func Match(accept string) string {
	if strings.TrimSpace(accept) == "" {
		return Default
	}
	prefs, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(prefs) == 0 {
		return Default
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return Default
	}
	return Locales[i]
}

// Printer prints messages in a locale; an unknown locale prints in Default.
func (c *Catalogue) Printer(locale string) *message.Printer {
	tag := tags[0]
	for i, l := range Locales {
		if l == locale {
			tag = tags[i]
		}
	}
	return message.NewPrinter(tag, message.Catalog(c.cat))
}

// Keys lists the keys of a locale's catalogue, sorted.
func (c *Catalogue) Keys(locale string) []string {
	var ks []string
	for k := range c.messages[locale] {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Message returns the text of a key in a locale, and whether it is there.
func (c *Catalogue) Message(locale, key string) (string, bool) {
	m, ok := c.messages[locale][key]
	return m, ok
}
