package runbook_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/workflows"
)

func TestBuiltinsValidate(t *testing.T) {
	srcs, err := builtin.Builtin()
	if err != nil {
		t.Fatalf("Builtin() error = %v", err)
	}
	want := map[string][]string{
		"community-outbreak-level-1": {"approval", "compliance-sweep", "lift", "mass-testing", "notice", "seal", "staff-supply"},
		"district-supply":            {"notice", "staff-supply"},
		"seal-compound":              {"approval", "lift", "notice", "seal"},
		"campus-closure":             {"approval", "mass-testing", "notice"},
		"discipline-inspection":      {"inspection-follow-up", "notice"},
	}
	if len(srcs) != len(want) {
		t.Errorf("Builtin() = %d runbooks, want %d", len(srcs), len(want))
	}
	for _, src := range srcs {
		t.Run(src.Name, func(t *testing.T) {
			d, err := runbook.Parse(src.Name, src.Data, workflows.Kinds)
			if err != nil {
				t.Fatalf("Parse(%s) error = %v", src.Name, err)
			}
			if d.Name+".yaml" != src.Name {
				t.Errorf("Parse(%s).Name = %q, want the file name without .yaml", src.Name, d.Name)
			}
			if got := d.Kinds(); !reflect.DeepEqual(got, want[d.Name]) {
				t.Errorf("Parse(%s).Kinds() = %v, want %v", src.Name, got, want[d.Name])
			}
			// The built-in runbooks serve Chinese districts: every notice
			// has its Chinese text.
			if n, zh := strings.Count(string(src.Data), "kind: notice"), strings.Count(string(src.Data), "body_zh:"); zh != n {
				t.Errorf("%s: %d notices, %d with body_zh; want every notice in Chinese too", src.Name, n, zh)
			}
			if n, zh := strings.Count(string(src.Data), "kind: approval"), strings.Count(string(src.Data), "question_zh:"); zh != n {
				t.Errorf("%s: %d approvals, %d with question_zh; want every question in Chinese too", src.Name, n, zh)
			}
			if n, zh := strings.Count(string(src.Data), "message:"), strings.Count(string(src.Data), "message_zh:"); zh != n {
				t.Errorf("%s: %d escalation messages, %d with message_zh; want every escalation in Chinese too", src.Name, n, zh)
			}
			// Validating a parsed definition again finds nothing and
			// changes nothing: normalised params are stable.
			before := fmt.Sprint(d)
			if errs := runbook.Validate(d, workflows.Kinds); len(errs) > 0 {
				t.Errorf("Validate(Parse(%s)) = %v, want no errors", src.Name, errs)
			}
			if after := fmt.Sprint(d); after != before {
				t.Errorf("Validate changed a validated definition:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

func TestCommunityOutbreakTree(t *testing.T) {
	d := parseBuiltin(t, "community-outbreak-level-1.yaml")
	var got []string
	d.Walk(func(path string, s *runbook.Step) {
		got = append(got, path+" "+s.ID+" "+s.Kind)
	})
	want := []string{
		"steps[0] declare notice",
		"steps[1] seal ",
		"steps[1].for_each.steps[0] seal-compound seal",
		"steps[2] schools notice",
		"steps[3] supply staff-supply",
		"steps[4] testing ",
		"steps[4].repeat.steps[0] test mass-testing",
		"steps[5] rounds ",
		"steps[5].repeat.steps[0] sweep compliance-sweep",
		"steps[6] approve-lift approval",
		"steps[7] lift lift",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Walk(community-outbreak-level-1) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	seal := d.Steps[1].ForEach.Steps[0]
	if seal.Deadline.D() != 2*time.Hour || len(seal.Escalate) != 1 || seal.Escalate[0].Notify != "district-command" {
		t.Errorf("seal step deadline, escalate = %v, %+v; want 2h and district-command", seal.Deadline, seal.Escalate)
	}
	// The lift needs evidence: no positives and the coverage the rounds
	// require, twice in a row.
	tr := d.Steps[4].Repeat
	clean := map[string]float64{"positives": 0, "coverage": 0.995}
	empty := map[string]float64{"positives": 0, "coverage": 0}
	if tr.Until.Consecutive != 2 || !tr.Until.HoldsFor(clean) || tr.Until.HoldsFor(empty) {
		t.Errorf("testing = until %s, want positives = 0 and coverage ≥ 0.99 in 2 consecutive rounds", tr.Until)
	}
	if got := tr.Steps[0].Params["min_coverage"]; got != 0.99 {
		t.Errorf("testing min_coverage = %v, want 0.99", got)
	}
	r := d.Steps[5].Repeat
	if r.Until.Output != "failed_checks" || !r.Until.Holds(0) || r.Until.Consecutive != 2 || r.Max != 12 || r.Every.D() != 2*time.Hour {
		t.Errorf("rounds = %+v until %s, want failed_checks = 0 in 2 consecutive rounds, max 12, every 2h", r, r.Until)
	}
	if got := d.Steps[6].Params["default"]; got != "reject" {
		t.Errorf("approval default = %v, want reject (keep the seals when nobody decides)", got)
	}
}

func parseBuiltin(t *testing.T, name string) *runbook.Definition {
	t.Helper()
	srcs, err := builtin.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Name == name {
			d, err := runbook.Parse(s.Name, s.Data, workflows.Kinds)
			if err != nil {
				t.Fatalf("Parse(%s) error = %v", name, err)
			}
			return d
		}
	}
	t.Fatalf("no built-in %s", name)
	return nil
}

func TestDefaultsFilled(t *testing.T) {
	d, err := runbook.Parse("defaults.yaml", []byte(`name: defaults
title: Defaults
level: 2
area: community
steps:
  - id: compounds
    for_each:
      areas: {level: compound}
      steps:
        - id: seal
          kind: seal
  - id: ask
    kind: approval
    params: {question: "Lift?", timeout: 3d, default: approve}
  - id: pause
    kind: wait
    params: {duration: 90m}
  - id: rounds
    repeat:
      max: 3
      until: {output: failed_checks, at_most: 1}
      steps:
        - id: sweep
          kind: compliance-sweep
`), workflows.Kinds)
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	tests := []struct {
		name string
		got  map[string]any
		want map[string]any
	}{
		{"seal", d.Steps[0].ForEach.Steps[0].Params, map[string]any{"check_every": "2h", "staff_per_checkpoint": 2, "shift": "8h", "answer_within": "2h"}},
		{"approval", d.Steps[1].Params, map[string]any{"question": "Lift?", "timeout": "72h", "default": "approve", "approver": "command-center"}},
		{"wait", d.Steps[2].Params, map[string]any{"duration": "1h30m"}},
		{"compliance-sweep", d.Steps[3].Repeat.Steps[0].Params, nil},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("Parse() params of %s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	if c := d.Steps[3].Repeat.Until.Consecutive; c != 1 {
		t.Errorf("Parse() until.consecutive = %d, want the default 1", c)
	}
}

// base is a valid runbook; each bad case below breaks it in one place.
const base = `name: bad
title: Bad
level: 1
area: community
steps:
  - id: tell
    kind: notice
    params: {audience: residents, topic: t, body: b}
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		line int
		path string
		msg  string // a part of the message
	}{
		{"unknown top field", "name: bad\ntitle: Bad\nlevl: 1\nlevel: 1\nsteps: [{id: a, kind: wait, params: {duration: 1h}}]\n",
			3, "levl", `unknown field "levl" in the runbook`},
		{"unknown step field", base + "  - id: x\n    kind: wait\n    parms: {duration: 1h}\n",
			11, "steps[1].parms", `unknown field "parms" in a step`},
		{"unknown deep field", base + "  - id: c\n    for_each:\n      areas: {level: compound, filter: x}\n      steps: [{id: s, kind: seal}]\n",
			11, "steps[1].for_each.areas.filter", `unknown field "filter" in areas`},
		{"unknown kind", base + "  - id: x\n    kind: sael\n",
			10, "steps[1].kind", `unknown kind "sael": want one of ` + strings.Join(workflows.Kinds.Names(), ", ")},
		{"missing param", base + "  - id: x\n    kind: approval\n    params:\n      question: Lift?\n      default: reject\n",
			11, "steps[1].params.timeout", "is required by kind approval"},
		{"wrong param type", base + "  - id: c\n    for_each:\n      areas: {level: compound}\n      steps:\n        - id: s\n          kind: seal\n          params:\n            staff_per_checkpoint: two\n",
			16, "steps[1].for_each.steps[0].params.staff_per_checkpoint", `want a whole number, got "two"`},
		{"fractional int", base + "  - id: c\n    for_each:\n      areas: {level: compound}\n      steps:\n        - id: s\n          kind: seal\n          params: {staff_per_checkpoint: 2.5}\n",
			15, "steps[1].for_each.steps[0].params.staff_per_checkpoint", "want a whole number, got 2.5"},
		{"string param not text", base + "  - id: x\n    kind: lift\n    params:\n      reason: 12\n",
			12, "steps[1].params.reason", "want text"},
		{"unknown param", base + "  - id: x\n    kind: wait\n    params:\n      duration: 1h\n      until: dawn\n",
			13, "steps[1].params.until", `unknown param "until" for kind wait: want duration`},
		{"param of a kind without params", base + "  - id: x\n    kind: compliance-sweep\n    params: {gates: all}\n",
			11, "steps[1].params.gates", "takes no params"},
		{"bad one-of", base + "  - id: x\n    kind: approval\n    params:\n      question: Lift?\n      timeout: 1h\n      default: maybe\n",
			14, "steps[1].params.default", `"maybe" is not one of approve, reject`},
		{"bad duration param", base + "  - id: x\n    kind: wait\n    params:\n      duration: soon\n",
			12, "steps[1].params.duration", `"soon" is not a duration`},
		{"negative duration param", base + "  - id: x\n    kind: wait\n    params:\n      duration: -1h\n",
			12, "steps[1].params.duration", `"-1h" is not a duration`},
		{"bad deadline", base + "    deadline: 2 hours\n",
			9, "steps[0].deadline", `"2 hours" is not a duration`},
		{"unknown level", base + "  - id: c\n    for_each:\n      areas:\n        level: compund\n      steps: [{id: s, kind: seal}]\n",
			12, "steps[1].for_each.areas.level", `unknown level "compund"`},
		{"level above the response", base + "  - id: c\n    for_each:\n      areas: {level: district}\n      steps: [{id: s, kind: wait, params: {duration: 1h}}]\n",
			11, "steps[1].for_each.areas.level", "a community response has no districts under it"},
		{"level above the enclosing for_each", base + "  - id: c\n    for_each:\n      areas: {level: compound}\n      steps:\n        - id: d\n          for_each:\n            areas: {level: community}\n            steps: [{id: s, kind: wait, params: {duration: 1h}}]\n",
			15, "steps[1].for_each.steps[0].for_each.areas.level", "each of the enclosing for_each's compounds has no communities under it"},
		{"level and codes", base + "  - id: c\n    for_each:\n      areas: {level: compound, codes: [a]}\n      steps: [{id: s, kind: seal}]\n",
			11, "steps[1].for_each.areas", "give level or codes, not both"},
		{"for_each without steps", base + "  - id: c\n    for_each:\n      areas: {level: compound}\n",
			10, "steps[1].for_each.steps", "is required"},
		{"seal outside for_each", base + "  - id: s\n    kind: seal\n",
			9, "steps[1]", "kind seal runs per compound: put it in a for_each over compounds"},
		{"seal in the wrong for_each", base + "  - id: c\n    for_each:\n      areas: {level: community}\n      steps:\n        - id: s\n          kind: seal\n",
			13, "steps[1].for_each.steps[0]", "the enclosing for_each is over communities"},
		{"two constructs", base + "  - id: x\n    kind: wait\n    params: {duration: 1h}\n    sequence: [{id: y, kind: wait, params: {duration: 1h}}]\n",
			9, "steps[1]", "has both kind and sequence: give exactly one of"},
		{"no construct", base + "  - id: x\n    title: Nothing\n",
			9, "steps[1]", "say what the step does"},
		{"empty sequence", base + "  - id: x\n    sequence: []\n",
			10, "steps[1].sequence", "is empty"},
		{"missing id", base + "  - kind: wait\n    params: {duration: 1h}\n",
			9, "steps[1].id", "is required"},
		{"bad id", base + "  - id: Seal All\n    kind: wait\n    params: {duration: 1h}\n",
			9, "steps[1].id", `"Seal All" is not a code`},
		{"duplicate sibling ids", base + "  - id: tell\n    kind: wait\n    params: {duration: 1h}\n",
			9, "steps[1].id", `"tell" is already the id of steps[0]`},
		{"repeat output not produced", base + "  - id: r\n    repeat:\n      max: 3\n      until: {output: positives, equals: 0}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			12, "steps[1].repeat.until.output", `"positives" is not reported by the steps of this repeat: they report checked, failed_checks`},
		{"repeat without max", base + "  - id: r\n    repeat:\n      until: {output: failed_checks, equals: 0}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			10, "steps[1].repeat.max", "is required"},
		{"repeat max too high", base + "  - id: r\n    repeat:\n      max: 5000\n      until: {output: failed_checks, equals: 0}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			11, "steps[1].repeat.max", "must be 1 to 1000"},
		{"repeat with two comparisons", base + "  - id: r\n    repeat:\n      max: 3\n      until: {output: failed_checks, equals: 0, at_most: 1}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			12, "steps[1].repeat.until", "give exactly one of equals, at_most, at_least"},
		{"until all and output", base + "  - id: r\n    repeat:\n      max: 3\n      until:\n        output: failed_checks\n        equals: 0\n        all: [{output: checked, at_least: 1}]\n      steps: [{id: s, kind: compliance-sweep}]\n",
			12, "steps[1].repeat.until", "give output with one comparison, or all, or any"},
		{"until all empty", base + "  - id: r\n    repeat:\n      max: 3\n      until: {all: []}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			12, "steps[1].repeat.until.all", "is empty"},
		{"until all unknown output", base + "  - id: r\n    repeat:\n      max: 3\n      until:\n        all:\n          - {output: failed_checks, equals: 0}\n          - {output: coverage, at_least: 0.99}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			15, "steps[1].repeat.until.all[1].output", `"coverage" is not reported by the steps of this repeat: they report checked, failed_checks`},
		{"until any without comparison", base + "  - id: r\n    repeat:\n      max: 3\n      until:\n        any:\n          - {output: failed_checks}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			14, "steps[1].repeat.until.any[0]", "give exactly one of equals, at_most, at_least"},
		{"until consecutive inside all", base + "  - id: r\n    repeat:\n      max: 3\n      until:\n        all:\n          - {output: failed_checks, equals: 0, consecutive: 2}\n      steps: [{id: s, kind: compliance-sweep}]\n",
			14, "steps[1].repeat.until.all[0].consecutive", "say consecutive once, beside all or any"},
		{"unknown placeholder in a notice", base + "  - id: x\n    kind: notice\n    params: {audience: residents, topic: u, body: \"{area} closes at {time}\"}\n",
			11, "steps[1].params.body", "{time} cannot be replaced: kind notice replaces {area}, {incident}"},
		{"unknown placeholder in a notice's Chinese text", base + "  - id: x\n    kind: notice\n    params:\n      audience: residents\n      topic: u\n      body: \"{area} closes\"\n      body_zh: \"{area}{time}关闭\"\n",
			15, "steps[1].params.body_zh", "{time} cannot be replaced: kind notice replaces {area}, {incident}"},
		{"placeholder missing from a notice's Chinese text", base + "  - id: x\n    kind: notice\n    params:\n      audience: residents\n      topic: u\n      body: \"{area} closes (incident {incident})\"\n      body_zh: \"{area}关闭。\"\n",
			15, "steps[1].params.body_zh", "lacks {incident}, which body has: every language says the same"},
		{"placeholder only in a notice's Chinese text", base + "  - id: x\n    kind: notice\n    params:\n      audience: residents\n      topic: u\n      body: \"Schools close\"\n      body_zh: \"{area}学校关闭\"\n",
			15, "steps[1].params.body_zh", "has {area}, which body lacks: every language says the same"},
		{"unknown placeholder in a question", base + "  - id: x\n    kind: approval\n    params:\n      question: \"Lift {compound}?\"\n      timeout: 1h\n      default: reject\n",
			12, "steps[1].params.question", "{compound} cannot be replaced: kind approval replaces {area}, {evidence}, {incident}"},
		{"unknown placeholder in an escalation", base + "    escalate:\n      - after: 1h\n        notify: district-command\n        message: \"{area} late by {delay}\"\n",
			12, "steps[0].escalate[0].message", "{delay} cannot be replaced: an escalation replaces {area}, {incident}"},
		{"unknown placeholder in an escalation's Chinese text", base + "    escalate:\n      - after: 1h\n        notify: district-command\n        message: \"{area} is late\"\n        message_zh: \"{area}延误{delay}\"\n",
			13, "steps[0].escalate[0].message_zh", "{delay} cannot be replaced: an escalation replaces {area}, {incident}"},
		{"placeholder missing from an escalation's Chinese text", base + "    escalate:\n      - after: 1h\n        notify: district-command\n        message: \"{area} is late (incident {incident})\"\n        message_zh: \"{area}延误。\"\n",
			13, "steps[0].escalate[0].message_zh", "lacks {incident}, which message has: every language says the same"},
		{"escalation in Chinese only", base + "    escalate:\n      - after: 1h\n        notify: district-command\n        message_zh: \"{area}延误。\"\n",
			12, "steps[0].escalate[0].message_zh", "needs message"},
		{"placeholder missing from a question's Chinese text", base + "  - id: x\n    kind: approval\n    params:\n      question: \"Lift {area}? {evidence}\"\n      question_zh: \"是否解封{area}？\"\n      timeout: 1h\n      default: reject\n",
			13, "steps[1].params.question_zh", "lacks {evidence}, which question has: every language says the same"},
		{"mass-testing min_coverage above 1", base + "  - id: t\n    kind: mass-testing\n    params: {deadline: 7h, min_coverage: 99}\n",
			11, "steps[1].params.min_coverage", "is a fraction from 0 to 1"},
		{"escalate without notify", base + "    escalate:\n      - after: 1h\n",
			10, "steps[0].escalate[0].notify", "is required"},
		{"escalate without after", base + "    escalate:\n      - notify: district-command\n",
			10, "steps[0].escalate[0].after", "is required"},
		{"retry out of range", base + "    retry:\n      max_attempts: 500\n",
			10, "steps[0].retry.max_attempts", "must be 0 (the default) to 100"},
		{"retry intervals reversed", base + "    retry:\n      initial_interval: 10m\n      maximum_interval: 1m\n",
			10, "steps[0].retry.initial_interval", "longer than maximum_interval"},
		{"retry on a composite step", base + "  - id: x\n    sequence: [{id: y, kind: wait, params: {duration: 1h}}]\n    retry: {max_attempts: 3}\n",
			11, "steps[1].retry", "only a step with a kind"},
		{"level out of range", strings.Replace(base, "level: 1", "level: 7", 1),
			3, "level", "must be 1 (highest) to 4"},
		{"level not a number", strings.Replace(base, "level: 1", "level: one", 1),
			3, "level", `want a whole number, got "one"`},
		{"bad area", strings.Replace(base, "area: community", "area: village", 1),
			4, "area", `unknown level "village"`},
		{"bad name", strings.Replace(base, "name: bad", "name: Bad_Name", 1),
			1, "name", "is not a code"},
		{"steps not a list", "name: bad\ntitle: Bad\nlevel: 1\nsteps:\n  id: x\n",
			4, "steps", "must be a list, not a mapping"},
		{"no steps", "name: bad\ntitle: Bad\nlevel: 1\n",
			1, "steps", "is required"},
		{"duplicate key", base + "    kind: wait\n",
			9, "steps[0].kind", "is given twice (first at line 7)"},
		{"alias", "name: bad\ntitle: Bad\nlevel: 1\nsteps:\n  - &tell\n    id: tell\n    kind: wait\n    params: {duration: 1h}\n  - *tell\n",
			9, "steps[1]", "YAML aliases (*tell) are not allowed"},
		{"merge key", "name: bad\ntitle: Bad\nlevel: 1\nsteps:\n  - &w\n    id: a\n    kind: wait\n    params: {duration: 1h}\n  - <<: *w\n    id: b\n",
			9, "steps[1].<<", "merge keys (<<) are not allowed"},
		{"recursive anchor", "name: bad\ntitle: Bad\nlevel: 1\nsteps: &s\n  - id: a\n    sequence: *s\n",
			6, "steps[0].sequence", "YAML aliases (*s) are not allowed"},
		{"alias in params", base + "  - id: x\n    kind: wait\n    params: {duration: &d 1h}\n  - id: y\n    kind: wait\n    params: {duration: *d}\n",
			14, "steps[2].params.duration", "YAML aliases (*d) are not allowed"},
		{"too deep", "name: bad\ntitle: Bad\nlevel: 1\nsteps:\n" + nest(9),
			21, "steps[0]" + strings.Repeat(".sequence[0]", 8), "steps nest 9 deep here, at most 8"},
		{"syntax error", "name: bad\ntitle: [Bad\nlevel: 1\n",
			0, "", "did not find expected"},
		{"two documents", base + "---\nname: other\n",
			9, "", "a second YAML document"},
		{"not a mapping", "- id: x\n",
			1, "", "the runbook must be a mapping of fields, not a list"},
		{"empty file", "# nothing\n",
			0, "", "file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := runbook.Parse("bad.yaml", []byte(tt.yaml), workflows.Kinds)
			var errs runbook.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse(%s) = %v, %v; want runbook.Errors", tt.name, d, err)
			}
			if d != nil {
				t.Errorf("Parse(%s) returned a definition with errors", tt.name)
			}
			for _, e := range errs {
				if e.Path == tt.path && strings.Contains(e.Msg, tt.msg) && (tt.line == 0 || e.Line == tt.line) && e.Source == "bad.yaml" {
					return
				}
			}
			t.Errorf("Parse(%s) =\n%v\nwant bad.yaml:%d: %s: …%s…", tt.name, err, tt.line, tt.path, tt.msg)
		})
	}
}

// nest writes n steps, each the only step of its parent's sequence.
func nest(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		ind := strings.Repeat("    ", i)
		if i == n-1 {
			fmt.Fprintf(&b, "%s  - id: s%d\n%s    kind: wait\n%s    params: {duration: 1h}\n", ind, i, ind, ind)
		} else {
			fmt.Fprintf(&b, "%s  - id: s%d\n%s    sequence:\n", ind, i, ind)
		}
	}
	return b.String()
}

func TestDepthEightIsAllowed(t *testing.T) {
	src := "name: deep\ntitle: Deep\nlevel: 1\nsteps:\n" + nest(8)
	if _, err := runbook.Parse("deep.yaml", []byte(src), workflows.Kinds); err != nil {
		t.Errorf("Parse(8 deep) error = %v, want none", err)
	}
}

func TestParseReportsEveryError(t *testing.T) {
	src := `name: several
title: Several
level: 1
area: community
steps:
  - id: tell
    kind: notice
    params: {audience: residents, topic: t}
  - id: seal
    kind: seal
  - id: c
    for_each:
      areas: {level: compund}
      steps: [{id: s, kind: wait, params: {duration: 1h}}]
  - id: r
    colour: red
    repeat:
      until: {output: failed_checks, equals: 0}
      steps: [{id: s, kind: compliance-sweep}]
`
	_, err := runbook.Parse("several.yaml", []byte(src), workflows.Kinds)
	want := []string{
		"several.yaml:8: steps[0].params.body: is required by kind notice: the text (string)",
		"several.yaml:9: steps[1]: kind seal runs per compound: put it in a for_each over compounds",
		`several.yaml:13: steps[2].for_each.areas.level: unknown level "compund": want one of district, sub-district, community, compound`,
		`several.yaml:16: steps[3].colour: unknown field "colour" in a step (fields: id, title, kind, params, sequence, parallel, for_each, repeat, deadline, escalate, retry)`,
		"several.yaml:17: steps[3].repeat.max: is required: at most how many rounds run (1 to 1000)",
	}
	var errs runbook.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse(several) error = %v, want runbook.Errors", err)
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(several) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateBuiltByHand(t *testing.T) {
	d := &runbook.Definition{
		Name: "by-hand", Title: "By hand", Level: 1,
		Steps: []runbook.Step{{ID: "w", Kind: "wait", Line: 4, Params: map[string]any{"duration": "2h"}}, {ID: "x", Line: 7}},
	}
	errs := runbook.Validate(d, workflows.Kinds)
	if len(errs) != 1 || errs[0].Path != "steps[1]" || errs[0].Line != 7 || errs[0].Source != "" {
		t.Errorf("Validate(by hand) = %v, want one error at 7 steps[1]", errs)
	}
	if got := errs[0].Error(); got != "line 7: steps[1]: say what the step does: give one of kind, sequence, parallel, for_each, repeat" {
		t.Errorf("Error() = %q", got)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		compact string
		wantErr bool
	}{
		{in: "90s", want: 90 * time.Second, compact: "1m30s"},
		{in: "90m", want: 90 * time.Minute, compact: "1h30m"},
		{in: "2h", want: 2 * time.Hour, compact: "2h"},
		{in: "1h30m", want: 90 * time.Minute, compact: "1h30m"},
		{in: "3d", want: 72 * time.Hour, compact: "72h"},
		{in: "0.5d", want: 12 * time.Hour, compact: "12h"},
		{in: "0", want: 0, compact: "0s"},
		{in: "-1h", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "3 days", wantErr: true},
		{in: "d", wantErr: true},
		{in: "7200", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := runbook.ParseDuration(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDuration(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.D() != tt.want || got.String() != tt.compact {
			t.Errorf("ParseDuration(%q) = %v (%s), want %v (%s)", tt.in, got.D(), got, tt.want, tt.compact)
		}
		if again, err := runbook.ParseDuration(got.String()); err != nil || again != got {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got.String(), again, err, got)
		}
	}
}

func TestConditionHolds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		c    runbook.Condition
		v    float64
		want bool
	}{
		{runbook.Condition{Output: "positives", Equals: f(0)}, 0, true},
		{runbook.Condition{Output: "positives", Equals: f(0)}, 1, false},
		{runbook.Condition{Output: "failed_checks", AtMost: f(2)}, 2, true},
		{runbook.Condition{Output: "failed_checks", AtMost: f(2)}, 3, false},
		{runbook.Condition{Output: "coverage", AtLeast: f(0.95)}, 0.97, true},
		{runbook.Condition{Output: "coverage", AtLeast: f(0.95)}, 0.9, false},
		{runbook.Condition{Output: "nothing"}, 0, false},
	}
	for _, tt := range tests {
		if got := tt.c.Holds(tt.v); got != tt.want {
			t.Errorf("(%s).Holds(%g) = %v, want %v", tt.c, tt.v, got, tt.want)
		}
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		version int
		wantErr bool
	}{
		{in: "seal-compound", name: "seal-compound"},
		{in: "seal-compound@3", name: "seal-compound", version: 3},
		{in: "seal-compound@0", wantErr: true},
		{in: "seal-compound@latest", wantErr: true},
		{in: "Seal", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		name, v, err := runbook.ParseRef(tt.in)
		if (err != nil) != tt.wantErr || name != tt.name || v != tt.version {
			t.Errorf("ParseRef(%q) = %q, %d, %v; want %q, %d, error %v", tt.in, name, v, err, tt.name, tt.version, tt.wantErr)
		}
	}
}

// TestRegistryDefaults checks every default of every registered kind is a
// valid value of its param, so Validate never reports a registry bug.
func TestRegistryDefaults(t *testing.T) {
	for _, name := range workflows.Kinds.Names() {
		k := workflows.Kinds[name]
		if k.Name != name {
			t.Errorf("Kinds[%q].Name = %q", name, k.Name)
		}
		step := runbook.Step{ID: "x", Kind: name, Params: map[string]any{}}
		for p, param := range k.Params {
			if param.Required {
				step.Params[p] = sample(param)
			}
		}
		d := &runbook.Definition{Name: "r", Title: "R", Level: 1, Steps: []runbook.Step{step}}
		if len(k.PerArea) > 0 {
			d.Steps = []runbook.Step{{ID: "each", ForEach: &runbook.ForEach{Areas: runbook.AreaSelector{Level: k.PerArea[0]}, Steps: d.Steps}}}
		}
		if errs := runbook.Validate(d, workflows.Kinds); len(errs) > 0 {
			t.Errorf("Validate(a %s step with its defaults) = %v", name, errs)
		}
	}
}

func sample(p runbook.Param) any {
	switch {
	case len(p.OneOf) > 0:
		return p.OneOf[0]
	case p.Type == runbook.TypeDuration:
		return "1h"
	case p.Type == runbook.TypeInt:
		return 1
	case p.Type == runbook.TypeNumber:
		return 1.5
	case p.Type == runbook.TypeBool:
		return true
	}
	return "text"
}

// TestDocsListEveryKind fails when a registered kind, or one of its params,
// is missing from the kinds table of docs/runbooks.md.
func TestDocsListEveryKind(t *testing.T) {
	b, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range workflows.Kinds.Names() {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\|.*$").FindString(doc)
		if row == "" {
			t.Errorf("docs/runbooks.md has no kinds table row \"| `%s` | …\"", name)
			continue
		}
		for p := range workflows.Kinds[name].Params {
			if !strings.Contains(row, "`"+p+"`") {
				t.Errorf("docs/runbooks.md: the row of kind %s does not mention param `%s`", name, p)
			}
		}
	}
	srcs, _ := builtin.Builtin()
	for _, s := range srcs {
		if name := strings.TrimSuffix(s.Name, ".yaml"); !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/runbooks.md does not describe the built-in runbook %s", name)
		}
	}
}

// TestDocsExampleValidates keeps the complete example of docs/runbooks.md
// valid.
func TestDocsExampleValidates(t *testing.T) {
	b, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## A complete small runbook\n\n```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/runbooks.md has no complete example under \"## A complete small runbook\"")
	}
	d, err := runbook.Parse("docs/runbooks.md example", m[1], workflows.Kinds)
	if err != nil {
		t.Fatalf("Parse(docs example) error = %v", err)
	}
	if got := d.Steps[1].ForEach.Steps[0].Params["staff_per_checkpoint"]; got != 2 {
		t.Errorf("docs example staff_per_checkpoint = %v, want the default 2 as the comment says", got)
	}
}

func TestUntilAllAny(t *testing.T) {
	d, err := runbook.Parse("evidence.yaml", []byte(`name: evidence
title: Evidence
level: 1
area: community
steps:
  - id: testing
    repeat:
      max: 6
      until:
        all:
          - {output: positives, equals: 0}
          - any:
              - {output: coverage, at_least: 0.99}
              - {output: missing, at_most: 5}
        consecutive: 2
      steps:
        - id: test
          kind: mass-testing
          params: {deadline: 7h}
`), workflows.Kinds)
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	u := d.Steps[0].Repeat.Until
	if got, want := u.String(), "positives = 0 and (coverage ≥ 0.99 or missing ≤ 5) in 2 consecutive rounds"; got != want {
		t.Errorf("Until.String() = %q, want %q", got, want)
	}
	if got, want := u.Outputs(), []string{"coverage", "missing", "positives"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Until.Outputs() = %v, want %v", got, want)
	}
	tests := []struct {
		name string
		out  map[string]float64
		want bool
	}{
		{"clean and covered", map[string]float64{"positives": 0, "coverage": 0.995, "missing": 60}, true},
		{"clean, few missing", map[string]float64{"positives": 0, "coverage": 0.9, "missing": 3}, true},
		{"nobody sampled", map[string]float64{"positives": 0, "coverage": 0, "missing": 12650}, false},
		{"a positive", map[string]float64{"positives": 1, "coverage": 1, "missing": 0}, false},
		{"output not reported", map[string]float64{"positives": 0}, false},
	}
	for _, tt := range tests {
		if got := u.HoldsFor(tt.out); got != tt.want {
			t.Errorf("HoldsFor(%s %v) = %v, want %v", tt.name, tt.out, got, tt.want)
		}
	}
	if got := d.Steps[0].Repeat.Steps[0].Params["min_coverage"]; got != 0.99 {
		t.Errorf("min_coverage default = %v, want 0.99", got)
	}
}
