// Package runbook reads runbook definitions: YAML documents that say which
// steps a response runs, in what order, over which areas, with what
// parameters, deadlines and escalation. The Response workflow interprets a
// definition deterministically; step kinds are registered in a Registry, so
// a new kind is one registration, not a change to the interpreter. The
// format is documented in docs/runbooks.md.
package runbook

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Definition is one runbook.
type Definition struct {
	// Name identifies the runbook across versions, e.g. community-outbreak-level-1.
	Name        string `yaml:"name" json:"name"`
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Level is the response level the runbook is for (1 highest … 4).
	Level int `yaml:"level" json:"level"`
	// Area is the level of area a response with this runbook is opened for,
	// e.g. community; the response's area must have that level.
	Area string `yaml:"area" json:"area,omitempty"`
	// Steps run in sequence.
	Steps []Step `yaml:"steps" json:"steps"`
}

// Step is one node of the runbook tree. Exactly one of Kind, Sequence,
// Parallel, ForEach and Repeat is set.
type Step struct {
	// ID names the step; unique among its siblings, it forms the step's path
	// ("seal", "rounds/sweep") and its child workflow ID.
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title,omitempty"`

	// Kind and Params make a leaf step run by a registered step kind.
	Kind   string         `yaml:"kind" json:"kind,omitempty"`
	Params map[string]any `yaml:"params" json:"params,omitempty"`

	Sequence []Step   `yaml:"sequence" json:"sequence,omitempty"`
	Parallel []Step   `yaml:"parallel" json:"parallel,omitempty"`
	ForEach  *ForEach `yaml:"for_each" json:"for_each,omitempty"`
	Repeat   *Repeat  `yaml:"repeat" json:"repeat,omitempty"`

	// Deadline is how long the step may take before it is overdue.
	Deadline Duration `yaml:"deadline" json:"deadline,omitempty"`
	// Escalate lists who is told, and when, while the step is not done.
	Escalate []Escalation `yaml:"escalate" json:"escalate,omitempty"`
	// Retry overrides the default retry policy of the step's activities.
	Retry *RetryPolicy `yaml:"retry" json:"retry,omitempty"`

	Line int `yaml:"-" json:"-"`
}

// ForEach runs its steps once per selected area, in parallel.
type ForEach struct {
	Areas AreaSelector `yaml:"areas" json:"areas"`
	Steps []Step       `yaml:"steps" json:"steps"`
	Line  int          `yaml:"-" json:"-"`
}

// AreaSelector chooses areas from the area tree.
type AreaSelector struct {
	// Level selects areas of this level (compound, community, …).
	Level string `yaml:"level" json:"level,omitempty"`
	// Under is where to look: "response" (the response's area, the default)
	// or an area code or path.
	Under string `yaml:"under" json:"under,omitempty"`
	// Codes selects these areas by code (instead of Level).
	Codes []string `yaml:"codes" json:"codes,omitempty"`
}

// Repeat runs its steps in rounds until the condition holds or Max rounds
// have run.
type Repeat struct {
	Steps []Step    `yaml:"steps" json:"steps"`
	Until Condition `yaml:"until" json:"until"`
	// Max bounds the rounds. Every is the period from the start of one
	// round to the start of the next, Pause the rest after a round's end;
	// with both, the next round starts at the later of the two.
	Max   int      `yaml:"max" json:"max"`
	Every Duration `yaml:"every" json:"every,omitempty"`
	Pause Duration `yaml:"pause" json:"pause,omitempty"`
	// Period says Every is measured from a round's start. Validation sets
	// it, so every definition recorded at a response's open from now on
	// has it; definitions recorded before lack it, and their Every stays
	// what it meant then, a pause after a round's end.
	Period bool `yaml:"-" json:"period,omitempty"`
	Line   int  `yaml:"-" json:"-"`
}

// Condition tests the outputs of a round's steps (summed over the steps and
// areas of the round, or the lowest for outputs that are fractions, such
// as coverage), e.g. positives = 0 in 2 consecutive rounds. It is either
// one output with one comparison, or All (every condition holds) or Any
// (at least one holds) of conditions; Consecutive belongs to the top.
type Condition struct {
	Output      string      `yaml:"output" json:"output,omitempty"`
	Equals      *float64    `yaml:"equals" json:"equals,omitempty"`
	AtMost      *float64    `yaml:"at_most" json:"at_most,omitempty"`
	AtLeast     *float64    `yaml:"at_least" json:"at_least,omitempty"`
	All         []Condition `yaml:"all" json:"all,omitempty"`
	Any         []Condition `yaml:"any" json:"any,omitempty"`
	Consecutive int         `yaml:"consecutive" json:"consecutive,omitempty"`
}

// Holds reports whether a round's value meets a condition on one output.
func (c Condition) Holds(v float64) bool {
	switch {
	case c.Equals != nil:
		return v == *c.Equals
	case c.AtMost != nil:
		return v <= *c.AtMost
	case c.AtLeast != nil:
		return v >= *c.AtLeast
	}
	return false
}

// HoldsFor reports whether a round's outputs meet the condition. An output
// the round did not report never meets a comparison: a missing figure is
// no evidence.
func (c Condition) HoldsFor(outputs map[string]float64) bool {
	switch {
	case c.All != nil:
		for _, x := range c.All {
			if !x.HoldsFor(outputs) {
				return false
			}
		}
		return len(c.All) > 0
	case c.Any != nil:
		for _, x := range c.Any {
			if x.HoldsFor(outputs) {
				return true
			}
		}
		return false
	}
	v, ok := outputs[c.Output]
	return ok && c.Holds(v)
}

// Outputs lists the outputs the condition reads, sorted.
func (c Condition) Outputs() []string {
	set := map[string]bool{}
	c.outputs(set)
	return sortedKeys(set)
}

func (c Condition) outputs(set map[string]bool) {
	if c.Output != "" {
		set[c.Output] = true
	}
	for _, x := range append(append([]Condition(nil), c.All...), c.Any...) {
		x.outputs(set)
	}
}

// String renders the condition for people: "positives = 0 in 2 consecutive
// rounds", "positives = 0 and coverage ≥ 0.99 in 2 consecutive rounds".
func (c Condition) String() string {
	s := c.expr(true)
	if c.Consecutive > 1 {
		s += fmt.Sprintf(" in %d consecutive rounds", c.Consecutive)
	}
	return s
}

func (c Condition) expr(top bool) string {
	list, sep := c.All, " and "
	if c.Any != nil {
		list, sep = c.Any, " or "
	}
	if c.All != nil || c.Any != nil {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = x.expr(false)
		}
		s := strings.Join(parts, sep)
		if !top && len(list) > 1 {
			s = "(" + s + ")"
		}
		return s
	}
	var op string
	var v float64
	switch {
	case c.Equals != nil:
		op, v = "=", *c.Equals
	case c.AtMost != nil:
		op, v = "≤", *c.AtMost
	case c.AtLeast != nil:
		op, v = "≥", *c.AtLeast
	}
	return fmt.Sprintf("%s %s %g", c.Output, op, v)
}

// Escalation tells someone when a step is still not done after a while.
type Escalation struct {
	After   Duration `yaml:"after" json:"after"`
	Notify  string   `yaml:"notify" json:"notify"`
	Message string   `yaml:"message" json:"message,omitempty"`
	// MessageZh is the message in Simplified Chinese, published beside the
	// English one so zh-CN routes get it; the same placeholders as Message.
	MessageZh string `yaml:"message_zh" json:"message_zh,omitempty"`
}

// RetryPolicy overrides how a step's activities are retried and how often
// a stalled step is tried again.
type RetryPolicy struct {
	MaxAttempts     int      `yaml:"max_attempts" json:"max_attempts,omitempty"`
	InitialInterval Duration `yaml:"initial_interval" json:"initial_interval,omitempty"`
	MaximumInterval Duration `yaml:"maximum_interval" json:"maximum_interval,omitempty"`
	StallRetry      Duration `yaml:"stall_retry" json:"stall_retry,omitempty"`
}

// Duration is a time.Duration written as "90s", "30m", "2h" or "3d".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration reads "90s", "30m", "2h", "1h30m" or "3d".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		if _, err := fmt.Sscanf(days, "%g", &n); err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 30m, 2h, 3d)", s)
		}
		return Duration(time.Duration(n * 24 * float64(time.Hour))), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 30m, 2h, 3d)", s)
	}
	return Duration(d), nil
}

// String renders the duration compactly and in a form ParseDuration reads:
// "2h", "1h30m", "1m30s", "72h" (for 3d). Validate normalises duration
// params to this form.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// UnmarshalText implements encoding.TextUnmarshaler (YAML and JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// MarshalJSON keeps durations readable in payloads and the API.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"2h\": %w", err)
	}
	return d.UnmarshalText([]byte(s))
}

// ParamType is the type of a step parameter.
type ParamType string

// Parameter types.
const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeNumber   ParamType = "number"
	TypeBool     ParamType = "bool"
	TypeDuration ParamType = "duration"
)

// Param describes one parameter of a step kind.
type Param struct {
	Type     ParamType
	Required bool
	// Default applies when the parameter is omitted.
	Default any
	// OneOf lists the allowed values of a string parameter.
	OneOf []string
	// Fraction marks a number parameter that is a share, 0 to 1.
	Fraction bool
	Doc      string
}

// Kind describes a registered step kind.
type Kind struct {
	Name string
	Doc  string
	// Params are the kind's parameters; any other parameter is an error.
	Params map[string]Param
	// Outputs name the figures a step of this kind reports, for repeat
	// conditions (e.g. positives).
	Outputs []string
	// Fractions name the outputs that are shares (coverage): a round
	// reports the lowest of its steps', not their sum.
	Fractions []string
	// Placeholders name what a text param of the kind may contain in
	// braces and the step fills in, e.g. body: {area}, {incident}. A
	// placeholder outside this list is a validation error.
	Placeholders map[string][]string
	// Translations name the text params that are another param in another
	// language, e.g. body_zh: body. A translation must use the same
	// placeholders as its original, so no language loses a fact.
	Translations map[string]string
	// PerArea kinds run once per area and must sit inside a for_each whose
	// areas have one of these levels (e.g. seal: compound).
	PerArea []string
}

// Registry holds the step kinds a runbook may use.
type Registry map[string]Kind

// Names returns the registered kind names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
