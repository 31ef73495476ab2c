package notify

import (
	"embed"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
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
	return cs, nil
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
