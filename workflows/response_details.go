package workflows

// What supervisors see of a response besides its progress query: the
// search attributes and the Markdown current details of the Web UI, and
// the evidence an approval's question quotes.

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/table"
)

// changed mirrors the tree into the search attributes and the current
// details.
func (r *response) changed(ctx workflow.Context) {
	step, state := r.focus()
	if step != r.saStep || state != r.saState {
		r.saStep, r.saState = step, state
		r.cost(ctx, costUpsert)
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStep.ValueSet(step), SAStepState.ValueSet(state))
	}
	if n := 1 + len(r.p.Added); n != r.saPaths {
		r.saPaths = n
		r.cost(ctx, costUpsert)
		var paths []string
		for _, x := range append([]activities.Area{r.p.Area}, r.p.Added...) {
			paths = append(paths, domain.PathPrefixes(x.Path)...)
		}
		slices.Sort(paths)
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAAreaPath.ValueSet(slices.Compact(paths)))
	}
	// The details are set once the coroutines that run now have run, not
	// on every change: a city round changes thousands of times, and each
	// rendering walks every step. A coroutine started now runs after every
	// coroutine already there, in the same pass of the SDK's dispatcher
	// (the one changing the tree made progress, so the pass is no extra
	// one). Setting the details is no command: when they are set does not
	// change the history.
	if !r.detailsDirty {
		r.detailsDirty = true
		workflow.Go(ctx, r.flushDetails)
	}
}

// flushDetails sets the current details now if the tree has changed
// since they were last set.
func (r *response) flushDetails(ctx workflow.Context) {
	if r.detailsDirty {
		r.detailsDirty = false
		workflow.SetCurrentDetails(ctx, r.render())
	}
}

// focus picks what a supervisor should see first: a stalled step, then one
// awaiting a decision, an overdue one, a running one; of several, the
// first in the tree.
func (r *response) focus() (string, string) {
	if r.p.State == ResponseClosed {
		return "response", StateDone
	}
	order := []string{StateStalled, StateRetrying, StateAwaitingDecision, StateOverdue, StateRunning}
	if r.sealStates {
		order = []string{StateStalled, StateRetrying, StateAwaitingDecision, StateUnderstaffed, StateOverdue, StateRunning}
	}
	// One walk finds the first step in each state, and counts the seals.
	first := make([]*Node, len(order))
	held := 0
	walkLeaves(r.p.Root, func(n *Node) {
		if i := slices.Index(order, n.State); i >= 0 && first[i] == nil {
			first[i] = n
		}
		if isHeld(n) {
			held++
		}
	})
	if r.p.State == ResponseFailed && held == 0 {
		if l := failedLeaf(r.p.Root); l != nil {
			return l.Path, StateFailed
		}
	}
	for i, want := range order {
		if want == StateRetrying && r.p.Notices[domain.DeliveryUndelivered] > 0 {
			// An undelivered notice waits for a person (a route fixed, a
			// resend), like a stalled step: MusterStepState = 'stalled'
			// finds the response with MusterStep = notices.
			return NoticesStep, StateStalled
		}
		if first[i] != nil {
			return first[i].Path, want
		}
	}
	if held > 0 {
		if r.sealStates {
			return "hold", StateHolding
		}
		return "hold", StateAwaitingDecision
	}
	return "response", StateRunning
}

// isHeld reports whether a step is in place until lifted (a seal).
func isHeld(n *Node) bool {
	return n.WorkflowID != "" && !(terminal(n.State) && !n.Held) && stepKinds[n.Type].holds
}

// walkLeaves calls f for each step of a registered kind under n, in the
// order of Leaves.
func walkLeaves(n *Node, f func(*Node)) {
	if n == nil {
		return
	}
	if _, ok := Kinds[n.Type]; ok {
		f(n)
	}
	for _, c := range n.Children {
		walkLeaves(c, f)
	}
}

// maxDetailRows is how many steps the table in a response's current
// details lists; a line counts the rest.
const maxDetailRows = 40

// render writes the Markdown the Web UI shows: a line for the response and
// a table of its steps, area by area.
func (r *response) render() string {
	p := r.p
	var b strings.Builder
	fmt.Fprintf(&b, "**Response %s** · %s v%d · level %d · %s · %s", p.Incident, p.Runbook, p.Version, p.Level, p.Area.Name, r.stateName())
	var leaves []*Node
	counts := map[string]int{}
	held := 0
	walkLeaves(p.Root, func(n *Node) {
		leaves = append(leaves, n)
		counts[n.State]++
		if isHeld(n) {
			held++
		}
	})
	var parts []string
	for _, s := range []string{StateDone, StateRunning, StateRetrying, StateStalled, StateAwaitingDecision, StateUnderstaffed, StateOverdue, StatePending, StateSkipped, StateAborted, StateFailed} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) > 0 {
		b.WriteString("\n\nSteps: " + strings.Join(parts, " · "))
	}
	if held > 0 {
		fmt.Fprintf(&b, " · %d seals holding", held)
	}
	if line := noticesLine(p.Notices); line != "" {
		b.WriteString("\n\n" + line)
	}
	steps := table.New("Area", "Step", "State", "Detail")
	for _, n := range firstByArea(leaves, maxDetailRows) {
		state := n.State
		if n.Held && n.State != StateUnderstaffed {
			state = "holding"
		}
		if n.State == StateStalled || n.Overdue {
			state = "**" + state + "**"
		}
		steps.Row(areaName(n), n.Path, state, n.Detail)
	}
	if len(leaves) > maxDetailRows {
		steps.Row("…", fmt.Sprintf("%d more", len(leaves)-maxDetailRows))
	}
	b.WriteString("\n\n")
	steps.Render(&b)
	return b.String()
}

// firstByArea returns the first k leaves by area name, those of one area
// in tree order: what a stable sort of them all by area name would put
// first, without sorting the rest.
func firstByArea(leaves []*Node, k int) []*Node {
	top := make([]*Node, 0, k+1)
	for _, n := range leaves {
		name := areaName(n)
		if len(top) == k && name >= areaName(top[k-1]) {
			continue
		}
		// After every kept leaf of the same name or a smaller one.
		i := sort.Search(len(top), func(i int) bool { return areaName(top[i]) > name })
		top = slices.Insert(top, i, n)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

func areaName(n *Node) string {
	if n.Area == nil {
		return "—"
	}
	return n.Area.Name
}

// evidence lists the testing rounds of the response so far, each with its
// coverage and positives, for an approval's {evidence} in a language: "en"
// or "zh-CN". The Chinese text is a fixed format here rather than a
// catalogue message because workflow code does not load the catalogues.
func (r *response) evidence(locale string) string {
	var parts []string
	for _, n := range r.p.Leaves() {
		if n.Type != KindMassTesting || n.State != StateDone || n.Outputs == nil {
			continue
		}
		o := n.Outputs
		area := r.p.Area.Name
		if n.Area != nil {
			area = n.Area.Name
		}
		round := max(r.roundOf(n.Path), 1)
		notClean := false
		if v, ok := o[OutputClean]; ok && v == 0 {
			notClean = true
		}
		var s string
		if locale == "zh-CN" {
			s = fmt.Sprintf("%s第%d轮：采样 %.0f/%.0f（%s），阳性 %.0f", area, round,
				o["sampled"], o["expected"], percent(o["coverage"]), o["positives"])
			if notClean {
				s += "，覆盖不足，不作为证据"
			}
		} else {
			s = fmt.Sprintf("round %d of %s: %s sampled (%.0f of %.0f), %.0f positive", round, area,
				percent(o["coverage"]), o["sampled"], o["expected"], o["positives"])
			if notClean {
				s += ", not clean"
			}
		}
		parts = append(parts, s)
	}
	switch {
	case len(parts) > 0 && locale == "zh-CN":
		return strings.Join(parts, "；")
	case len(parts) > 0:
		return strings.Join(parts, "; ")
	case locale == "zh-CN":
		return "尚无已结束的检测轮次"
	}
	return "no testing round has closed"
}

// percent renders a share for people: 99.4%, 83%, 0%. It never rounds a
// share below one up to 100%.
func percent(f float64) string {
	p := math.Floor(f*1000) / 10
	if p == math.Trunc(p) {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// Percent renders a share as the steps' details do, for readers that
// render those details again in another language.
func Percent(f float64) string { return percent(f) }
