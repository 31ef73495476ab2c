package notify

import (
	"embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/domain"
)

// The message catalogues, one file per locale. Their text is data, not code:
// a translation changes a file, and LoadCatalogues checks its placeholders.
//
//go:embed messages/*.yaml
var catalogueFS embed.FS

// placeholders are the names a message may use.
var placeholders = []string{"incident", "area", "audience", "kind", "body"}

var placeholderRe = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

type catalogue struct {
	Messages []struct {
		Kinds []string `yaml:"kinds"`
		Title string   `yaml:"title"`
		Text  string   `yaml:"text"`
	} `yaml:"messages"`
	// Bodies are the texts the workflows write, by message key, with their
	// own placeholders (the message's arguments). A notice that names a key
	// gets its body from here in the route's locale.
	Bodies map[string]string `yaml:"bodies"`
}

// Catalogues holds the message catalogue of each locale.
type Catalogues map[string]catalogue

// Locales lists the locales the embedded catalogues provide.
func Locales() []string {
	entries, _ := catalogueFS.ReadDir("messages")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

func validLocale(l string) bool { return contains(Locales(), l) }

// LoadCatalogues reads and checks the embedded catalogues: every message
// uses only known placeholders and every locale has a default.
func LoadCatalogues() (Catalogues, error) {
	cs := Catalogues{}
	for _, l := range Locales() {
		b, err := catalogueFS.ReadFile("messages/" + l + ".yaml")
		if err != nil {
			return nil, err
		}
		c, err := parseCatalogue(l+".yaml", b)
		if err != nil {
			return nil, err
		}
		cs[l] = c
	}
	if err := cs.checkBodies(); err != nil {
		return nil, err
	}
	return cs, nil
}

// checkBodies makes sure every locale has every body the English catalogue
// has, and no other, each with the same placeholders: a notice must not
// lose an argument, or fall back to English, in one language only.
func (cs Catalogues) checkBodies() error {
	en, ok := cs["en"]
	if !ok {
		return errors.New("no en catalogue")
	}
	for l, c := range cs {
		if _, ok := c.Bodies[domain.MessageRunbookText]; ok {
			return fmt.Errorf("%s.yaml: bodies.%s is reserved for runbook notices, whose texts come from the runbook", l, domain.MessageRunbookText)
		}
		for key, text := range c.Bodies {
			want, ok := en.Bodies[key]
			if !ok {
				return fmt.Errorf("%s.yaml: bodies.%s is not in en.yaml", l, key)
			}
			if got, w := placeholderNames(text), placeholderNames(want); !slices.Equal(got, w) {
				return fmt.Errorf("%s.yaml: bodies.%s has placeholders %v, en.yaml has %v", l, key, got, w)
			}
		}
		for key := range en.Bodies {
			if _, ok := c.Bodies[key]; !ok {
				return fmt.Errorf("%s.yaml: bodies.%s is missing (en.yaml has it)", l, key)
			}
		}
	}
	return nil
}

// placeholderNames lists a template's placeholders, sorted, once each.
func placeholderNames(tmpl string) []string {
	var out []string
	for _, m := range placeholderRe.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// HasBody says whether the catalogues have a body for a message key.
func (cs Catalogues) HasBody(key string) bool {
	_, ok := cs["en"].Bodies[key]
	return ok
}

// Body renders a notice's body from its message key and arguments in a
// locale (en when the locale has none). It returns fallback, the English
// text the workflow wrote, when the key is unknown or an argument the
// message needs is missing.
//
// A runbook notice (store.MessageRunbookText) is not in the catalogues: its
// args hold the runbook author's text per locale, and fallback, the English
// text, goes to a locale the author did not write.
func (cs Catalogues) Body(locale, key string, args map[string]string, fallback string) string {
	if key == "" {
		return fallback
	}
	if key == domain.MessageRunbookText {
		if text := args[locale]; strings.TrimSpace(text) != "" {
			return text
		}
		return fallback
	}
	c, ok := cs[locale]
	if !ok {
		c = cs["en"]
	}
	tmpl, ok := c.Bodies[key]
	if !ok {
		return fallback
	}
	for _, name := range placeholderNames(tmpl) {
		if _, ok := args[name]; !ok {
			return fallback
		}
	}
	return fill(tmpl, args)
}

func parseCatalogue(name string, b []byte) (catalogue, error) {
	var c catalogue
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	hasDefault := false
	for i, m := range c.Messages {
		at := fmt.Sprintf("%s: messages[%d]", name, i)
		if len(m.Kinds) == 0 || m.Title == "" || m.Text == "" {
			return c, fmt.Errorf("%s: needs kinds, title and text", at)
		}
		if err := checkPlaceholders(m.Title, placeholders); err != nil {
			return c, fmt.Errorf("%s.title: %w", at, err)
		}
		if err := checkPlaceholders(m.Text, placeholders); err != nil {
			return c, fmt.Errorf("%s.text: %w", at, err)
		}
		if contains(m.Kinds, "default") {
			hasDefault = true
		}
	}
	for key, text := range c.Bodies {
		if strings.TrimSpace(text) == "" {
			return c, fmt.Errorf("%s: bodies.%s is empty", name, key)
		}
		rest := placeholderRe.ReplaceAllString(text, "")
		if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
			return c, fmt.Errorf("%s: bodies.%s: unbalanced {{ }}", name, key)
		}
	}
	if !hasDefault {
		return c, fmt.Errorf("%s: no message for kind \"default\"", name)
	}
	return c, nil
}

// checkPlaceholders refuses a template that names a placeholder not in
// allowed, or leaves a brace unclosed.
func checkPlaceholders(tmpl string, allowed []string) error {
	for _, m := range placeholderRe.FindAllStringSubmatch(tmpl, -1) {
		if !contains(allowed, m[1]) {
			return fmt.Errorf("unknown placeholder {{%s}} (known: %s)", m[1], strings.Join(allowed, ", "))
		}
	}
	rest := placeholderRe.ReplaceAllString(tmpl, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return fmt.Errorf("unbalanced {{ }} in %q", tmpl)
	}
	return nil
}

func fill(tmpl string, vals map[string]string) string {
	return placeholderRe.ReplaceAllStringFunc(tmpl, func(m string) string {
		return vals[placeholderRe.FindStringSubmatch(m)[1]]
	})
}

// Message is a notice rendered for one delivery.
type Message struct {
	Key      string
	NoticeID int64
	Incident string
	Kind     string
	Audience string
	Area     string
	Locale   string
	Title    string
	Text     string
	Target   string
}

// Render renders a notice in a locale; an unknown locale falls back to en.
func (cs Catalogues) Render(locale string, vals map[string]string) (title, text string) {
	c, ok := cs[locale]
	if !ok {
		c = cs["en"]
	}
	for _, m := range c.Messages {
		if matchKind(m.Kinds, vals["kind"]) {
			return fill(m.Title, vals), fill(m.Text, vals)
		}
	}
	for _, m := range c.Messages {
		if contains(m.Kinds, "default") {
			return fill(m.Title, vals), fill(m.Text, vals)
		}
	}
	return vals["kind"], vals["body"]
}
