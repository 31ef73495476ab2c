package workflows

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/table"
)

// The current details and the focus of a city round read as they read when
// every rendering sorted all the steps and each state had a walk of its
// own: the same text and the same step for trees of many shapes.
func TestResponseDetailsOfACity(t *testing.T) {
	states := []string{StateDone, StateRunning, StateRetrying, StateStalled, StateAwaitingDecision, StateUnderstaffed,
		StateOverdue, StatePending, StateSkipped, StateAborted, StateFailed, StateCancelled}
	rng := rand.New(rand.NewPCG(14, 1200))
	for round := range 40 {
		r := cityResponse(t, 2000)
		r.sealStates = round%2 == 0
		r.p.State = []string{ResponseRunning, ResponseFailed, ResponseClosed, ResponseLifting}[round%4]
		if round%5 == 0 {
			r.p.Notices = map[string]int{domain.DeliveryUndelivered: 1}
		}
		items := r.nodes["testing"].Children
		// Few states among many steps, and few names among many areas:
		// ties in the table's order and steps in each state far apart.
		kinds := 1 + round%6
		for i, n := range items {
			if rng.IntN(10) < round%10 {
				n.State = states[rng.IntN(len(states))]
			}
			if round%3 == 0 {
				n.Area.Name = fmt.Sprintf("Community %02d", rng.IntN(kinds*7))
			} else if round%3 == 1 {
				n.Area.Name = fmt.Sprintf("Community %04d", len(items)-i)
			}
			if rng.IntN(50) == 0 {
				n.Held = !n.Held
			}
			if rng.IntN(100) == 0 {
				n.Area = nil
			}
			if rng.IntN(40) == 0 {
				n.Type = KindSeal
			}
			n.Overdue = rng.IntN(30) == 0
		}
		if round%7 == 0 {
			r.nodes["testing"].Children = items[:round]
		}
		got, want := r.render(), renderBefore(r)
		if got != want {
			t.Fatalf("round %d: details\n%s\nwant\n%s", round, got, want)
		}
		gs, gst := r.focus()
		ws, wst := focusBefore(r)
		if gs != ws || gst != wst {
			t.Fatalf("round %d: focus %s %s, want %s %s", round, gs, gst, ws, wst)
		}
	}
}

// renderBefore is render as it was: every step sorted by area.
func renderBefore(r *response) string {
	p := r.p
	var b strings.Builder
	fmt.Fprintf(&b, "**Response %s** · %s v%d · level %d · %s · %s", p.Incident, p.Runbook, p.Version, p.Level, p.Area.Name, r.stateName())
	leaves := p.Leaves()
	counts := map[string]int{}
	for _, n := range leaves {
		counts[n.State]++
	}
	var parts []string
	for _, s := range []string{StateDone, StateRunning, StateRetrying, StateStalled, StateAwaitingDecision, StateUnderstaffed, StateOverdue, StatePending, StateSkipped, StateAborted, StateFailed} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) > 0 {
		b.WriteString("\n\nSteps: " + strings.Join(parts, " · "))
	}
	if h := r.heldCount(); h > 0 {
		fmt.Fprintf(&b, " · %d seals holding", h)
	}
	if line := noticesLine(p.Notices); line != "" {
		b.WriteString("\n\n" + line)
	}
	steps := table.New("Area", "Step", "State", "Detail")
	sort.SliceStable(leaves, func(i, j int) bool { return areaName(leaves[i]) < areaName(leaves[j]) })
	for i, n := range leaves {
		if i == maxDetailRows {
			steps.Row("…", fmt.Sprintf("%d more", len(leaves)-maxDetailRows))
			break
		}
		state := n.State
		if n.Held && n.State != StateUnderstaffed {
			state = "holding"
		}
		if n.State == StateStalled || n.Overdue {
			state = "**" + state + "**"
		}
		steps.Row(areaName(n), n.Path, state, n.Detail)
	}
	b.WriteString("\n\n")
	steps.Render(&b)
	return b.String()
}

// focusBefore is focus as it was: a walk per state.
func focusBefore(r *response) (string, string) {
	if r.p.State == ResponseClosed {
		return "response", StateDone
	}
	if r.p.State == ResponseFailed && r.heldCount() == 0 {
		if l := failedLeaf(r.p.Root); l != nil {
			return l.Path, StateFailed
		}
	}
	leaves := r.p.Leaves()
	order := []string{StateStalled, StateRetrying, StateAwaitingDecision, StateOverdue, StateRunning}
	if r.sealStates {
		order = []string{StateStalled, StateRetrying, StateAwaitingDecision, StateUnderstaffed, StateOverdue, StateRunning}
	}
	for _, want := range order {
		if want == StateRetrying && r.p.Notices[domain.DeliveryUndelivered] > 0 {
			return NoticesStep, StateStalled
		}
		for _, n := range leaves {
			if n.State == want {
				return n.Path, want
			}
		}
	}
	if r.heldCount() > 0 {
		if r.sealStates {
			return "hold", StateHolding
		}
		return "hold", StateAwaitingDecision
	}
	return "response", StateRunning
}

// Rendering a city's details costs about what one walk of its steps
// costs, not a sort of them all.
func BenchmarkResponseDetailsOfACity(b *testing.B) {
	r := cityResponse(b, 2000)
	r.p.State = ResponseRunning
	for b.Loop() {
		r.render()
		r.focus()
	}
}
