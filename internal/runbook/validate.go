package runbook

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/musterhq/muster/internal/scenario"
)

// MaxDepth bounds how deeply steps nest: top-level steps are at depth 1,
// the steps of a sequence, parallel, for_each or repeat one deeper.
const MaxDepth = 8

// MaxRounds bounds a repeat's max.
const MaxRounds = 1000

// MaxAttempts bounds a retry policy's max_attempts.
const MaxAttempts = 100

var codePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// IsCode reports whether s is a valid runbook name or step ID: lower-case
// letters, digits and '-', starting with a letter or digit, at most 63
// characters.
func IsCode(s string) bool { return codePattern.MatchString(s) }

const constructs = "kind, sequence, parallel, for_each, repeat"

// Validate checks a definition against the registry of step kinds and
// reports every problem with its path. It also completes the definition
// for the interpreter: every param of a kind step is present after it
// (omitted ones get the kind's default), params are normalised (string →
// string, int → int, number → float64, bool → bool, duration → its compact
// string such as "2h" or "1h30m"), and a repeat's until.consecutive of 0
// becomes 1.
//
// Lines come from the Line fields of steps, for_each and repeat; Parse
// gives every path its exact line.
func Validate(d *Definition, reg Registry) Errors {
	lines := map[string]int{}
	d.Walk(func(path string, s *Step) {
		lines[path] = s.Line
		if s.ForEach != nil {
			lines[path+".for_each"] = s.ForEach.Line
		}
		if s.Repeat != nil {
			lines[path+".repeat"] = s.Repeat.Line
		}
	})
	return validate(d, reg, lines)
}

type validator struct {
	reg   Registry
	lines map[string]int
	area  string
	errs  Errors
}

// scope is what a step sees of the steps around it.
type scope struct {
	// level is the level of the innermost enclosing for_each's areas, or
	// anyLevel when it is not known before the response runs.
	level string
}

// anyLevel is the scope of a for_each whose areas' level is not known
// statically: areas listed by code (checked when the response selects
// them), or a level already reported as unknown.
const anyLevel = "*"

func validate(d *Definition, reg Registry, lines map[string]int) Errors {
	v := &validator{reg: reg, lines: lines, area: d.Area}
	switch {
	case strings.TrimSpace(d.Name) == "":
		v.add("name", "is required: name the runbook, e.g. community-outbreak-level-1")
	case !IsCode(d.Name):
		v.add("name", "%q is not a code: use lower-case letters, digits and '-', at most 63 characters", d.Name)
	}
	if strings.TrimSpace(d.Title) == "" {
		v.add("title", "is required: say in a few words what the runbook is for")
	}
	switch {
	case d.Level == 0:
		v.add("level", "is required: the response level, 1 (highest) to 4")
	case d.Level < 1 || d.Level > 4:
		v.add("level", "must be 1 (highest) to 4, got %d", d.Level)
	}
	if d.Area != "" && !isLevel(d.Area) {
		v.add("area", "unknown level %q: want one of %s", d.Area, levelList())
	}
	if len(d.Steps) == 0 {
		v.add("steps", "is required: list at least one step")
	}
	v.steps(d.Steps, "steps", 1, scope{})
	return v.errs
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Line: v.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// line finds the line of path, or of the nearest enclosing path that has one.
func (v *validator) line(path string) int {
	for {
		if n, ok := v.lines[path]; ok && n > 0 {
			return n
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// parentPath strips the last ".field" or "[i]" of a path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func (v *validator) steps(steps []Step, path string, depth int, sc scope) {
	ids := map[string]int{}
	for i := range steps {
		p := fmt.Sprintf("%s[%d]", path, i)
		if id := steps[i].ID; id != "" {
			if first, dup := ids[id]; dup {
				v.add(p+".id", "%q is already the id of %s[%d]: ids must differ among sibling steps", id, path, first)
			} else {
				ids[id] = i
			}
		}
		v.step(&steps[i], p, depth, sc)
	}
}

func (v *validator) step(s *Step, path string, depth int, sc scope) {
	if depth > MaxDepth {
		v.add(path, "steps nest %d deep here, at most %d: flatten the tree or split the runbook", depth, MaxDepth)
		return
	}
	switch {
	case s.ID == "":
		v.add(path+".id", "is required: name the step, e.g. seal")
	case !IsCode(s.ID):
		v.add(path+".id", "%q is not a code: use lower-case letters, digits and '-', at most 63 characters", s.ID)
	}

	var given []string
	if s.Kind != "" {
		given = append(given, "kind")
	}
	if s.Sequence != nil {
		given = append(given, "sequence")
	}
	if s.Parallel != nil {
		given = append(given, "parallel")
	}
	if s.ForEach != nil {
		given = append(given, "for_each")
	}
	if s.Repeat != nil {
		given = append(given, "repeat")
	}
	switch len(given) {
	case 0:
		v.add(path, "say what the step does: give one of %s", constructs)
	case 1:
	default:
		v.add(path, "has both %s: give exactly one of %s", strings.Join(given, " and "), constructs)
	}

	if s.Kind != "" {
		v.kind(s, path, sc)
	} else if s.Params != nil {
		v.add(path+".params", "only a step with a kind takes params")
	}
	if s.Sequence != nil {
		if len(s.Sequence) == 0 {
			v.add(path+".sequence", "is empty: list the steps to run one after another")
		}
		v.steps(s.Sequence, path+".sequence", depth+1, sc)
	}
	if s.Parallel != nil {
		if len(s.Parallel) == 0 {
			v.add(path+".parallel", "is empty: list the steps to run at the same time")
		}
		v.steps(s.Parallel, path+".parallel", depth+1, sc)
	}
	if s.ForEach != nil {
		v.forEach(s.ForEach, path+".for_each", depth, sc)
	}
	if s.Repeat != nil {
		v.repeat(s.Repeat, path+".repeat", depth, sc)
	}

	if s.Deadline < 0 {
		v.add(path+".deadline", "must not be negative")
	}
	for i, e := range s.Escalate {
		p := fmt.Sprintf("%s.escalate[%d]", path, i)
		if e.After <= 0 {
			v.add(p+".after", "is required: how long the step may run before %s is told, e.g. 2h", orSomeone(e.Notify))
		}
		if strings.TrimSpace(e.Notify) == "" {
			v.add(p+".notify", "is required: who is told, e.g. district-command")
		}
		v.placeholders(p+".message", e.Message, EscalationPlaceholders, "an escalation")
	}
	if s.Retry != nil {
		v.retry(s, path+".retry")
	}
}

// EscalationPlaceholders are what an escalation's message may contain.
var EscalationPlaceholders = []string{"area", "incident"}

var placeholder = regexp.MustCompile(`\{[^{}\s]*\}`)

// placeholders reports every {word} of a text that the step cannot fill
// in: a notice or question must never reach people with braces in it.
func (v *validator) placeholders(path, text string, known []string, who string) {
	for _, m := range placeholder.FindAllString(text, -1) {
		if slices.Contains(known, strings.Trim(m, "{}")) {
			continue
		}
		if len(known) == 0 {
			v.add(path, "%s cannot be replaced: %s replaces no placeholders here", m, who)
			continue
		}
		list := make([]string, len(known))
		for i, k := range slices.Sorted(slices.Values(known)) {
			list[i] = "{" + k + "}"
		}
		v.add(path, "%s cannot be replaced: %s replaces %s", m, who, strings.Join(list, ", "))
	}
}

// sameFacts refuses a translation whose placeholders differ from its
// original's: a reader of one language must learn what a reader of the
// other does.
func (v *validator) sameFacts(s *Step, path, name, original string) {
	tr, ok := s.Params[name].(string)
	if !ok {
		return
	}
	orig, _ := s.Params[original].(string)
	have, want := placeholderSet(tr), placeholderSet(orig)
	for _, m := range slices.Sorted(maps.Keys(want)) {
		if !have[m] {
			v.add(path, "lacks %s, which %s has: every language says the same", m, original)
		}
	}
	for _, m := range slices.Sorted(maps.Keys(have)) {
		if !want[m] {
			v.add(path, "has %s, which %s lacks: every language says the same", m, original)
		}
	}
}

func placeholderSet(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range placeholder.FindAllString(text, -1) {
		out[m] = true
	}
	return out
}

func orSomeone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "someone"
	}
	return s
}

func (v *validator) kind(s *Step, path string, sc scope) {
	k, ok := v.reg[s.Kind]
	if !ok {
		v.add(path+".kind", "unknown kind %q: want one of %s", s.Kind, strings.Join(v.reg.Names(), ", "))
		return
	}
	if len(k.PerArea) > 0 && sc.level != anyLevel && !slices.Contains(k.PerArea, sc.level) {
		per := strings.Join(k.PerArea, " or ")
		var over []string
		for _, l := range k.PerArea {
			over = append(over, plural(l))
		}
		if sc.level == "" {
			v.add(path, "kind %s runs per %s: put it in a for_each over %s", s.Kind, per, strings.Join(over, " or "))
		} else {
			v.add(path, "kind %s runs per %s, but the enclosing for_each is over %s: put it in a for_each over %s",
				s.Kind, per, plural(sc.level), strings.Join(over, " or "))
		}
	}

	if s.Params == nil && len(k.Params) > 0 {
		s.Params = map[string]any{}
	}
	for _, name := range sortedKeys(k.Params) {
		p := k.Params[name]
		pp := path + ".params." + name
		val, given := s.Params[name]
		if !given || val == nil {
			switch {
			case p.Required:
				v.add(pp, "is required by kind %s: %s (%s)", s.Kind, p.Doc, p.Type)
			case p.Default != nil:
				norm, err := normalize(p, p.Default)
				if err != nil {
					v.add(pp, "the default of kind %s is invalid: %v", s.Kind, err)
					continue
				}
				s.Params[name] = norm
			default:
				delete(s.Params, name)
			}
			continue
		}
		norm, err := normalize(p, val)
		if err != nil {
			v.add(pp, "%v", err)
			continue
		}
		s.Params[name] = norm
		if text, ok := norm.(string); ok && p.Type == TypeString {
			v.placeholders(pp, text, k.Placeholders[name], "kind "+s.Kind)
		}
	}
	for _, name := range sortedKeys(k.Translations) {
		v.sameFacts(s, path+".params."+name, name, k.Translations[name])
	}
	for _, name := range sortedKeys(s.Params) {
		if _, ok := k.Params[name]; ok {
			continue
		}
		if len(k.Params) == 0 {
			v.add(path+".params."+name, "unknown param %q: kind %s takes no params", name, s.Kind)
		} else {
			v.add(path+".params."+name, "unknown param %q for kind %s: want %s", name, s.Kind, strings.Join(sortedKeys(k.Params), ", "))
		}
	}
}

// normalize checks a param value against its type and returns it in the
// form the interpreter reads.
func normalize(p Param, val any) (any, error) {
	switch p.Type {
	case TypeString:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("want text, got %v (quote it)", val)
		}
		if p.Required && strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("must not be empty")
		}
		if len(p.OneOf) > 0 && !slices.Contains(p.OneOf, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(p.OneOf, ", "))
		}
		return s, nil
	case TypeInt:
		switch n := val.(type) {
		case int:
			return n, nil
		case int64:
			if n >= math.MinInt && n <= math.MaxInt {
				return int(n), nil
			}
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return int(n), nil
			}
		}
		return nil, fmt.Errorf("want a whole number, got %v", quoteText(val))
	case TypeNumber:
		switch n := val.(type) {
		case int:
			return normalize(p, float64(n))
		case int64:
			return normalize(p, float64(n))
		case uint64:
			return normalize(p, float64(n))
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				break
			}
			if p.Fraction && (n < 0 || n > 1) {
				return nil, fmt.Errorf("is a fraction from 0 to 1 (0.99 is 99%%), got %g", n)
			}
			return n, nil
		}
		return nil, fmt.Errorf("want a number, got %v", quoteText(val))
	case TypeBool:
		if b, ok := val.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %v", quoteText(val))
	case TypeDuration:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("want a duration such as 90s, 30m, 2h or 3d, got %v", val)
		}
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		return d.String(), nil
	}
	return nil, fmt.Errorf("the kind declares an unknown param type %q", p.Type)
}

func quoteText(val any) any {
	if s, ok := val.(string); ok {
		return strconv.Quote(s)
	}
	return val
}

func (v *validator) forEach(f *ForEach, path string, depth int, sc scope) {
	a := f.Areas
	ap := path + ".areas"
	switch {
	case a.Level != "" && len(a.Codes) > 0:
		v.add(ap, "give level or codes, not both")
	case a.Level == "" && a.Codes == nil:
		v.add(ap, "say which areas: give level (e.g. compound) or codes")
	case a.Codes != nil && len(a.Codes) == 0:
		v.add(ap+".codes", "is empty: list at least one area code")
	}
	// Under the response, a for_each selects from the enclosing
	// for_each's area, or else from the response's area.
	base, what := v.area, "a "+v.area+" response"
	if isLevel(sc.level) {
		base, what = sc.level, "each of the enclosing for_each's "+plural(sc.level)
	}
	if a.Level != "" {
		sc.level = a.Level
		switch {
		case !isLevel(a.Level):
			v.add(ap+".level", "unknown level %q: want one of %s", a.Level, levelList())
			sc.level = anyLevel
		case isResponse(a.Under) && isLevel(base) && levelRank(a.Level) < levelRank(base):
			v.add(ap+".level", "%s has no %s under it: choose %s or a lower level, or say under which area",
				what, plural(a.Level), base)
		}
	}
	if len(a.Codes) > 0 {
		seen := map[string]bool{}
		for i, c := range a.Codes {
			cp := fmt.Sprintf("%s.codes[%d]", ap, i)
			switch {
			case !IsCode(c):
				v.add(cp, "%q is not an area code", c)
			case seen[c]:
				v.add(cp, "%q is listed twice", c)
			}
			seen[c] = true
		}
		if a.Level == "" {
			sc.level = anyLevel
		}
	}
	if !isResponse(a.Under) {
		for _, seg := range strings.Split(a.Under, "/") {
			if !IsCode(seg) {
				v.add(ap+".under", "%q is neither response nor an area code or path (list them with `muster areas`)", a.Under)
				break
			}
		}
	}
	if len(f.Steps) == 0 {
		v.add(path+".steps", "is required: list the steps to run for each area")
	}
	v.steps(f.Steps, path+".steps", depth+1, sc)
}

func isResponse(under string) bool { return under == "" || under == "response" }

func (v *validator) repeat(r *Repeat, path string, depth int, sc scope) {
	if len(r.Steps) == 0 {
		v.add(path+".steps", "is required: list the steps of a round")
	}
	v.steps(r.Steps, path+".steps", depth+1, sc)

	u := &r.Until
	up := path + ".until"
	v.condition(u, up, v.outputs(r.Steps), true)
	switch {
	case u.Consecutive < 0:
		v.add(up+".consecutive", "must be 1 or more, got %d", u.Consecutive)
	case u.Consecutive == 0:
		u.Consecutive = 1
	}
	switch {
	case r.Max == 0:
		v.add(path+".max", "is required: at most how many rounds run (1 to %d)", MaxRounds)
	case r.Max < 1 || r.Max > MaxRounds:
		v.add(path+".max", "must be 1 to %d, got %d", MaxRounds, r.Max)
	}
	if r.Every < 0 {
		v.add(path+".every", "must not be negative")
	}
	if r.Pause < 0 {
		v.add(path+".pause", "must not be negative")
	}
	r.Period = true
}

// condition checks one condition of an until: an output with exactly one
// comparison, or a non-empty all or any of conditions.
func (v *validator) condition(c *Condition, path string, outputs []string, top bool) {
	if !top && c.Consecutive != 0 {
		v.add(path+".consecutive", "say consecutive once, beside all or any at the top of until")
	}
	n := 0
	for _, p := range []*float64{c.Equals, c.AtMost, c.AtLeast} {
		if p != nil {
			n++
		}
	}
	switch {
	case (c.All != nil || c.Any != nil) && (c.Output != "" || n > 0 || (c.All != nil && c.Any != nil)):
		v.add(path, "give output with one comparison, or all, or any: not several of them")
		return
	case c.All != nil || c.Any != nil:
		list, key := c.All, "all"
		if c.Any != nil {
			list, key = c.Any, "any"
		}
		if len(list) == 0 {
			v.add(path+"."+key, "is empty: list the conditions, e.g. - {output: positives, equals: 0}")
		}
		for i := range list {
			v.condition(&list[i], fmt.Sprintf("%s.%s[%d]", path, key, i), outputs, false)
		}
		return
	}
	if c.Output == "" {
		v.add(path+".output", "is required: the figure the round's steps report, e.g. failed_checks (or give all or any)")
	} else if !slices.Contains(outputs, c.Output) {
		if len(outputs) == 0 {
			v.add(path+".output", "%q is not reported by the steps of this repeat: none of them reports any figure", c.Output)
		} else {
			v.add(path+".output", "%q is not reported by the steps of this repeat: they report %s", c.Output, strings.Join(outputs, ", "))
		}
	}
	if n != 1 {
		v.add(path, "give exactly one of equals, at_most, at_least")
	}
}

// outputs lists the figures the kind steps under steps report, sorted.
func (v *validator) outputs(steps []Step) []string {
	set := map[string]bool{}
	walkSteps(steps, "steps", func(_ string, s *Step) {
		if k, ok := v.reg[s.Kind]; ok {
			for _, o := range k.Outputs {
				set[o] = true
			}
		}
	})
	return sortedKeys(set)
}

func (v *validator) retry(s *Step, path string) {
	r := s.Retry
	if s.Kind == "" {
		v.add(path, "only a step with a kind has activities to retry: put retry on the steps inside")
	}
	if r.MaxAttempts < 0 || r.MaxAttempts > MaxAttempts {
		v.add(path+".max_attempts", "must be 0 (the default) to %d, got %d", MaxAttempts, r.MaxAttempts)
	}
	if r.InitialInterval < 0 {
		v.add(path+".initial_interval", "must not be negative")
	}
	if r.MaximumInterval < 0 {
		v.add(path+".maximum_interval", "must not be negative")
	}
	if r.StallRetry < 0 {
		v.add(path+".stall_retry", "must not be negative")
	}
	if r.InitialInterval > 0 && r.MaximumInterval > 0 && r.InitialInterval > r.MaximumInterval {
		v.add(path+".initial_interval", "%s is longer than maximum_interval %s", r.InitialInterval, r.MaximumInterval)
	}
}

func isLevel(l string) bool { return levelRank(l) >= 0 }

func levelRank(l string) int {
	for i, v := range scenario.Levels {
		if string(v) == l {
			return i
		}
	}
	return -1
}

func levelList() string {
	s := make([]string, len(scenario.Levels))
	for i, l := range scenario.Levels {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}

// plural names areas of a level in messages: compounds, communities.
func plural(level string) string {
	if strings.HasSuffix(level, "y") {
		return strings.TrimSuffix(level, "y") + "ies"
	}
	return level + "s"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore the keys are sorted below
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Walk calls fn for every step of the tree, parents before their children,
// in the order they are written. path is the step's place in the YAML
// structure, e.g. steps[1].for_each.steps[0].
func (d *Definition) Walk(fn func(path string, s *Step)) {
	walkSteps(d.Steps, "steps", fn)
}

func walkSteps(steps []Step, path string, fn func(string, *Step)) {
	for i := range steps {
		s := &steps[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		fn(p, s)
		walkSteps(s.Sequence, p+".sequence", fn)
		walkSteps(s.Parallel, p+".parallel", fn)
		if s.ForEach != nil {
			walkSteps(s.ForEach.Steps, p+".for_each.steps", fn)
		}
		if s.Repeat != nil {
			walkSteps(s.Repeat.Steps, p+".repeat.steps", fn)
		}
	}
}

// Kinds returns the step kinds the definition uses, sorted.
func (d *Definition) Kinds() []string {
	set := map[string]bool{}
	d.Walk(func(_ string, s *Step) {
		if s.Kind != "" {
			set[s.Kind] = true
		}
	})
	return sortedKeys(set)
}

// ParseRef reads a runbook reference NAME or NAME@VERSION; version 0 means
// the latest.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, pinned := strings.Cut(ref, "@")
	if !IsCode(name) {
		return "", 0, fmt.Errorf("runbook %q: want NAME or NAME@VERSION, where NAME is lower-case letters, digits and '-'", ref)
	}
	if !pinned {
		return name, 0, nil
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 {
		return "", 0, fmt.Errorf("runbook %q: the version after @ must be a whole number from 1", ref)
	}
	return name, version, nil
}
