package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/workflows"
)

// An understaffed seal says how many gates stand open, in the one-line
// summary and step by step.
func TestSealStatusShowsOpenGates(t *testing.T) {
	p := workflows.SealProgress{
		Compound: "bx-2", CompoundName: "Beiyuan New Compound 2", Phase: workflows.PhaseSealed, OpenGates: 9,
		Steps: []workflows.StepProgress{{Name: "hold", State: workflows.StateUnderstaffed, Detail: "9 of 12 gates unstaffed"}},
	}
	for i := range 12 {
		c := workflows.CheckpointProgress{Gate: string(rune('a' + i)), Required: 2, Staff: 2}
		if i < 9 {
			c.Staff, c.Shortfall = 0, 2
		}
		p.Checkpoints = append(p.Checkpoints, c)
	}
	if got, want := checkpointSummary(p), "12 gates, 6 staff, 18 short, 9 of 12 gates unstaffed"; got != want {
		t.Errorf("checkpointSummary() = %q, want %q", got, want)
	}
	var b bytes.Buffer
	renderSeal(&b, execution{ID: "response/inc-1/seal/bx-2", Status: "running"}, p)
	p.Shift, p.ShiftHours = 2, 12
	b.Reset()
	renderSeal(&b, execution{ID: "response/inc-1/seal/bx-2", Status: "running"}, p)
	for _, want := range []string{"hold  understaffed", "Understaffed: 9 of 12 gates unstaffed", "Shifts of 12h: shift 2 on duty", "2 staff per gate each shift"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("renderSeal() = %q, want it to contain %q", b.String(), want)
		}
	}
}

func TestListRefusesUnknownState(t *testing.T) {
	_, err := runCLI(t, "list", "--state", "sealed")
	if err == nil || !strings.Contains(err.Error(), "--state") || !strings.Contains(err.Error(), "understaffed") {
		t.Errorf("list --state sealed = %v, want an error naming --state and the states, understaffed among them", err)
	}
}

// hillside is a district shaped unlike the reference: one community of
// three compounds with four gates each and three staff in all.
var hillside = `
name: hillside
areas:
  - code: hill
    name: Hill District
    level: district
    staff:
      - code: hill-cadre
        name: District cadre
        role: cadre
    areas:
      - code: slope
        name: Slope Community
        level: community
        staff:
          - code: slope-worker
            name: Community worker
            role: community-worker
            count: 2
          - code: slope-doctor
            name: Doctor
            role: medical
        areas:
` + hillCompound("upper") + hillCompound("middle") + hillCompound("lower")

func hillCompound(code string) string {
	return `          - code: ` + code + `
            name: ` + strings.ToUpper(code[:1]) + code[1:] + ` Terrace
            level: compound
            population: 300
            gates:
              - {code: a, name: Gate A, entrance: true}
              - {code: b, name: Gate B}
              - {code: c, name: Gate C}
              - {code: d, name: Gate D}
`
}

func TestRespondWarnsOfShortStaff(t *testing.T) {
	ctx := context.Background()
	f, err := scenario.Parse("hillside", []byte(hillside))
	if err != nil {
		t.Fatal(err)
	}
	s := pgtest.New(t)
	if _, err := s.LoadScenario(ctx, f.Rows()); err != nil {
		t.Fatal(err)
	}
	def := func(params string) *runbook.Definition {
		d, err := runbook.Parse("t", []byte("name: t\ntitle: T\nlevel: 1\nsteps:\n  - id: seal\n    for_each:\n      areas: {level: compound}\n      steps:\n        - id: s\n          kind: seal\n          params: "+params+"\n"), workflows.Kinds)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	got, err := staffingWarning(ctx, s, def("{shift: 12h}"), "hill")
	if want := "12 gates × 2 per shift × 2 shifts = 48 staff; the registry has 3"; err != nil || !strings.Contains(got, want) {
		t.Errorf("staffingWarning(hill) = %q, %v; want it to contain %q", got, err, want)
	}
	// Upper Terrace alone: 4 gates × 1 × 1 shift = 4, and the registry
	// reaching it has 3; 3 per gate over 3 shifts is much worse.
	got, err = staffingWarning(ctx, s, def("{staff_per_checkpoint: 1, shift: 24h}"), "hill/slope/upper")
	if want := "4 gates × 1 per shift × 1 shift = 4 staff; the registry has 3"; err != nil || !strings.Contains(got, want) {
		t.Errorf("staffingWarning(upper) = %q, %v; want it to contain %q", got, err, want)
	}
	noSeal, err := runbook.Parse("t", []byte("name: t\ntitle: T\nlevel: 1\nsteps:\n  - id: w\n    kind: wait\n    params: {duration: 1h}\n"), workflows.Kinds)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := staffingWarning(ctx, s, noSeal, "hill"); err != nil || got != "" {
		t.Errorf("staffingWarning(no seal) = %q, %v; want nothing", got, err)
	}
}
