package workflows

// The interpreter: how the response walks a runbook's tree of steps.
// Sequences run in order and stop at a failed, aborted or unapproved step;
// parallel steps run at once; a for_each runs its steps per area and takes
// in areas added later; a repeat runs rounds until its condition holds; a
// leaf starts its kind's workflow (response_lifecycle.go) and waits for its
// report.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// exec runs one node of the tree. It returns an error only when the
// response is cancelled or continues as new; a step's own outcome is in the
// node's state.
func (r *response) exec(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	if terminal(n.State) {
		return nil
	}
	if err := workflow.Await(ctx, func() bool { return !r.paused(n) }); err != nil {
		return err
	}
	if n.Title == "" {
		n.Title = st.Title
	}
	if n.StartedAt.IsZero() {
		// A run closing for its history budget leaves new steps to the
		// next run.
		if err := r.hold(ctx); err != nil {
			return err
		}
		n.StartedAt = workflow.Now(ctx)
		if st.Deadline > 0 {
			n.DeadlineAt = n.StartedAt.Add(scaled(st.Deadline.D(), r.in.TimeScale))
		}
		n.State = StateRunning
		r.changed(ctx)
		if n.Path != "" {
			r.event(ctx, n.Path, StateRunning, n.Title, "")
		}
	}
	if st.Deadline > 0 || len(st.Escalate) > 0 {
		workflow.Go(ctx, func(ctx workflow.Context) { r.watch(ctx, n, st) })
	}
	var err error
	switch {
	case st.Kind != "":
		err = r.leaf(ctx, n, st, area)
	case len(st.Parallel) > 0:
		err = r.parallel(ctx, n, st.Parallel, area)
	case st.ForEach != nil:
		err = r.forEach(ctx, n, st, area)
	case st.Repeat != nil:
		err = r.repeat(ctx, n, st, area)
	default:
		err = r.sequence(ctx, n, st.Sequence, area)
	}
	if err != nil {
		return err
	}
	if !terminal(n.State) {
		r.finish(ctx, n, StateDone, n.Detail)
	}
	return nil
}

// finish records a node's end.
func (r *response) finish(ctx workflow.Context, n *Node, state, detail string) {
	// The tree keeps a short form; the event log keeps the whole text.
	n.State, n.Detail = state, short(detail)
	if n.FinishedAt.IsZero() {
		n.FinishedAt = workflow.Now(ctx)
	}
	r.changed(ctx)
	if n.Path != "" {
		r.event(ctx, n.Path, state, detail, "")
	}
}

// stops reports whether a finished child ends its sequence: an aborted or
// failed step, or an approval that was not given.
func stops(c *Node) bool {
	if c.State == StateAborted || c.State == StateFailed {
		return true
	}
	return c.Type == KindApproval && c.State == StateDone && c.Outputs["approved"] == 0
}

func (r *response) sequence(ctx workflow.Context, n *Node, list []runbook.Step, area *activities.Area) error {
	for i := range list {
		st := &list[i]
		c := r.child(n, join(n.Path, st.ID), st.ID, stepType(st), area)
		if err := r.exec(ctx, c, st, area); err != nil {
			return err
		}
		if stops(c) {
			for j := i + 1; j < len(list); j++ {
				rest := r.child(n, join(n.Path, list[j].ID), list[j].ID, stepType(&list[j]), area)
				if !terminal(rest.State) {
					r.finish(ctx, rest, StateSkipped, "not run: "+c.Path+" "+outcome(c))
				}
			}
			detail := "stopped at " + c.Path + ": " + outcome(c)
			if l := failedLeaf(c); l != nil {
				detail += fmt.Sprintf(" (%s %s: %s)", l.Path, l.State, l.Detail)
			}
			r.finish(ctx, n, c.State, detail)
			return nil
		}
	}
	return nil
}

func outcome(n *Node) string {
	if n.Type == KindApproval && n.State == StateDone && n.Outputs["approved"] == 0 {
		return "not approved"
	}
	return n.State
}

func (r *response) parallel(ctx workflow.Context, n *Node, list []runbook.Step, area *activities.Area) error {
	var errs []error
	wg := workflow.NewWaitGroup(ctx)
	for i := range list {
		st := &list[i]
		c := r.child(n, join(n.Path, st.ID), st.ID, stepType(st), area)
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			if err := r.exec(ctx, c, st, area); err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait(ctx)
	if len(errs) > 0 {
		return errs[0]
	}
	r.stopOnFailure(ctx, n)
	return ctx.Err()
}

// failureStopsChange gates the propagation of a failed or aborted step out
// of parallel and for_each: runs recorded before it marked the enclosing
// step done and went on.
const failureStopsChange = "failure-stops-sequence"

// stopOnFailure fails n, a parallel or for_each whose children have all
// ended, when one of them failed or was aborted: its sequence then stops.
// It reports whether n failed.
func (r *response) stopOnFailure(ctx workflow.Context, n *Node) bool {
	var bad *Node
	for _, c := range n.Children {
		if c.State == StateFailed || c.State == StateAborted {
			bad = c
			break
		}
	}
	if bad == nil || workflow.GetVersion(ctx, failureStopsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	r.finish(ctx, n, StateFailed, fmt.Sprintf("stopped: %s %s: %s", bad.Path, bad.State, bad.Detail))
	return true
}

// stoppedByFailure reports whether the runbook ended because a step failed
// (an operator's abort of a step is an end the operator chose).
func (r *response) stoppedByFailure(ctx workflow.Context) bool {
	if r.p.Root == nil || r.p.Root.State != StateFailed {
		return false
	}
	return workflow.GetVersion(ctx, failureStopsChange, workflow.DefaultVersion, 1) >= 1
}

// failure says which step stopped the runbook, and why.
func (r *response) failure() string {
	if l := failedLeaf(r.p.Root); l != nil {
		return fmt.Sprintf("runbook stopped: step %s %s: %s", l.Path, l.State, l.Detail)
	}
	return "runbook stopped: " + r.p.Root.Detail
}

// failedLeaf returns the first failed or aborted step under n that is not a
// parallel, for_each or sequence stopped by its children: the step to name.
func failedLeaf(n *Node) *Node {
	for _, c := range n.Children {
		if c.State == StateFailed || c.State == StateAborted {
			if l := failedLeaf(c); l != nil {
				return l
			}
			return c
		}
	}
	return nil
}

// forEach runs its steps once per selected area, the areas at once (a
// window of them starting at a time, response_window.go), and
// takes in areas added to the response while it runs.
func (r *response) forEach(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	f := &forEachRun{r: r, n: n, fe: st.ForEach, seen: map[string]bool{}, ctx: ctx}
	f.windowed = workflow.GetVersion(ctx, startWindowChange, workflow.DefaultVersion, 1) >= 1
	for _, c := range n.Children {
		if c.Area != nil {
			f.seen[c.Area.Code] = true
		}
	}
	// Resumed items carry on first.
	var resumed []activities.Area
	for _, c := range n.Children {
		if c.Area != nil {
			resumed = append(resumed, *c.Area)
			delete(f.seen, c.Area.Code)
		}
	}
	f.start(ctx, resumed)
	if len(n.Children) == 0 || n.Detail == "" {
		under := f.fe.Areas.Under
		switch {
		case under == "" || under == "response":
			under = r.p.Area.Path
			if area != nil {
				under = area.Path
			}
		}
		areas, err := f.selectAreas(ctx, under)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.finish(ctx, n, StateFailed, fmt.Sprintf("select %s areas under %s: %s", f.fe.Areas.Level, under, appMessage(err)))
			return nil
		}
		n.Detail = fmt.Sprintf("%d areas", len(areas))
		f.start(ctx, areas)
	}
	return f.wait(ctx)
}

// forEachRun is a for_each at work: the areas it has started, and how many
// of them still run.
type forEachRun struct {
	r       *response
	n       *Node
	fe      *runbook.ForEach
	seen    map[string]bool
	errs    []error
	running int
	// ctx is the for_each's context; windowed says areas start through
	// the window (response_window.go), queue holds those waiting for it
	// and launching counts those on their way to their first child start.
	ctx       workflow.Context
	windowed  bool
	queue     []func(workflow.Context)
	launching int
}

// start runs the for_each's steps for every area not yet started, each
// area in a goroutine of its own, through the window of child starts.
func (f *forEachRun) start(ctx workflow.Context, areas []activities.Area) {
	r, n, fe := f.r, f.n, f.fe
	for _, ar := range areas {
		if f.seen[ar.Code] {
			continue
		}
		f.seen[ar.Code] = true
		ar := ar
		item := r.child(n, join(n.Path, ar.Code), ar.Code, "sequence", &ar)
		body := &runbook.Step{ID: ar.Code, Sequence: fe.Steps}
		if len(fe.Steps) == 1 {
			// One step per area: the item is that step, so its
			// workflow ID reads response/<incident>/<for_each>/<area>.
			one := fe.Steps[0]
			one.ID = ar.Code
			body = &one
			item.Type = stepType(&one)
		}
		f.running++
		f.enqueue(ctx, item, func(ctx workflow.Context) {
			defer func() { f.running-- }()
			if err := r.exec(ctx, item, body, &ar); err != nil {
				f.errs = append(f.errs, err)
			}
		})
	}
	f.fill()
}

// selectAreas selects the for_each's areas under an area path.
func (f *forEachRun) selectAreas(ctx workflow.Context, under string) ([]activities.Area, error) {
	if err := f.r.hold(ctx); err != nil {
		return nil, err
	}
	in := activities.SelectAreasInput{Under: under, Level: f.fe.Areas.Level, Codes: f.fe.Areas.Codes, District: f.r.p.Area.Path}
	var out []activities.Area
	err := f.r.activity(ctx, fmt.Sprintf("Select %s areas for %s", f.fe.Areas.Level, f.n.Path), a.SelectAreas, in, &out)
	return out, err
}

// wait waits until every area is done, starting the areas of areas added
// to the response meanwhile.
func (f *forEachRun) wait(ctx workflow.Context) error {
	r, n := f.r, f.n
	for {
		added := n.Added
		if err := workflow.Await(ctx, func() bool { return f.running == 0 || len(r.p.Added) > added }); err != nil {
			return err
		}
		if len(f.errs) > 0 {
			return f.errs[0]
		}
		if len(r.p.Added) > added && len(f.fe.Areas.Codes) == 0 {
			for _, extra := range r.p.Added[added:] {
				areas, err := f.selectAreas(ctx, extra.Path)
				if err != nil {
					workflow.GetLogger(ctx).Error("Select areas of an added area", "area", extra.Code, "error", err)
					continue
				}
				f.start(ctx, areas)
			}
			n.Added = len(r.p.Added)
			n.Detail = fmt.Sprintf("%d areas", len(f.seen))
			continue
		}
		if f.running == 0 {
			r.stopOnFailure(ctx, n)
			return ctx.Err()
		}
	}
}

// repeat runs rounds until the condition holds in enough consecutive
// rounds or Max rounds have run.
func (r *response) repeat(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	rp := st.Repeat
	need := max(rp.Until.Consecutive, 1)
	for n.Round < rp.Max {
		if !n.NextAt.IsZero() {
			if wait := n.NextAt.Sub(workflow.Now(ctx)); wait > 0 {
				r.cost(ctx, costCommand)
				if err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: "Next round of " + n.Path}).Get(ctx, nil); err != nil {
					return err
				}
			}
		}
		if err := workflow.Await(ctx, func() bool { return !r.paused(n) }); err != nil {
			return err
		}
		round := n.Round + 1
		rn := r.child(n, join(n.Path, fmt.Sprint(round)), fmt.Sprint(round), "round", area)
		if err := r.exec(ctx, rn, &runbook.Step{ID: fmt.Sprint(round), Sequence: rp.Steps}, area); err != nil {
			return err
		}
		rn.Outputs = roundOutputs(rn, rp.Until.Outputs())
		n.Round = round
		met := 0
		for i := len(n.Children) - 1; i >= 0 && roundMeets(rp.Until, n.Children[i].Outputs); i-- {
			met++
		}
		n.Detail = fmt.Sprintf("round %d: %s · %d of %d rounds in a row meet the condition", round, describeOutputs(rn.Outputs, rp.Until.Outputs()), min(met, need), need)
		n.NextAt = nextRoundAt(rp, rn.StartedAt, workflow.Now(ctx), r.in.TimeScale)
		r.changed(ctx)
		if met >= need {
			r.finish(ctx, n, StateDone, fmt.Sprintf("%s after %d rounds", rp.Until, round))
			return nil
		}
	}
	r.finish(ctx, n, StateDone, fmt.Sprintf("stopped after %d rounds without %s", n.Round, rp.Until))
	return nil
}

// nextRoundAt is when the round after one that started and ended at the
// times given may start: Every after its start and Pause after its end,
// whichever is later. A definition recorded before Every meant a period
// (Period unset) keeps it as a pause after the end, so running responses
// keep their timing and their histories replay.
func nextRoundAt(rp *runbook.Repeat, started, ended time.Time, scale float64) time.Time {
	if !rp.Period {
		return ended.Add(scaled(rp.Every.D(), scale))
	}
	next := ended.Add(scaled(rp.Pause.D(), scale))
	if rp.Every > 0 && !started.IsZero() {
		if p := started.Add(scaled(rp.Every.D(), scale)); p.After(next) {
			next = p
		}
	}
	return next
}

// OutputClean is the output a step reports as 0 when its figures are no
// evidence (a testing round below its minimum coverage): a round with such
// a step never meets a repeat's condition.
const OutputClean = "clean"

// roundOutputs gathers the named outputs of a round's steps, and clean:
// the sum over the steps and areas of the round, or the lowest value for
// outputs that are shares (coverage). An output no step reported is left
// out, so that it never meets a comparison.
func roundOutputs(round *Node, names []string) map[string]float64 {
	names = append(slices.Clone(names), OutputClean)
	out := map[string]float64{}
	var walk func(n *Node)
	walk = func(n *Node) {
		if k, ok := Kinds[n.Type]; ok {
			for _, name := range names {
				v, ok := n.Outputs[name]
				if !ok {
					continue
				}
				prev, seen := out[name]
				switch {
				case !seen:
					out[name] = v
				case slices.Contains(k.Fractions, name):
					out[name] = min(prev, v)
				default:
					out[name] = prev + v
				}
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(round)
	return out
}

// roundMeets reports whether a round's outputs meet the condition: never
// when one of its steps said its figures are no evidence.
func roundMeets(u runbook.Condition, outputs map[string]float64) bool {
	if v, ok := outputs[OutputClean]; ok && v == 0 {
		return false
	}
	return u.HoldsFor(outputs)
}

// describeOutputs renders a round's figures for its repeat's detail:
// "positives = 0", "positives = 0, coverage = 0.995 (not clean)".
func describeOutputs(outputs map[string]float64, names []string) string {
	parts := make([]string, 0, len(names))
	for _, name := range names {
		if v, ok := outputs[name]; ok {
			parts = append(parts, fmt.Sprintf("%s = %g", name, v))
		} else {
			parts = append(parts, name+" not reported")
		}
	}
	s := strings.Join(parts, ", ")
	if v, ok := outputs[OutputClean]; ok && v == 0 {
		s += " (not clean)"
	}
	return s
}

func (r *response) paused(n *Node) bool {
	for p := n.Path; ; {
		if m, ok := r.nodes[p]; ok && m.Paused {
			return true
		}
		if p == "" {
			return false
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
	}
}

// leaf runs a step of a registered kind as a child workflow, or in the
// response itself for the kind that acts on other steps (lift).
func (r *response) leaf(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	k := stepKinds[st.Kind]
	if k.local {
		return r.liftStep(ctx, n, st, area)
	}
	if area == nil {
		// Steps outside a for_each work on the response's own area.
		area = &r.p.Area
	}
	if n.WorkflowID == "" {
		if err := r.hold(ctx); err != nil {
			return err
		}
		in := StepInput{
			Incident: r.in.Incident, Runbook: r.p.Runbook, Level: r.p.Level, Path: n.Path, Kind: st.Kind,
			Title: titleOf(st, n), Params: st.Params, Area: area, TimeScale: r.in.TimeScale, Retry: st.Retry,
			Round: r.roundOf(n.Path), HistoryLimit: r.in.StepHistoryLimit,
		}
		if st.Kind == KindApproval {
			// The question is filled in here, where the rounds run so far
			// are known: whoever decides sees the evidence. The step asks
			// in the response's language; its node keeps every language.
			// Each language's question quotes the evidence in that language.
			facts := func(locale string) *strings.Replacer {
				return strings.NewReplacer("{incident}", r.in.Incident, "{area}", area.Name, "{evidence}", r.evidence(locale))
			}
			n.Ask, in.Params = askOf(st.Params, r.p.Locale, facts)
		}
		if err := r.startChild(ctx, n, k, in); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.finish(ctx, n, StateFailed, "could not start: "+rootMessage(err))
			return nil
		}
	}
	return workflow.Await(ctx, func() bool { return terminal(n.State) || (k.holds && n.Held) })
}

// roundOf returns the round of the nearest enclosing repeat, or 0.
func (r *response) roundOf(path string) int {
	for p := path; p != ""; {
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return 0
		}
		p = p[:i]
		if n, ok := r.nodes[p]; ok && n.Type == "round" {
			var round int
			fmt.Sscan(n.ID, &round)
			return round
		}
	}
	return 0
}

func titleOf(st *runbook.Step, n *Node) string {
	t := st.Title
	if t == "" {
		t = st.Kind + " " + n.Path
	}
	if n.Area != nil {
		t += " · " + n.Area.Name
	}
	return t
}
