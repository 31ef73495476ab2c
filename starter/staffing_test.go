package main

import (
	"bytes"
	"strings"
	"testing"

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
	for _, want := range []string{"hold  understaffed", "Understaffed: 9 of 12 gates unstaffed"} {
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
