package runbook

// Validate checks a whole definition, and the placeholders of its texts;
// validate_kind.go checks the steps that name a kind and their params.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// MaxDepth bounds how deeply steps nest: top-level steps are at depth 1,
// the steps of a sequence, parallel, for_each or repeat one deeper.
const MaxDepth = 8

// MaxRounds bounds a repeat's max.
const MaxRounds = 1000

// MaxAttempts bounds a retry policy's max_attempts.
const MaxAttempts = 100

// constructs are the ways a step says what it does, for messages.
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

// validator collects the problems of one definition, each with its path and
// line.
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

// validate checks the definition's header, then its steps.
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

// add records a problem at path.
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

// steps checks a list of sibling steps, whose ids must differ.
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

// step checks one step and, through the constructs it holds, the steps
// under it.
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
	v.oneConstruct(s, path)

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
	v.escalations(s.Escalate, path)
	if s.Retry != nil {
		v.retry(s, path+".retry")
	}
}

// oneConstruct checks that a step says what it does in exactly one way.
func (v *validator) oneConstruct(s *Step, path string) {
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
}

// escalations checks who a step's escalations tell, after how long, and
// with which placeholders.
func (v *validator) escalations(es []Escalation, path string) {
	for i, e := range es {
		p := fmt.Sprintf("%s.escalate[%d]", path, i)
		if e.After <= 0 {
			v.add(p+".after", "is required: how long the step may run before %s is told, e.g. 2h", orSomeone(e.Notify))
		}
		if strings.TrimSpace(e.Notify) == "" {
			v.add(p+".notify", "is required: who is told, e.g. district-command")
		}
		v.placeholders(p+".message", e.Message, EscalationPlaceholders, "an escalation")
		if e.MessageZh != "" {
			v.placeholders(p+".message_zh", e.MessageZh, EscalationPlaceholders, "an escalation")
			if strings.TrimSpace(e.Message) == "" {
				v.add(p+".message_zh", "needs message: the English text goes to every route that does not read Chinese")
			}
			v.sameTexts(p+".message_zh", e.MessageZh, e.Message, "message")
		}
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
	v.sameTexts(path, tr, orig, original)
}

// sameTexts refuses a translation tr whose placeholders differ from those
// of orig, the text named original.
func (v *validator) sameTexts(path, tr, orig, original string) {
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

// forEach checks which areas a for_each selects, and its steps in the scope
// of those areas.
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

// repeat checks a repeat's rounds and until. It completes a missing
// until.consecutive and sets Period, so the recorded definition measures
// every from a round's start.
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

// retry checks a step's retry policy: bounds, and intervals in order.
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
