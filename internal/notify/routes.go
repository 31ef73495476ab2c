// Package notify delivers the notices Muster's steps write: a routes file says,
// per district, which channels each audience is reached through; a
// dispatcher claims deliveries from the outbox under a lease, sends them with
// the same idempotency key on every attempt, and records every attempt and
// its receipt. Secrets come from the environment through ${VAR} references in
// the routes file, never from the repository.
package notify

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/store"
)

// Audience classes a route names. A notice's free-text audience is sorted
// into one of them by Classify.
const (
	AudienceResidents  = "residents"
	AudienceWorkers    = "workers"
	AudienceSchool     = "school"
	AudienceDepartment = "department"
	AudienceStaff      = "staff"
	AudienceCommand    = "command"
)

var audienceClasses = []string{AudienceResidents, AudienceWorkers, AudienceSchool, AudienceDepartment, AudienceStaff, AudienceCommand}

// Channel types.
const (
	TypeWebhook  = "webhook"
	TypeWeCom    = "wecom"
	TypeDingTalk = "dingtalk"
	TypeSMTP     = "smtp"
	TypeSMS      = "sms"
)

// Routes is a parsed routes file: the channels and routes of each district.
type Routes struct {
	Districts map[string]*District `yaml:"districts"`
}

// District is one district's channels and routes.
type District struct {
	// Locale is the district's default language (zh-CN or en).
	Locale   string              `yaml:"locale"`
	Channels map[string]*Channel `yaml:"channels"`
	Routes   []Route             `yaml:"routes"`
}

// Channel is one configured channel.
type Channel struct {
	Type string `yaml:"type"`
	// URL is the endpoint (webhook, robot, SMS gateway); for SMTP,
	// smtp://user:password@host:port.
	URL string `yaml:"url"`
	// Targets gives a URL (robots, webhooks) or a comma-separated address
	// list (SMTP, SMS) per area code: a notice goes to the target of its area
	// or of its nearest ancestor that has one, so a compound's residents are
	// reached through their compound's group or else their community's.
	Targets map[string]string `yaml:"targets"`
	// Secret signs requests: the webhook's HMAC key, DingTalk's robot secret,
	// the SMS gateway's bearer token.
	Secret string `yaml:"secret"`
	// To is the recipient list of SMTP and SMS channels without targets.
	To []string `yaml:"to"`
	// From is the sender of SMTP mail.
	From string `yaml:"from"`
	// Format is text or markdown for the robots.
	Format string `yaml:"format"`
	// Template is the SMS text, with {{title}} and {{text}} placeholders.
	Template string `yaml:"template"`
	// Rate is the most messages per second to one target; Burst how many
	// may go at once.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Batch is how many notices one webhook request may carry (1: one each).
	Batch int `yaml:"batch"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout"`
}

// Route sends notices of some audiences (and, optionally, kinds and areas)
// to channels.
type Route struct {
	Audience []string `yaml:"audience"`
	// Kinds are path patterns on the notice's kind (e.g. "seal-*"); empty for all.
	Kinds []string `yaml:"kinds"`
	// Areas are area codes: the route applies to notices of those areas and
	// everything under them; empty for the whole district.
	Areas    []string `yaml:"areas"`
	Channels []string `yaml:"channels"`
	Locale   string   `yaml:"locale"`
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadRoutes reads and validates a routes file, replacing ${VAR} with the
// environment's values.
func LoadRoutes(file string) (*Routes, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return ParseRoutes(file, b, os.LookupEnv)
}

// ParseRoutes parses a routes file; lookup resolves ${VAR} references. An
// unset variable is an error naming it, so a missing secret is found at
// start and not at the first notice.
func ParseRoutes(name string, b []byte, lookup func(string) (string, bool)) (*Routes, error) {
	var missing []string
	expanded := envRef.ReplaceAllStringFunc(string(b), func(m string) string {
		v, ok := lookup(envRef.FindStringSubmatch(m)[1])
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: %s not set in the environment", name, strings.Join(missing, ", "))
	}
	var r Routes
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &r, nil
}

func (r *Routes) validate() error {
	if len(r.Districts) == 0 {
		return fmt.Errorf("districts: at least one district is needed")
	}
	for _, code := range sortedKeys(r.Districts) {
		d := r.Districts[code]
		at := "districts." + code
		if d == nil {
			return fmt.Errorf("%s: empty district", at)
		}
		if d.Locale == "" {
			d.Locale = "zh-CN"
		}
		if !validLocale(d.Locale) {
			return fmt.Errorf("%s.locale: %q is not one of %s", at, d.Locale, strings.Join(Locales(), ", "))
		}
		for _, name := range sortedKeys(d.Channels) {
			if err := d.Channels[name].validate(at + ".channels." + name); err != nil {
				return err
			}
		}
		for i := range d.Routes {
			rt := &d.Routes[i]
			rat := fmt.Sprintf("%s.routes[%d]", at, i)
			if len(rt.Audience) == 0 {
				return fmt.Errorf("%s.audience: name one or more of %s", rat, strings.Join(audienceClasses, ", "))
			}
			for _, a := range rt.Audience {
				if !contains(audienceClasses, a) {
					return fmt.Errorf("%s.audience: %q is not one of %s", rat, a, strings.Join(audienceClasses, ", "))
				}
			}
			for _, k := range rt.Kinds {
				if _, err := path.Match(k, ""); err != nil {
					return fmt.Errorf("%s.kinds: %q: %v", rat, k, err)
				}
			}
			if len(rt.Channels) == 0 {
				return fmt.Errorf("%s.channels: name one or more channels", rat)
			}
			for _, c := range rt.Channels {
				if d.Channels[c] == nil {
					return fmt.Errorf("%s.channels: no channel %q in %s.channels", rat, c, at)
				}
			}
			if rt.Locale != "" && !validLocale(rt.Locale) {
				return fmt.Errorf("%s.locale: %q is not one of %s", rat, rt.Locale, strings.Join(Locales(), ", "))
			}
		}
	}
	return nil
}

func (c *Channel) validate(at string) error {
	if c == nil {
		return fmt.Errorf("%s: empty channel", at)
	}
	switch c.Type {
	case TypeWebhook, TypeWeCom, TypeDingTalk, TypeSMS:
		if c.URL == "" && len(c.Targets) == 0 {
			return fmt.Errorf("%s.url: a %s channel needs a url or targets", at, c.Type)
		}
	case TypeSMTP:
		if c.URL == "" {
			return fmt.Errorf("%s.url: an smtp channel needs smtp://[user:password@]host:port", at)
		}
		if c.From == "" {
			return fmt.Errorf("%s.from: an smtp channel needs a sender address", at)
		}
		if len(c.To) == 0 && len(c.Targets) == 0 {
			return fmt.Errorf("%s.to: an smtp channel needs recipients or targets", at)
		}
	default:
		return fmt.Errorf("%s.type: %q is not one of webhook, wecom, dingtalk, smtp, sms", at, c.Type)
	}
	if c.Type == TypeSMS {
		if c.Template == "" {
			c.Template = "{{title}}: {{text}}"
		}
		if err := checkPlaceholders(c.Template, []string{"title", "text"}); err != nil {
			return fmt.Errorf("%s.template: %w", at, err)
		}
		if len(c.To) == 0 && len(c.Targets) == 0 {
			return fmt.Errorf("%s.to: an sms channel needs numbers or targets", at)
		}
	}
	switch c.Format {
	case "":
		c.Format = "markdown"
	case "text", "markdown":
	default:
		return fmt.Errorf("%s.format: %q is not text or markdown", at, c.Format)
	}
	if c.Rate < 0 {
		return fmt.Errorf("%s.rate: %v must not be negative", at, c.Rate)
	}
	if c.Rate == 0 {
		c.Rate = defaultRate(c.Type)
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.Batch < 0 || c.Batch > 500 {
		return fmt.Errorf("%s.batch: %d is not between 1 and 500", at, c.Batch)
	}
	if c.Batch == 0 || c.Type != TypeWebhook {
		// Only the generic webhook takes several notices in one request.
		c.Batch = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return nil
}

// defaultRate is each channel's documented or prudent default: a WeCom or
// DingTalk group robot takes 20 messages a minute.
func defaultRate(typ string) float64 {
	switch typ {
	case TypeWeCom, TypeDingTalk:
		return 20.0 / 60
	case TypeSMS:
		return 5
	default:
		return 50
	}
}

// Classify sorts a notice's free-text audience into an audience class.
func Classify(audience string) string {
	a := strings.ToLower(audience)
	switch {
	case strings.Contains(a, "resident"):
		return AudienceResidents
	case strings.Contains(a, "command"):
		return AudienceCommand
	case strings.Contains(a, "school"), strings.Contains(a, "campus"), strings.Contains(a, "student"):
		return AudienceSchool
	case strings.Contains(a, "worker"), strings.Contains(a, "volunteer"), strings.Contains(a, "grid"), strings.Contains(a, "community staff"):
		return AudienceWorkers
	case strings.Contains(a, "inspector"), strings.Contains(a, "cadre"), strings.Contains(a, "teacher"), strings.Contains(a, "staff"), strings.Contains(a, "person responsible"):
		return AudienceStaff
	default:
		return AudienceDepartment
	}
}

// Plan decides a notice's deliveries: every channel of every route of its
// district that matches its audience, kind and area, once per channel and
// target. A notice no route matches gets one undelivered delivery that says
// so, for an operator to see.
func (r *Routes) Plan(n store.RoutableNotice) []store.DeliveryPlan {
	class := Classify(n.Audience)
	district, _, _ := strings.Cut(n.AreaPath, "/")
	d := r.Districts[district]
	if d == nil {
		return []store.DeliveryPlan{{Channel: "none", ChannelType: "none", AudienceClass: class, Locale: "en",
			Reason: fmt.Sprintf("no routes for district %q", district)}}
	}
	ancestors := pathCodes(n.AreaPath)
	seen := map[string]bool{}
	var out []store.DeliveryPlan
	for _, rt := range d.Routes {
		if !contains(rt.Audience, class) || !matchKind(rt.Kinds, n.Kind) || !matchArea(rt.Areas, ancestors) {
			continue
		}
		locale := rt.Locale
		if locale == "" {
			locale = d.Locale
		}
		for _, name := range rt.Channels {
			ch := d.Channels[name]
			target, ok := ch.targetFor(ancestors)
			if !ok {
				continue
			}
			if seen[name+"|"+target] {
				continue
			}
			seen[name+"|"+target] = true
			out = append(out, store.DeliveryPlan{Channel: name, ChannelType: ch.Type, Target: target, AudienceClass: class, Locale: locale})
		}
	}
	if len(out) == 0 {
		return []store.DeliveryPlan{{Channel: "none", ChannelType: "none", AudienceClass: class, Locale: d.Locale,
			Reason: fmt.Sprintf("no route in district %s for %s (%q) of kind %s", district, class, n.Audience, n.Kind)}}
	}
	return out
}

// targetFor picks the target of the nearest area that has one, or the
// channel's own URL/recipients (target "") when it has them.
func (c *Channel) targetFor(ancestors []string) (string, bool) {
	for i := len(ancestors) - 1; i >= 0; i-- {
		if _, ok := c.Targets[ancestors[i]]; ok {
			return ancestors[i], true
		}
	}
	if c.URL != "" && (c.Type != TypeSMTP && c.Type != TypeSMS || len(c.To) > 0) {
		return "", true
	}
	if c.Type == TypeSMS && len(c.To) > 0 {
		return "", true
	}
	return "", false
}

func pathCodes(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func matchKind(patterns []string, kind string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, kind); ok || strings.HasPrefix(kind, strings.TrimSuffix(p, "*")) && strings.HasSuffix(p, "*") {
			return true
		}
	}
	return false
}

func matchArea(areas, ancestors []string) bool {
	if len(areas) == 0 {
		return true
	}
	for _, a := range areas {
		if contains(ancestors, a) {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
