package workflows

// The operators' updates of a response, each with the validator that
// refuses it before it is written to the history.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// handlers registers the progress query and the operators' updates.
func (r *response) handlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (ResponseProgress, error) { return r.p, nil },
		workflow.QueryHandlerOptions{Description: "The response's steps as a tree, with states, areas and figures"}); err != nil {
		return err
	}
	type upd struct {
		name, doc string
		handler   any
		validator any
	}
	for _, u := range []upd{
		{UpdateLift, "Lift the response: cancel what still runs, lift every seal", r.onLift, r.validateLift},
		{UpdateEscalate, "Change the response level", r.onEscalate, r.validateEscalate},
		{UpdateAddArea, "Widen the response to another area", r.onAddArea, r.validateAddArea},
		{UpdatePause, "Pause a step: it, or its next round or area, does not start until resumed", r.onPause, r.validatePause},
		{UpdateResume, "Resume a paused step", r.onResume, r.validateResume},
		{UpdateRetry, "Retry a stalled step now", r.onRetry, r.validateRetry},
		{UpdateSkip, "Give up a step and go on with the runbook", r.onSkip, r.validateSkip},
		{UpdateAbort, "Stop a step and the steps after it in its sequence", r.onAbort, r.validateAbort},
		{UpdateDecide, "Answer an approval step: approve or reject", r.onDecide, r.validateDecide},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator, Description: u.doc}); err != nil {
			return err
		}
	}
	return nil
}

// acceptsChanges reports whether operators may still change the response:
// it is neither being lifted nor closed.
func (r *response) acceptsChanges() bool {
	return r.lift == nil && r.p.State != ResponseClosed
}

// stateName is the response's state as a refused update names it.
func (r *response) stateName() string {
	if r.lift != nil && r.p.State != ResponseClosed {
		return "being lifted (by " + r.lift.By + ")"
	}
	return r.p.State
}

func (r *response) validateLift(ctx workflow.Context, in LiftInput) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return errors.New("a lift needs a reason (--reason), for the event log")
	}
	if !r.acceptsChanges() {
		return fmt.Errorf("response %s is already %s", r.in.Incident, r.stateName())
	}
	return nil
}

func (r *response) onLift(ctx workflow.Context, in LiftInput) (LiftAccepted, error) {
	if in.By == "" {
		in.By = "command-center"
	}
	r.lift = &in
	return LiftAccepted{At: workflow.Now(ctx)}, nil
}

func (r *response) validateEscalate(ctx workflow.Context, in EscalateInput) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	switch {
	case in.Level < 1 || in.Level > 4:
		return fmt.Errorf("--level %d: response levels run from 1 (highest) to 4", in.Level)
	case in.Level == r.p.Level:
		return fmt.Errorf("response %s is already at level %d", r.in.Incident, in.Level)
	case strings.TrimSpace(in.Reason) == "":
		return errors.New("a level change needs a reason (--reason)")
	case !r.acceptsChanges():
		return fmt.Errorf("response %s is %s", r.in.Incident, r.stateName())
	}
	return nil
}

func (r *response) onEscalate(ctx workflow.Context, in EscalateInput) error {
	from := r.p.Level
	r.p.Level = in.Level
	if err := workflow.UpsertTypedSearchAttributes(ctx, SALevel.ValueSet(int64(in.Level))); err != nil {
		return err
	}
	r.changed(ctx)
	reason := fmt.Sprintf("level %d → %d: %s", from, in.Level, in.Reason)
	r.event(ctx, "response", "level-changed", reason, in.By)
	r.setState(ctx, r.p.State, reason)
	r.notice(ctx, fmt.Sprintf("level/%d-%d", from, in.Level), "all units of the response",
		fmt.Sprintf("Incident %s: the response over %s moves from level %d to level %d (%s).", r.in.Incident, r.p.Area.Name, from, in.Level, in.Reason), &r.p.Area,
		MsgResponseLevel, map[string]string{"incident": r.in.Incident, "area": r.p.Area.Name, "from": fmt.Sprint(from), "to": fmt.Sprint(in.Level), "reason": in.Reason})
	return nil
}

func (r *response) validateAddArea(ctx workflow.Context, in AddAreaInput) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	switch {
	case !codePattern(in.Area):
		return fmt.Errorf("area %q: give an area code (list them with `muster areas`)", in.Area)
	case in.Area == r.p.Area.Code || in.Area == r.p.Area.Path:
		return fmt.Errorf("%s is the response's own area", in.Area)
	case strings.TrimSpace(in.Reason) == "":
		return errors.New("adding an area needs a reason (--reason)")
	case !r.acceptsChanges():
		return fmt.Errorf("response %s is %s", r.in.Incident, r.stateName())
	}
	for _, ar := range r.p.Added {
		if ar.Code == in.Area || ar.Path == in.Area {
			return fmt.Errorf("area %s is already part of the response", in.Area)
		}
	}
	if r.adding[in.Area] {
		return fmt.Errorf("area %s is already being added to the response", in.Area)
	}
	//workflowcheck:ignore the answer is the same in any order
	for _, n := range r.nodes {
		if st := r.stepAt(n.Path); n.Type == "for_each" && st != nil && len(st.ForEach.Areas.Codes) == 0 {
			return nil
		}
	}
	return fmt.Errorf("no step of runbook %s runs per area: the area would get nothing; open a new response for it", r.p.Runbook)
}

func codePattern(s string) bool {
	return incidentPattern.MatchString(strings.ReplaceAll(s, "/", "-"))
}

func (r *response) onAddArea(ctx workflow.Context, in AddAreaInput) (activities.Area, error) {
	if r.adding == nil {
		r.adding = map[string]bool{}
	}
	r.adding[in.Area] = true
	defer delete(r.adding, in.Area)
	var areas []activities.Area
	if err := r.activity(ctx, "Look up area "+in.Area, a.SelectAreas, activities.SelectAreasInput{Codes: []string{in.Area}, District: r.p.Area.Path}, &areas); err != nil {
		return activities.Area{}, err
	}
	if len(areas) == 0 {
		return activities.Area{}, fmt.Errorf("area %s not found", in.Area)
	}
	ar := areas[0]
	r.p.Added = append(r.p.Added, ar)
	r.changed(ctx) // the area paths search attribute takes in the new area
	r.event(ctx, "response", "area-added", ar.Path+": "+in.Reason, in.By)
	// A for_each that has finished runs again for the new area; one still
	// running or not yet started takes it in by itself.
	nodePaths := make([]string, 0, len(r.nodes))
	//workflowcheck:ignore the paths are sorted below
	for p := range r.nodes {
		nodePaths = append(nodePaths, p)
	}
	sort.Strings(nodePaths) // goroutines start in a fixed order
	for _, p := range nodePaths {
		n := r.nodes[p]
		st := r.stepAt(n.Path)
		if n.Type != "for_each" || st == nil || len(st.ForEach.Areas.Codes) > 0 || !terminal(n.State) || r.treeCtx == nil {
			continue
		}
		n.State, n.FinishedAt = StateRunning, time.Time{}
		r.late++
		workflow.Go(r.treeCtx, func(ctx workflow.Context) {
			defer func() { r.late-- }()
			if err := r.forEach(ctx, n, st, nil); err == nil && !terminal(n.State) {
				r.finish(ctx, n, StateDone, n.Detail)
			}
		})
	}
	return ar, nil
}

// stepAt returns the runbook step behind a node on a fixed path (not
// inside a for_each item or a repeat round), or nil.
func (r *response) stepAt(path string) *runbook.Step {
	steps := r.def.Steps
	var found *runbook.Step
	for _, id := range strings.Split(path, "/") {
		found = nil
		for i := range steps {
			if steps[i].ID == id {
				found = &steps[i]
				break
			}
		}
		if found == nil {
			return nil
		}
		steps = append(append([]runbook.Step{}, found.Sequence...), found.Parallel...)
	}
	return found
}

// stepFor finds a step by path for an operator action.
func (r *response) stepFor(path string) (*Node, error) {
	n, ok := r.nodes[path]
	if !ok || path == "" {
		var paths []string
		for _, l := range r.p.Leaves() {
			paths = append(paths, l.Path)
		}
		return nil, fmt.Errorf("unknown step %q (steps: %s)", path, strings.Join(paths, ", "))
	}
	return n, nil
}

func (r *response) validatePause(ctx workflow.Context, in StepAction) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	n, err := r.stepFor(in.Step)
	switch {
	case err != nil:
		return err
	case terminal(n.State):
		return fmt.Errorf("step %s is %s: nothing to pause", in.Step, n.State)
	case n.Paused:
		return fmt.Errorf("step %s is already paused", in.Step)
	}
	return nil
}

func (r *response) onPause(ctx workflow.Context, in StepAction) error {
	n := r.nodes[in.Step]
	n.Paused = true
	r.changed(ctx)
	r.event(ctx, n.Path, "paused", in.Reason, in.By)
	return nil
}

func (r *response) validateResume(ctx workflow.Context, in StepAction) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	n, err := r.stepFor(in.Step)
	if err != nil {
		return err
	}
	if !n.Paused {
		return fmt.Errorf("step %s is not paused", in.Step)
	}
	return nil
}

func (r *response) onResume(ctx workflow.Context, in StepAction) error {
	n := r.nodes[in.Step]
	n.Paused = false
	r.changed(ctx)
	r.event(ctx, n.Path, "resumed", in.Reason, in.By)
	return nil
}

func (r *response) validateRetry(ctx workflow.Context, in RetryInput) error {
	if err := limitText("by", in.By); err != nil {
		return err
	}
	n, err := r.stepFor(in.Step)
	if err != nil {
		return err
	}
	if n.State != StateStalled {
		return fmt.Errorf("step %s is %s, not stalled: only a stalled step can be retried", in.Step, n.State)
	}
	if what, ok := r.acting[in.Step]; ok {
		return fmt.Errorf("step %s is already being %s", in.Step, what)
	}
	return nil
}

// act records that an accepted update is relaying to a step, until done
// is called.
func (r *response) act(step, what string) (done func()) {
	if r.acting == nil {
		r.acting = map[string]string{}
	}
	r.acting[step] = what
	return func() { delete(r.acting, step) }
}

func (r *response) onRetry(ctx workflow.Context, in RetryInput) error {
	defer r.act(in.Step, "retried")()
	n := r.nodes[in.Step]
	if err := workflow.SignalExternalWorkflow(ctx, n.WorkflowID, "", SignalRetry, RetryInput{Step: n.Inner, By: in.By}).Get(ctx, nil); err != nil {
		return fmt.Errorf("retry %s: %w", in.Step, err)
	}
	r.event(ctx, n.Path, "retry-requested", "operator retry of "+n.Inner, in.By)
	return nil
}

func (r *response) validateAction(in StepAction, verb string) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	n, err := r.stepFor(in.Step)
	switch {
	case err != nil:
		return err
	case strings.TrimSpace(in.Reason) == "":
		return fmt.Errorf("to %s a step, give a reason (--reason)", verb)
	case terminal(n.State) || n.Held:
		return fmt.Errorf("step %s is %s: nothing to %s", in.Step, describe(n), verb)
	}
	if _, ok := Kinds[n.Type]; !ok {
		return fmt.Errorf("step %s is a %s: %s one of its steps instead", in.Step, n.Type, verb)
	}
	return nil
}

func describe(n *Node) string {
	if n.Held {
		return "holding (lift it instead)"
	}
	return n.State
}

func (r *response) validateSkip(ctx workflow.Context, in StepAction) error {
	return r.validateAction(in, "skip")
}

func (r *response) validateAbort(ctx workflow.Context, in StepAction) error {
	return r.validateAction(in, "abort")
}

func (r *response) endStep(ctx workflow.Context, in StepAction, state string) error {
	n := r.nodes[in.Step]
	// The step ends here, before its workflow is asked to stop, so that the
	// cancelled workflow's own last report cannot overwrite the decision.
	n.Held = false
	reason := in.Reason
	if in.By != "" {
		reason += " (by " + in.By + ")"
	}
	n.State, n.Detail, n.FinishedAt = state, short(reason), workflow.Now(ctx)
	r.changed(ctx)
	if n.WorkflowID != "" {
		r.inflight++
		if err := workflow.RequestCancelExternalWorkflow(ctx, n.WorkflowID, "").Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Cancel step", "step", n.Path, "error", err)
		}
		r.inflight--
	}
	r.event(ctx, n.Path, state, in.Reason, in.By)
	return nil
}

func (r *response) onSkip(ctx workflow.Context, in StepAction) error {
	return r.endStep(ctx, in, StateSkipped)
}

func (r *response) onAbort(ctx workflow.Context, in StepAction) error {
	return r.endStep(ctx, in, StateAborted)
}

func (r *response) validateDecide(ctx workflow.Context, in Decision) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	n, err := r.stepFor(in.Step)
	switch {
	case err != nil:
		return err
	case n.Type != KindApproval && n.Type != KindSeal:
		return fmt.Errorf("step %s is a %s step, not an approval", in.Step, n.Type)
	case n.State != StateAwaitingDecision:
		return fmt.Errorf("step %s is %s, not awaiting a decision", in.Step, n.State)
	case in.Decision != "approve" && in.Decision != "reject":
		return fmt.Errorf("decision %q: want approve or reject", in.Decision)
	}
	if what, ok := r.acting[in.Step]; ok {
		return fmt.Errorf("step %s is already being %s", in.Step, what)
	}
	return nil
}

func (r *response) onDecide(ctx workflow.Context, in Decision) error {
	defer r.act(in.Step, "decided")()
	n := r.nodes[in.Step]
	if in.By == "" {
		in.By = "command-center"
	}
	// The step is decided from here: a decision sent after this one is
	// refused even before the step's own report comes back. Runs that
	// recorded a decision before this kept the step awaiting its report.
	if workflow.GetVersion(ctx, "response-decide-marks-step", workflow.DefaultVersion, 1) >= 1 {
		n.State = StateRunning
	}
	if err := workflow.SignalExternalWorkflow(ctx, n.WorkflowID, "", SignalDecide, in).Get(ctx, nil); err != nil {
		return fmt.Errorf("decide %s: %w", in.Step, err)
	}
	r.event(ctx, n.Path, pastTense(in.Decision), in.Reason, in.By)
	return nil
}
