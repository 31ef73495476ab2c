package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/workflows"
)

// ridge generates a district shaped unlike the reference: one community
// of compounds with many gates each, and a registry of far fewer staff
// than gates. With volunteers, each compound registers six per gate: two
// for each of three shifts.
func ridge(compounds, gates, staff int, volunteers bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `name: ridge
areas:
  - code: ridge
    name: Ridge District
    level: district
    areas:
      - code: ridge-east
        name: Ridge East Community
        level: community
        staff:
          - code: ridge-east-worker
            name: Community worker
            role: community-worker
            count: %d
        areas:
`, staff)
	for c := range compounds {
		fmt.Fprintf(&b, "          - code: ridge-k%d\n            name: Ridge Compound %d\n            level: compound\n            population: 400\n            gates:\n", c+1, c+1)
		for g := range gates {
			fmt.Fprintf(&b, "              - {code: g%d, name: Gate %d, entrance: %v}\n", g+1, g+1, g == 0)
		}
		if volunteers {
			fmt.Fprintf(&b, "            staff:\n              - code: ridge-k%d-volunteer\n                name: Resident volunteer\n                role: volunteer\n                count: %d\n", c+1, 6*gates)
		}
	}
	return b.String()
}

func loadRidge(t *testing.T, s *stack, yaml string) {
	t.Helper()
	f, err := scenario.Parse("ridge", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.LoadScenario(context.Background(), f.Rows()); err != nil {
		t.Fatal(err)
	}
}

// A district with fewer staff than gates: its seals read understaffed with
// the open gates counted, each is escalated once with the numbers, the
// compliance rounds fail the open checkpoints, and once residents
// volunteer the next round draws them and the seals read holding; shifts
// then rotate with nobody on duty twice and nobody on two shifts in a row.
func TestUnderstaffedSealsEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	const compounds, gates, staff = 3, 5, 4
	loadRidge(t, s, ridge(compounds, gates, staff, false))
	name := "ridge-seal"
	src := `name: ridge-seal
title: Seal every compound
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas: {level: compound, under: response}
      steps:
        - id: seal-compound
          kind: seal
          params: {check_every: 2h, staff_per_checkpoint: 2, shift: 8h, answer_within: 48h}
`
	if _, _, err := s.st.PublishRunbook(ctx, name, "Seal every compound", []byte(src), "e2e"); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("short")
	in := workflows.ResponseInput{Incident: incident, Runbook: name, Area: "ridge-east", TimeScale: 3600, RequestedBy: "e2e"}
	if _, _, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test"); err != nil {
		t.Fatal(err)
	}
	seals := make([]string, compounds)
	for c := range seals {
		seals[c] = workflows.ResponseWorkflowID(incident) + fmt.Sprintf("/seal/ridge-k%d", c+1)
	}
	progress := func(id string) (workflows.SealProgress, bool) {
		var p workflows.SealProgress
		v, err := s.c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
		return p, err == nil && v.Get(&p) == nil
	}
	list := func(state string) int {
		q := fmt.Sprintf("MusterIncident = '%s' AND MusterStepState = '%s' AND WorkflowType = '%s'", incident, state, workflows.SealCompoundName)
		resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.GetExecutions())
	}

	// 15 gates × 2 = 30 posts and 4 staff: 2 gates staffed, 13 open.
	eventually(t, 60*time.Second, "seals understaffed", func() (bool, string) {
		open, failed := 0, 0
		for _, id := range seals {
			p, ok := progress(id)
			if !ok || p.Phase != workflows.PhaseSealed {
				return false, id + " " + p.Phase
			}
			open += p.OpenGates
			failed += p.FailedChecks
		}
		// Short seals read understaffed, or awaiting-decision once they
		// asked for outside staff.
		n := list(workflows.StateUnderstaffed) + list(workflows.StateAwaitingDecision)
		return open == compounds*gates-staff/2 && n == compounds && failed > 0,
			fmt.Sprintf("%d gates open, %d failed checks, %d executions understaffed", open, failed, n)
	})
	// The response shows each seal understaffed with its open gates.
	eventually(t, 20*time.Second, "response shows the seals understaffed", func() (bool, string) {
		p := s.responseProgress(t, workflows.ResponseWorkflowID(incident))
		open, short := 0.0, 0
		for _, n := range p.Leaves() {
			if n.Type == workflows.KindSeal && (n.State == workflows.StateUnderstaffed || n.State == workflows.StateAwaitingDecision) {
				short++
				open += n.Outputs["open_gates"]
			}
		}
		// At least the gates the pool cannot staff are open; more while a
		// shift change leaves gates open until the next shift stands.
		return short == compounds && open >= float64(compounds*gates-staff/2), fmt.Sprintf("%d seals understaffed, %g gates open", short, open)
	})
	var bodies []string
	if err := s.st.DB().SelectContext(ctx, &bodies, `SELECT body FROM notices WHERE incident = $1 AND kind LIKE 'seal-understaffed%' AND audience = 'district command' ORDER BY body`, incident); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != compounds {
		t.Fatalf("escalations = %d (%q), want one per compound", len(bodies), bodies)
	}
	// Whichever compound drew the 4 staff has 3 gates open; the others 5.
	total := 0
	for c, body := range bodies {
		var open, of int
		prefix := fmt.Sprintf("Ridge Compound %d: ", c+1)
		if _, err := fmt.Sscanf(strings.TrimPrefix(body, prefix), "%d of %d gates unstaffed", &open, &of); err != nil || !strings.HasPrefix(body, prefix) || of != gates {
			t.Errorf("escalation %d = %q, want %q and the count of %d gates", c, body, prefix+"N of 5 gates unstaffed", gates)
		}
		total += open
	}
	if total != compounds*gates-staff/2 {
		t.Errorf("escalations count %d gates unstaffed, want %d", total, compounds*gates-staff/2)
	}
	t.Logf("staffing: %d gates × 2 per shift, %d staff in the registry; escalated: %q", compounds*gates, staff, bodies)

	// What the pool could not fill is asked of the command center: each
	// seal awaits a decision, and filtering for decisions finds them.
	eventually(t, 30*time.Second, "seals asking for outside staff", func() (bool, string) {
		n := list(workflows.StateAwaitingDecision)
		return n == compounds, fmt.Sprintf("%d seals awaiting a decision", n)
	})
	// The decision goes through the response, which knows of the question
	// once the seal's report has reached it; visibility may show the
	// seal's state first.
	rid := workflows.ResponseWorkflowID(incident)
	eventually(t, 30*time.Second, "the response sees ridge-k1's question", func() (bool, string) {
		n := s.responseProgress(t, rid).Find("seal/ridge-k1")
		if n == nil {
			return false, "no seal/ridge-k1 in the response's progress"
		}
		return n.State == workflows.StateAwaitingDecision, "seal/ridge-k1 reads " + n.State
	})
	// Approved for the first compound: staff from outside the district (the
	// reference district's) fill its gates.
	if err := sendUpdate(ctx, s.c, rid, workflows.UpdateDecide, workflows.Decision{Step: "seal/ridge-k1", Decision: "approve", By: "duty-officer", Reason: "borrow from Xiaodian"}); err != nil {
		t.Fatalf("approve outside staff for ridge-k1 = %v", err)
	}
	eventually(t, 30*time.Second, "ridge-k1 staffed from outside", func() (bool, string) {
		p, _ := progress(seals[0])
		return p.OpenGates == 0 && p.Request == nil, fmt.Sprintf("%d gates open, request %+v", p.OpenGates, p.Request)
	})
	var outsiders int
	if err := s.st.DB().GetContext(ctx, &outsiders, `SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
		JOIN staff st ON st.id = cs.staff_id JOIN areas sa ON sa.id = st.area_id
		WHERE c.incident = $1 AND cs.released_at IS NULL AND sa.path NOT LIKE 'ridge%'`, incident); err != nil {
		t.Fatal(err)
	}
	t.Logf("outside staff on duty at ridge-k1 after the approval: %d", outsiders)
	if outsiders == 0 {
		t.Error("no staff from outside the district on duty after the approval")
	}

	// A volunteer drive: residents of each compound register, two a gate.
	loadRidge(t, s, ridge(compounds, gates, staff, true))
	eventually(t, 60*time.Second, "seals holding", func() (bool, string) {
		open := 0
		for _, id := range seals {
			p, _ := progress(id)
			open += p.OpenGates
		}
		n := list(workflows.StateHolding)
		return open == 0 && n == compounds, fmt.Sprintf("%d gates open, %d executions holding", open, n)
	})
	// Shift 2 takes over (8 hours in, 8 seconds at this time scale).
	eventually(t, 60*time.Second, "shift 2 on duty", func() (bool, string) {
		var states []string
		done := true
		for _, id := range seals {
			p, _ := progress(id)
			states = append(states, fmt.Sprintf("shift %d, %d open", p.Shift, p.OpenGates))
			done = done && p.Shift >= 2 && p.OpenGates == 0
		}
		return done, strings.Join(states, "; ")
	})
	var twice int
	if err := s.st.DB().GetContext(ctx, &twice, `SELECT count(*) FROM checkpoint_staff a
		JOIN checkpoint_staff b ON b.staff_id = a.staff_id AND b.shift = a.shift + 1
		JOIN checkpoints ca ON ca.id = a.checkpoint_id JOIN checkpoints cb ON cb.id = b.checkpoint_id
		WHERE ca.incident = $1 AND cb.incident = $1 AND ca.area_id = cb.area_id`, incident); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d people stood two shifts in a row at one seal, want none: the relieved rest", twice)
	}
	var figures []string
	if err := s.st.DB().SelectContext(ctx, &figures, `SELECT format('shift %s: %s people in %s bookings, %s on duty', cs.shift, count(DISTINCT cs.staff_id), count(*), count(*) FILTER (WHERE cs.released_at IS NULL))
		FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1 GROUP BY cs.shift ORDER BY cs.shift`, incident); err != nil {
		t.Fatal(err)
	}
	t.Logf("staffing by shift: %s", strings.Join(figures, "; "))
	var doubled int
	if err := s.st.DB().GetContext(ctx, &doubled, `SELECT count(*) FROM (SELECT staff_id FROM checkpoint_staff WHERE released_at IS NULL GROUP BY staff_id HAVING count(*) > 1) x`); err != nil {
		t.Fatal(err)
	}
	if doubled != 0 {
		t.Errorf("%d people stand at two checkpoints at once, want none", doubled)
	}
	var escalations int
	if err := s.st.DB().GetContext(ctx, &escalations, `SELECT count(*) FROM notices WHERE incident = $1 AND kind LIKE 'seal-understaffed%'`, incident); err != nil {
		t.Fatal(err)
	}
	if escalations != compounds {
		t.Errorf("escalations after the shortfall was filled = %d, want still %d: one per shortfall", escalations, compounds)
	}
}
