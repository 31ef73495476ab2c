package workflows

// The response's lifecycle around its steps: starting the steps' child
// workflows and applying their reports, escalation and deadline timers,
// lifting the seals it holds, and continuing as new.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
)

// startChild starts the step's workflow. Children outlive a response that
// continues as new (they report by signal), and a response's cancellation
// does not reach them: a seal is lifted, never dropped.
func (r *response) startChild(ctx workflow.Context, n *Node, k kind, in StepInput) error {
	id := r.id + "/" + n.Path
	paths := domain.PathPrefixes(r.p.Area.Path)
	if in.Area != nil {
		paths = domain.PathPrefixes(in.Area.Path)
	}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     fmt.Sprintf("%s · incident %s · %s v%d", in.Title, r.in.Incident, r.p.Runbook, r.p.Version),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAIncident.ValueSet(r.in.Incident), SAAreaPath.ValueSet(paths), SARunbook.ValueSet(r.p.Runbook),
			SAStep.ValueSet(n.Path), SAStepState.ValueSet(StateRunning), SALevel.ValueSet(int64(r.p.Level)),
		),
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.inflight++
	r.starting++
	if startsPending != nil {
		startsPending(r.starting)
	}
	r.cost(ctx, costChildStart)
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(dctx, opts), k.name, k.stepInput(in))
	err := fut.GetChildWorkflowExecution().Get(dctx, nil)
	r.inflight--
	r.starting--
	childStarted(ctx)
	if err != nil {
		return err
	}
	n.WorkflowID = id
	r.changed(ctx)
	// The child's final report normally arrives by signal; its result is
	// the backstop when it ends without one (terminated, say), or when its
	// end is seen before its report: the result then carries the outputs a
	// repeat's condition needs.
	workflow.Go(dctx, func(ctx workflow.Context) {
		var res StepResult
		err := fut.Get(ctx, &res)
		r.cost(ctx, costSignal)
		if terminal(n.State) && !n.Held {
			return
		}
		rep := StepReport{Path: n.Path, State: StateDone, Final: true, Outputs: res.Outputs, Detail: res.Detail}
		if err != nil {
			rep.State, rep.Detail = StateFailed, appMessage(err)
			if temporal.IsCanceledError(err) {
				rep.State = StateCancelled
			}
		}
		r.apply(ctx, rep)
	})
	return nil
}

// receiveReports applies step reports as they arrive.
func (r *response) receiveReports(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalStepReport)
	for {
		var rep StepReport
		if !ch.Receive(ctx, &rep) {
			return
		}
		r.cost(ctx, costSignal)
		r.apply(ctx, rep)
	}
}

func (r *response) apply(ctx workflow.Context, rep StepReport) {
	n, ok := r.nodes[rep.Path]
	if !ok {
		workflow.GetLogger(ctx).Warn("Report for an unknown step", "step", rep.Path)
		return
	}
	if terminal(n.State) && !n.Held {
		return
	}
	if rep.Outputs != nil {
		n.Outputs = rep.Outputs
	}
	r.noticesDirty = true
	switch {
	case rep.Final:
		n.Held = false
		r.finish(ctx, n, rep.State, rep.Detail)
	case rep.Ready:
		again := n.Held
		n.Held = true
		n.State, n.Detail = StateDone, short(rep.Detail)
		n.FinishedAt = workflow.Now(ctx)
		r.changed(ctx)
		// A seal says it is in place again after a spell of retrying or
		// understaffing; the event log has its holding once, as one
		// transition.
		if !again || workflow.GetVersion(ctx, "response-holding-logged-once", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			r.event(ctx, n.Path, "holding", rep.Detail, "")
		}
	case rep.State == StateStalled:
		n.State, n.Inner, n.Stalls, n.LastError, n.Detail = StateStalled, rep.Inner, rep.Stalls, short(rep.LastError), short(rep.Detail)
		r.changed(ctx)
		why := fmt.Sprintf("%s: retries ran out %d times: %s", rep.Inner, rep.Stalls, rep.LastError)
		body := fmt.Sprintf("Step %s of incident %s is stalled: %s failed %d times (%s). It is retried automatically; retry now, skip or abort it with `muster step retry|skip|abort %s %s`.",
			n.Path, r.in.Incident, rep.Inner, rep.Stalls, rep.LastError, r.in.Incident, n.Path)
		key := MsgStepStalled
		if strings.HasPrefix(rep.Detail, notRetryable) {
			why = fmt.Sprintf("%s: not retryable, waits for a person: %s", rep.Inner, rep.LastError)
			body = fmt.Sprintf("Step %s of incident %s is stalled: %s cannot succeed with its input (%s). It is not retried automatically; fix the data and retry it, or skip or abort it, with `muster step retry|skip|abort %s %s`.",
				n.Path, r.in.Incident, rep.Inner, rep.LastError, r.in.Incident, n.Path)
			key = MsgStepStalled + "/not-retryable"
		}
		r.event(ctx, n.Path, StateStalled, why, "")
		r.notice(ctx, fmt.Sprintf("stalled/%s/%d", n.Path, rep.Stalls), "command center", body, n.Area,
			key, map[string]string{"step": n.Path, "incident": r.in.Incident, "inner": rep.Inner, "stalls": fmt.Sprint(rep.Stalls), "error": rep.LastError})
	default:
		state := rep.State
		if n.Held && state == StateRunning {
			state = StateDone
		}
		// The same question reported again is not a new one; a new one
		// in the same words (a seal's second shortfall) is numbered.
		again := state == StateAwaitingDecision && n.State == state && n.Detail == short(rep.Detail)
		n.State = state
		if rep.Detail != "" {
			n.Detail = short(rep.Detail)
		}
		if state == StateRetrying {
			n.Inner, n.LastError = rep.Inner, rep.LastError
		}
		r.changed(ctx)
		if state == StateAwaitingDecision && (!again || workflow.GetVersion(ctx, "response-question-once", workflow.DefaultVersion, 1) == workflow.DefaultVersion) {
			n.Asked++
			reason := rep.Detail
			if n.Asked > 1 {
				reason = fmt.Sprintf("%s (question %d)", rep.Detail, n.Asked)
			}
			r.event(ctx, n.Path, state, reason, "")
		}
	}
}

// watch escalates a step that is not done in time: each escalation sends
// a notice after its delay; the deadline marks the step overdue.
func (r *response) watch(ctx workflow.Context, n *Node, st *runbook.Step) {
	type alarm struct {
		at      time.Time
		overdue bool
		e       runbook.Escalation
		index   int
	}
	var alarms []alarm
	for i, e := range st.Escalate {
		if i >= n.Escalated {
			alarms = append(alarms, alarm{at: n.StartedAt.Add(scaled(e.After.D(), r.in.TimeScale)), e: e, index: i})
		}
	}
	if !n.DeadlineAt.IsZero() && !n.Overdue {
		alarms = append(alarms, alarm{at: n.DeadlineAt, overdue: true})
	}
	sort.SliceStable(alarms, func(i, j int) bool { return alarms[i].at.Before(alarms[j].at) })
	for _, al := range alarms {
		wait := al.at.Sub(workflow.Now(ctx))
		if wait > 0 {
			timerCtx, cancel := workflow.WithCancel(ctx)
			r.cost(ctx, costCommand)
			timer := workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: "Deadline of " + n.Path})
			err := workflow.Await(ctx, func() bool { return timer.IsReady() || (terminal(n.State) && !n.Held) || n.Held })
			cancel()
			if err != nil {
				return
			}
		}
		if terminal(n.State) {
			return
		}
		if al.overdue {
			n.Overdue = true
			countOverdue(ctx, n.Type)
			if n.State == StateRunning {
				n.State = StateOverdue
			}
			r.changed(ctx)
			r.event(ctx, n.Path, StateOverdue, fmt.Sprintf("not done by its deadline %s", n.DeadlineAt.Format(time.RFC3339)), "")
			r.notice(ctx, "overdue/"+n.Path, "command center",
				fmt.Sprintf("Step %s of incident %s is overdue: not done by %s. %s", n.Path, r.in.Incident, n.DeadlineAt.Format("15:04"), n.Detail), n.Area,
				MsgStepOverdue, map[string]string{"step": n.Path, "incident": r.in.Incident, "deadline": n.DeadlineAt.Format("15:04"), "detail": n.Detail})
			continue
		}
		n.Escalated = al.index + 1
		place := r.p.Area.Name
		if n.Area != nil {
			place = n.Area.Name
		}
		msg, key, args := r.escalation(n, al.e, place)
		r.event(ctx, n.Path, "escalated", "to "+al.e.Notify+": "+msg, "")
		r.notice(ctx, fmt.Sprintf("escalation/%s/%d", n.Path, al.index+1), al.e.Notify, msg, n.Area, key, args)
	}
}

// escalation is the text of a runbook step's escalation: the runbook's
// message in each language it wrote (store.MessageRunbookText), or the
// catalogue's "still not done" when it wrote none.
func (r *response) escalation(n *Node, e runbook.Escalation, place string) (msg, key string, args map[string]string) {
	fill := strings.NewReplacer("{incident}", r.in.Incident, "{area}", place).Replace
	if e.Message == "" {
		after := e.After.D().String()
		return fmt.Sprintf("Step %s of incident %s is still not done after %s.", n.Path, r.in.Incident, after),
			MsgStepEscalation, map[string]string{"step": n.Path, "incident": r.in.Incident, "after": after}
	}
	msg = fill(e.Message)
	if e.MessageZh == "" {
		return msg, "", nil
	}
	return msg, domain.MessageRunbookText, map[string]string{"en": msg, "zh-CN": fill(e.MessageZh)}
}

// held returns the steps in place until lifted (seals), optionally only
// those under an area path.
func (r *response) held(under string) []*Node {
	var out []*Node
	for _, n := range r.p.Leaves() {
		if !isHeld(n) {
			continue
		}
		if under != "" && (n.Area == nil || !(n.Area.Path == under || strings.HasPrefix(n.Area.Path, under+"/"))) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func (r *response) heldCount() int { return len(r.held("")) }

// liftSteps lifts held steps and waits until each has ended.
func (r *response) liftSteps(ctx workflow.Context, targets []*Node, lift LiftInput) {
	r.inflight++
	for _, t := range targets {
		r.cost(ctx, costCommand)
		if err := workflow.SignalExternalWorkflow(ctx, t.WorkflowID, "", SignalLift, lift).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("Lift", "step", t.Path, "error", err)
		}
	}
	r.inflight--
	_ = workflow.Await(ctx, func() bool {
		for _, t := range targets {
			if !terminal(t.State) || t.Held {
				return false
			}
		}
		return true
	})
}

// liftAll ends the response: steps still running are cancelled and every
// seal is lifted.
func (r *response) liftAll(ctx workflow.Context) {
	r.p.State = ResponseLifting
	r.p.LiftedBy, r.p.LiftReason = r.lift.By, r.lift.Reason
	r.changed(ctx)
	r.event(ctx, "response", ResponseLifting, r.lift.Reason, r.lift.By)
	for _, n := range r.p.Leaves() {
		if terminal(n.State) || stepKinds[n.Type].holds {
			continue
		}
		if n.WorkflowID != "" {
			_ = workflow.RequestCancelExternalWorkflow(ctx, n.WorkflowID, "").Get(ctx, nil)
		}
		r.finish(ctx, n, StateCancelled, "the response was lifted")
	}
	r.liftSteps(ctx, r.held(""), *r.lift)
	var close func(n *Node)
	close = func(n *Node) {
		for _, c := range n.Children {
			close(c)
		}
		if !terminal(n.State) {
			n.State, n.Detail = StateCancelled, "the response was lifted"
		}
	}
	close(r.p.Root)
}

// continueAsNew continues as new at a quiet moment. A step report
// delivered with the workflow task that decides to continue as new would
// be lost with the run (the new run never sees it, and the step, reporting
// its end once, would stay running in the tree for ever): the report may
// already be handed to the receiving goroutine, which has not run yet, or
// still wait in the channel. So the receiver is given a turn, what is left
// in the channel is applied, and the wait starts again for what applying
// the reports started, until a turn brings nothing new.
//
// Runs recorded before version 1 of "response-drain-reports" only waited
// for the handlers and activities.
func (r *response) continueAsNew(ctx workflow.Context) error {
	plan := canPlan{
		name:   ResponseName,
		busy:   func() bool { return r.inflight > 0 },
		next:   func() any { return r.nextInput(r.packs(ctx)) },
		shrink: func() { shrinkTree(r.p.Root, 0) },
	}
	if workflow.GetVersion(ctx, "response-drain-reports", workflow.DefaultVersion, 1) >= 1 {
		plan.inbox = &inbox{}
		receive(ctx, plan.inbox, SignalStepReport, func(rep StepReport) { r.cost(ctx, costSignal); r.apply(ctx, rep) })
		return continueAsNewWhenQuiet(ctx, plan)
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.inflight == 0 }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, ResponseName, carry(ctx, plan.next, plan.shrink))
}

// shrinkTree cuts the free text a tree carries to what supervisors read
// first (the event log has it all), deeper nodes to a tenth of that.
func shrinkTree(n *Node, depth int) {
	if n == nil {
		return
	}
	n.Detail, n.LastError = short(n.Detail), short(n.LastError)
	if depth > 2 {
		n.Detail, n.LastError = cut(n.Detail, shortLen/10), cut(n.LastError, shortLen/10)
	}
	for _, c := range n.Children {
		shrinkTree(c, depth+1)
	}
}
