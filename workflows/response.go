package workflows

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// Names of the Response workflow and its operator updates (lift and retry
// are shared with SealCompound).
const (
	ResponseName   = "Response"
	UpdateEscalate = "escalate"
	UpdateAddArea  = "add-area"
	UpdatePause    = "pause"
	UpdateResume   = "resume"
	UpdateSkip     = "skip"
	UpdateAbort    = "abort"
	UpdateDecide   = "decide"
)

// Response states.
const (
	ResponseRunning = "running"
	ResponseHolding = "holding"
	ResponseLifting = "lifting"
	ResponseClosed  = "closed"
	// ResponseFailed: a step failed and stopped the runbook; seals in
	// place hold until the response is lifted, and it ends failed.
	ResponseFailed = "failed"
)

// More step states, beyond those a step workflow reports.
const (
	StateSkipped   = "skipped"
	StateAborted   = "aborted"
	StateCancelled = "cancelled"
	StateOverdue   = "overdue"
)

// ResponseInput opens an incident's response with a runbook.
type ResponseInput struct {
	Incident string
	Runbook  string
	// Version pins a runbook version; 0 takes the latest when the response
	// opens, and the response keeps it.
	Version int
	// Area is the code or path of the area the response covers.
	Area string
	// Level overrides the runbook's response level.
	Level       int
	TimeScale   float64
	RequestedBy string
	// HistoryLimit is the history length after which the response continues
	// as new; 0 means the default.
	HistoryLimit int
	// StepHistoryLimit, when set, is the history length after which the
	// response's long steps (testing rounds, staff supply and
	// inspections) continue as new; 0 leaves each step its default. It
	// keeps step histories short for an operator who wants them so, and
	// lets a test reach the threshold in hours of workflow time. A step
	// started without it gets the same input as before, so its commands
	// do not change.
	StepHistoryLimit int `json:",omitempty"`
	// Resume carries the response's state across continue-as-new.
	Resume *ResponseState `json:",omitempty"`
}

// DefaultHistoryLimit keeps a response's history far below Temporal's limits.
const DefaultHistoryLimit = 8000

// WithDefaults fills in the fields left empty.
func (in ResponseInput) WithDefaults() ResponseInput {
	if in.TimeScale == 0 {
		in.TimeScale = 1
	}
	if in.RequestedBy == "" {
		in.RequestedBy = "command-center"
	}
	if in.HistoryLimit == 0 {
		in.HistoryLimit = DefaultHistoryLimit
	}
	return in
}

// Validate reports the first bad field, named as the CLI names it.
func (in ResponseInput) Validate() error {
	switch {
	case ValidIncident(in.Incident) != nil:
		return fmt.Errorf("--incident: %w", ValidIncident(in.Incident))
	case strings.TrimSpace(in.Runbook) == "":
		return errors.New("--runbook is required (list them with `muster runbook list`)")
	case in.Version < 0:
		return fmt.Errorf("--runbook version %d: want 1 or more", in.Version)
	case strings.TrimSpace(in.Area) == "":
		return errors.New("--area is required: an area code or path such as longbao (list them with `muster areas`)")
	case in.Level < 0 || in.Level > 4:
		return fmt.Errorf("--level %d: response levels run from 1 (highest) to 4", in.Level)
	case in.TimeScale < 1 || in.TimeScale > 100000:
		return fmt.Errorf("--time-scale %g: want 1 (real time) to 100000", in.TimeScale)
	}
	return nil
}

// ResponseState is carried across continue-as-new.
type ResponseState struct {
	Progress   ResponseProgress
	Definition runbook.Definition
	Lift       *LiftInput `json:",omitempty"`
}

// Node is one step of a running response: a runbook step, a for_each item
// (one area) or a repeat round.
type Node struct {
	Path  string
	ID    string
	Title string `json:",omitempty"`
	// Type is the step kind, or sequence, parallel, for_each, repeat, round.
	Type       string
	Area       *activities.Area   `json:",omitempty"`
	State      string             `json:",omitempty"`
	Detail     string             `json:",omitempty"`
	WorkflowID string             `json:",omitempty"`
	Outputs    map[string]float64 `json:",omitempty"`
	// Round is the number of rounds a repeat has run.
	Round      int       `json:",omitempty"`
	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
	DeadlineAt time.Time `json:",omitzero"`
	// NextAt is when a repeat's next round starts.
	NextAt time.Time `json:",omitzero"`
	// Added counts the areas added to the response that a for_each has
	// taken in.
	Added int `json:",omitempty"`
	// Escalated counts the escalations already sent.
	Escalated int  `json:",omitempty"`
	Overdue   bool `json:",omitempty"`
	Paused    bool `json:",omitempty"`
	// Held marks a holding step (a seal) that is in place until lifted.
	Held      bool    `json:",omitempty"`
	Inner     string  `json:",omitempty"`
	Stalls    int     `json:",omitempty"`
	LastError string  `json:",omitempty"`
	Children  []*Node `json:",omitempty"`
}

func terminal(state string) bool {
	switch state {
	case StateDone, StateSkipped, StateAborted, StateFailed, StateCancelled:
		return true
	}
	return false
}

// ResponseProgress is the answer to the progress query: the response and
// its tree of steps.
type ResponseProgress struct {
	Incident   string
	Runbook    string
	Version    int
	Title      string
	Level      int
	Area       activities.Area
	Added      []activities.Area `json:",omitempty"`
	State      string
	TimeScale  float64
	Root       *Node
	StartedAt  time.Time
	FinishedAt time.Time `json:",omitzero"`
	LiftedBy   string    `json:",omitempty"`
	LiftReason string    `json:",omitempty"`
	// Notices counts the incident's notices per delivery state, as last
	// read from the store (see watchNotices); an undelivered one makes the
	// response stalled.
	Notices map[string]int `json:",omitempty"`
}

// Leaves returns the steps that run work (kinds), in path order.
func (p ResponseProgress) Leaves() []*Node {
	var out []*Node
	var walk func(n *Node)
	walk = func(n *Node) {
		if n == nil {
			return
		}
		if _, ok := Kinds[n.Type]; ok {
			out = append(out, n)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(p.Root)
	return out
}

// Find returns the node with the given path.
func (p ResponseProgress) Find(path string) *Node {
	var found *Node
	var walk func(n *Node)
	walk = func(n *Node) {
		if n == nil || found != nil {
			return
		}
		if n.Path == path {
			found = n
			return
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(p.Root)
	return found
}

// EscalateInput changes a response's level.
type EscalateInput struct {
	Level  int
	Reason string
	By     string
}

// AddAreaInput widens a response to another area.
type AddAreaInput struct {
	Area   string
	Reason string
	By     string
}

// StepAction names a step for pause, resume, skip and abort.
type StepAction struct {
	Step   string
	Reason string
	By     string
}

type response struct {
	in       ResponseInput
	id       string
	def      runbook.Definition
	p        ResponseProgress
	nodes    map[string]*Node
	lift     *LiftInput
	treeDone bool
	// inflight counts the response's own activities, which must finish
	// before it continues as new.
	inflight int
	// treeCtx runs the runbook's steps; a lift cancels it.
	treeCtx workflow.Context
	// late counts for_each steps reopened for an added area.
	late int
	// recordStates is set for responses that record running and holding
	// in the responses table (workflow version "response-states" ≥ 1).
	recordStates bool
	// sealStates is set for responses whose held seals read holding or
	// understaffed rather than awaiting-decision (workflow version
	// "response-seal-states" ≥ 1), so that state finds only decisions.
	sealStates bool
	saStep     string
	saState    string
	saPaths    int
	events     int
	// noticesDirty is set when something happened that may have written a
	// notice (a step report, a notice of the response's own), so the
	// notice counts are read again.
	noticesDirty bool
	// adding holds the areas an accepted add-area update is looking up:
	// the handler records the area here before it waits, so the validator
	// of a second update for the same area sees the first.
	adding map[string]bool
	// acting holds the steps an accepted retry or decision is being relayed
	// to, for the same reason.
	acting map[string]string
}

// Response runs an incident's response: it pins a runbook version, runs its
// steps as child workflows under response/<incident>/…, keeps a progress
// tree, relays operators' decisions and, when the runbook is done, holds
// until every seal it placed is lifted.
func Response(ctx workflow.Context, in ResponseInput) (ResponseProgress, error) {
	in = in.WithDefaults()
	if err := in.Validate(); err != nil {
		return ResponseProgress{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrBadInput, nil)
	}
	r := &response{in: in, id: workflow.GetInfo(ctx).WorkflowExecution.ID, nodes: map[string]*Node{}}
	r.p = ResponseProgress{Incident: in.Incident, Runbook: in.Runbook, State: "opening", Root: &Node{Type: "sequence", State: StatePending}}
	if err := r.handlers(ctx); err != nil {
		return ResponseProgress{}, err
	}
	if err := r.open(ctx); err != nil {
		return ResponseProgress{}, err
	}
	r.sealStates = workflow.GetVersion(ctx, "response-seal-states", workflow.DefaultVersion, 1) >= 1
	workflow.Go(ctx, r.receiveReports)
	r.changed(ctx)
	// Responses started before version 1 record only their close in the
	// responses table; later ones record running and holding too.
	r.recordStates = workflow.GetVersion(ctx, "response-states", workflow.DefaultVersion, 1) >= 1
	if r.recordStates && in.Resume == nil {
		r.setState(ctx, ResponseRunning, fmt.Sprintf("runbook %s v%d over %s", r.p.Runbook, r.p.Version, r.p.Area.Path))
	}
	if workflow.GetVersion(ctx, noticeCountsChange, workflow.DefaultVersion, 1) >= 1 {
		workflow.Go(ctx, r.watchNotices)
	}

	treeCtx, cancelTree := workflow.WithCancel(ctx)
	r.treeCtx = treeCtx
	if !r.treeDone {
		workflow.Go(treeCtx, func(ctx workflow.Context) {
			root := &runbook.Step{ID: "", Sequence: r.def.Steps}
			if err := r.exec(ctx, r.p.Root, root, nil); err == nil {
				r.treeDone = true
				if r.stoppedByFailure(ctx) {
					r.p.State = ResponseFailed
					if h := r.heldCount(); h > 0 && r.lift == nil {
						r.setState(ctx, ResponseHolding, fmt.Sprintf("%s; %d seals hold until the response is lifted", r.failure(), h))
					}
				} else if h := r.heldCount(); h > 0 && r.lift == nil {
					r.p.State = ResponseHolding
					if r.recordStates {
						r.setState(ctx, ResponseHolding, fmt.Sprintf("runbook done; %d seals hold until the response is lifted", h))
					}
				}
				r.changed(ctx)
			}
		})
	}
	if err := workflow.Await(ctx, func() bool {
		return r.lift != nil || (r.treeDone && r.late == 0 && r.heldCount() == 0) || r.shouldContinueAsNew(ctx)
	}); err != nil {
		cancelTree()
		return r.p, err
	}
	if r.lift == nil && !(r.treeDone && r.late == 0 && r.heldCount() == 0) {
		// Continue as new at a quiet moment: no activity, child start or
		// signal of the response in flight, no update being handled, and
		// no step report received but not yet applied. Steps carry on
		// and report to the new run.
		return r.p, r.continueAsNew(ctx)
	}
	cancelTree()
	failed := r.p.State == ResponseFailed
	if r.lift != nil {
		r.liftAll(ctx)
	}
	// The record comes first: a supervisor who sees "closed" finds it in
	// the event log too. A response whose runbook a failure stopped ends
	// failed, naming the step.
	if failed {
		r.setState(ctx, ResponseFailed, r.failure())
		r.p.State = ResponseFailed
	} else {
		r.setState(ctx, ResponseClosed, "response closed")
		r.p.State = ResponseClosed
	}
	r.p.FinishedAt = workflow.Now(ctx)
	r.changed(ctx)
	// Events and notices still being written (a step's last transition,
	// say) would be lost if the response ended before them.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.inflight == 0 }); err != nil {
		return r.p, err
	}
	return r.p, nil
}

// open pins the runbook and the area, or takes them from a previous run.
func (r *response) open(ctx workflow.Context) error {
	if s := r.in.Resume; s != nil {
		r.p, r.def, r.lift = s.Progress, s.Definition, s.Lift
		r.in.Resume = nil
		r.treeDone = r.p.Root != nil && terminal(r.p.Root.State)
		r.index(r.p.Root)
		return nil
	}
	var opened activities.OpenResponseResult
	if err := r.activity(ctx, "Open response: pin runbook "+r.in.Runbook, a.OpenResponse, activities.OpenResponseInput{
		Ref: r.ref(r.in.RequestedBy), Runbook: r.in.Runbook, Version: r.in.Version, Area: r.in.Area, Level: r.in.Level,
	}, &opened); err != nil {
		return err
	}
	def, err := r.definition(ctx, opened)
	if err != nil {
		return err
	}
	r.def = *def
	level := r.in.Level
	if level == 0 {
		level = max(def.Level, 1)
	}
	r.p = ResponseProgress{
		Incident: r.in.Incident, Runbook: opened.Runbook, Version: opened.Version, Title: def.Title, Level: level,
		Area: opened.Area, State: ResponseRunning, TimeScale: r.in.TimeScale, StartedAt: workflow.Now(ctx),
		Root: &Node{Path: "", ID: def.Name, Title: def.Title, Type: "sequence", State: StatePending},
	}
	r.index(r.p.Root)
	r.build(r.p.Root, def.Steps)
	return workflow.UpsertTypedSearchAttributes(ctx,
		SAIncident.ValueSet(r.in.Incident), SARunbook.ValueSet(opened.Runbook), SALevel.ValueSet(int64(level)))
}

// definitionChange gates taking the runbook's definition from the
// activity that opened the response: runs recorded before it parsed the
// runbook here, with the defaults of the worker replaying them.
const definitionChange = "definition-from-open"

// definition is the runbook the response runs. The activity that opened the
// response parsed, validated and completed it, and its result is in the
// history, so a replay on a worker whose step kinds have changed (another
// default, a new required parameter) runs the same definition.
func (r *response) definition(ctx workflow.Context, opened activities.OpenResponseResult) (*runbook.Definition, error) {
	if workflow.GetVersion(ctx, definitionChange, workflow.DefaultVersion, 1) >= 1 {
		if opened.Definition == nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("runbook %s version %d: the worker that opened the response returned no definition", opened.Runbook, opened.Version), activities.ErrBadInput, nil)
		}
		return opened.Definition, nil
	}
	//workflowcheck:ignore decoding the pinned source gives the same runbook on every replay; only runs that opened before the definition came from the open activity take this path
	def, err := runbook.Parse(fmt.Sprintf("%s version %d", opened.Runbook, opened.Version), []byte(opened.Source), Kinds)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("runbook %s version %d does not validate: %v", opened.Runbook, opened.Version, err), activities.ErrBadInput, nil)
	}
	if def.Area != "" && def.Area != opened.Area.Level {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("runbook %s is for a %s, and %s is a %s", def.Name, def.Area, opened.Area.Code, opened.Area.Level), activities.ErrBadInput, nil)
	}
	return def, nil
}

// build adds the steps known before they run, so supervisors see what is
// to come and operators can pause a step before it starts. Areas of a
// for_each and rounds of a repeat are added when they start.
func (r *response) build(parent *Node, steps []runbook.Step) {
	for i := range steps {
		st := &steps[i]
		n := r.child(parent, join(parent.Path, st.ID), st.ID, stepType(st), nil)
		n.Title = st.Title
		switch {
		case len(st.Sequence) > 0:
			r.build(n, st.Sequence)
		case len(st.Parallel) > 0:
			r.build(n, st.Parallel)
		}
	}
}

func (r *response) index(n *Node) {
	if n == nil {
		return
	}
	r.nodes[n.Path] = n
	for _, c := range n.Children {
		r.index(c)
	}
}

func (r *response) ref(actor string) activities.StepRef {
	return activities.StepRef{Incident: r.in.Incident, WorkflowID: r.id, Actor: actor}
}

// activity runs one of the response's own activities, counted so that the
// response never continues as new with one in flight.
func (r *response) activity(ctx workflow.Context, summary string, fn, arg, out any) error {
	r.inflight++
	defer func() { r.inflight-- }()
	actx := workflow.WithActivityOptions(ctx, activityOptions(summary, nil))
	return workflow.ExecuteActivity(actx, fn, arg).Get(ctx, out)
}

// event appends a transition to the event log. The log is the audit trail,
// so a failure to write it is retried like any activity.
func (r *response) event(ctx workflow.Context, step, state, reason, actor string) {
	r.events++
	if actor == "" {
		actor = "muster"
	}
	e := store.Event{Incident: r.in.Incident, WorkflowID: r.id, Step: step, State: state, Reason: reason, Actor: actor,
		Seq: fmt.Sprintf("%s/%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, r.events)}
	if err := r.activity(ctx, "Log "+step+" "+state, a.RecordEvent, e, nil); err != nil {
		workflow.GetLogger(ctx).Error("Event log", "step", step, "state", state, "error", err)
	}
}

// notice puts a notice for the command center in the outbox.
func (r *response) notice(ctx workflow.Context, topic, audience, body string, area *activities.Area) {
	var areaID int64
	if area != nil {
		areaID = area.ID
	}
	r.noticesDirty = true
	if err := r.activity(ctx, "Notice: "+topic, a.PublishNotice, activities.NoticeInput{
		Ref: r.ref("muster"), Step: "notice/" + topic, AreaID: areaID, Kind: topic, Audience: audience, Body: body,
	}, nil); err != nil {
		workflow.GetLogger(ctx).Error("Notice", "topic", topic, "error", err)
	}
}

func (r *response) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return r.lift == nil && (info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > r.in.HistoryLimit)
}

// child returns the node for a path under parent, creating it.
func (r *response) child(parent *Node, path, id, typ string, area *activities.Area) *Node {
	if n, ok := r.nodes[path]; ok {
		return n
	}
	n := &Node{Path: path, ID: id, Type: typ, Area: area, State: StatePending}
	parent.Children = append(parent.Children, n)
	r.nodes[path] = n
	return n
}

func join(parent, id string) string {
	if parent == "" {
		return id
	}
	return parent + "/" + id
}

func stepType(st *runbook.Step) string {
	switch {
	case st.Kind != "":
		return st.Kind
	case len(st.Parallel) > 0:
		return "parallel"
	case st.ForEach != nil:
		return "for_each"
	case st.Repeat != nil:
		return "repeat"
	}
	return "sequence"
}

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

// forEach runs its steps once per selected area, all areas at once, and
// takes in areas added to the response while it runs.
func (r *response) forEach(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	fe := st.ForEach
	seen := map[string]bool{}
	for _, c := range n.Children {
		if c.Area != nil {
			seen[c.Area.Code] = true
		}
	}
	var errs []error
	running := 0
	start := func(areas []activities.Area) {
		for _, ar := range areas {
			if seen[ar.Code] {
				continue
			}
			seen[ar.Code] = true
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
			running++
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { running-- }()
				if err := r.exec(ctx, item, body, &ar); err != nil {
					errs = append(errs, err)
				}
			})
		}
	}
	// Resumed items carry on first.
	var resumed []activities.Area
	for _, c := range n.Children {
		if c.Area != nil {
			resumed = append(resumed, *c.Area)
			delete(seen, c.Area.Code)
		}
	}
	start(resumed)
	selectAreas := func(under string) ([]activities.Area, error) {
		in := activities.SelectAreasInput{Under: under, Level: fe.Areas.Level, Codes: fe.Areas.Codes}
		var out []activities.Area
		err := r.activity(ctx, fmt.Sprintf("Select %s areas for %s", fe.Areas.Level, n.Path), a.SelectAreas, in, &out)
		return out, err
	}
	if len(n.Children) == 0 || n.Detail == "" {
		under := fe.Areas.Under
		switch {
		case under == "" || under == "response":
			under = r.p.Area.Path
			if area != nil {
				under = area.Path
			}
		}
		areas, err := selectAreas(under)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.finish(ctx, n, StateFailed, fmt.Sprintf("select %s areas under %s: %s", fe.Areas.Level, under, appMessage(err)))
			return nil
		}
		n.Detail = fmt.Sprintf("%d areas", len(areas))
		start(areas)
	}
	for {
		added := n.Added
		if err := workflow.Await(ctx, func() bool { return running == 0 || len(r.p.Added) > added }); err != nil {
			return err
		}
		if len(errs) > 0 {
			return errs[0]
		}
		if len(r.p.Added) > added && len(fe.Areas.Codes) == 0 {
			for _, extra := range r.p.Added[added:] {
				areas, err := selectAreas(extra.Path)
				if err != nil {
					workflow.GetLogger(ctx).Error("Select areas of an added area", "area", extra.Code, "error", err)
					continue
				}
				start(areas)
			}
			n.Added = len(r.p.Added)
			n.Detail = fmt.Sprintf("%d areas", len(seen))
			continue
		}
		if running == 0 {
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

// evidence lists the testing rounds of the response so far, each with its
// coverage and positives, for an approval's {evidence}.
func (r *response) evidence() string {
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
		s := fmt.Sprintf("round %d of %s: %s sampled (%.0f of %.0f), %.0f positive", round, area,
			percent(o["coverage"]), o["sampled"], o["expected"], o["positives"])
		if v, ok := o[OutputClean]; ok && v == 0 {
			s += ", not clean"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no testing round has closed"
	}
	return strings.Join(parts, "; ")
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
// response itself for kinds that act on other steps (lift).
func (r *response) leaf(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	b := bindings[st.Kind]
	if b.local {
		return r.localStep(ctx, n, st, area)
	}
	if area == nil {
		// Steps outside a for_each work on the response's own area.
		area = &r.p.Area
	}
	if n.WorkflowID == "" {
		in := StepInput{
			Incident: r.in.Incident, Runbook: r.p.Runbook, Level: r.p.Level, Path: n.Path, Kind: st.Kind,
			Title: titleOf(st, n), Params: st.Params, Area: area, TimeScale: r.in.TimeScale, Retry: st.Retry,
			Round: r.roundOf(n.Path), HistoryLimit: r.in.StepHistoryLimit,
		}
		if st.Kind == KindApproval {
			// The question is filled in here, where the rounds run so far
			// are known: whoever decides sees the evidence.
			in.Params = maps.Clone(st.Params)
			in.Params["question"] = strings.NewReplacer("{incident}", r.in.Incident, "{area}", area.Name, "{evidence}", r.evidence()).
				Replace(paramString(st.Params, "question"))
		}
		if err := r.startChild(ctx, n, b, in); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.finish(ctx, n, StateFailed, "could not start: "+rootMessage(err))
			return nil
		}
	}
	return workflow.Await(ctx, func() bool { return terminal(n.State) || (b.holds && n.Held) })
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

// startChild starts the step's workflow. Children outlive a response that
// continues as new (they report by signal), and a response's cancellation
// does not reach them: a seal is lifted, never dropped.
func (r *response) startChild(ctx workflow.Context, n *Node, b binding, in StepInput) error {
	id := r.id + "/" + n.Path
	paths := store.PathPrefixes(r.p.Area.Path)
	if in.Area != nil {
		paths = store.PathPrefixes(in.Area.Path)
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
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(dctx, opts), b.name, b.input(in))
	err := fut.GetChildWorkflowExecution().Get(dctx, nil)
	r.inflight--
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
		name: ResponseName,
		busy: func() bool { return r.inflight > 0 },
		next: func() any {
			next := r.in
			next.Resume = &ResponseState{Progress: r.p, Definition: r.def, Lift: r.lift}
			return next
		},
		shrink: func() { shrinkTree(r.p.Root, 0) },
	}
	if workflow.GetVersion(ctx, "response-drain-reports", workflow.DefaultVersion, 1) >= 1 {
		plan.inbox = &inbox{}
		receive(ctx, plan.inbox, SignalStepReport, func(rep StepReport) { r.apply(ctx, rep) })
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

// receiveReports applies step reports as they arrive.
func (r *response) receiveReports(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalStepReport)
	for {
		var rep StepReport
		if !ch.Receive(ctx, &rep) {
			return
		}
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
		r.event(ctx, n.Path, StateStalled, fmt.Sprintf("%s: retries ran out %d times: %s", rep.Inner, rep.Stalls, rep.LastError), "")
		r.notice(ctx, fmt.Sprintf("stalled/%s/%d", n.Path, rep.Stalls), "command center",
			fmt.Sprintf("Step %s of incident %s is stalled: %s failed %d times (%s). It is retried automatically; retry now, skip or abort it with `muster step retry|skip|abort %s %s`.",
				n.Path, r.in.Incident, rep.Inner, rep.Stalls, rep.LastError, r.in.Incident, n.Path), n.Area)
	default:
		state := rep.State
		if n.Held && state == StateRunning {
			state = StateDone
		}
		n.State = state
		if rep.Detail != "" {
			n.Detail = short(rep.Detail)
		}
		if state == StateRetrying {
			n.Inner, n.LastError = rep.Inner, rep.LastError
		}
		r.changed(ctx)
		if state == StateAwaitingDecision {
			r.event(ctx, n.Path, state, rep.Detail, "")
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
				fmt.Sprintf("Step %s of incident %s is overdue: not done by %s. %s", n.Path, r.in.Incident, n.DeadlineAt.Format("15:04"), n.Detail), n.Area)
			continue
		}
		n.Escalated = al.index + 1
		place := r.p.Area.Name
		if n.Area != nil {
			place = n.Area.Name
		}
		msg := strings.NewReplacer("{incident}", r.in.Incident, "{area}", place).Replace(al.e.Message)
		if msg == "" {
			msg = fmt.Sprintf("Step %s of incident %s is still not done after %s.", n.Path, r.in.Incident, al.e.After.D())
		}
		r.event(ctx, n.Path, "escalated", "to "+al.e.Notify+": "+msg, "")
		r.notice(ctx, fmt.Sprintf("escalation/%s/%d", n.Path, al.index+1), al.e.Notify, msg, n.Area)
	}
}

// held returns the steps in place until lifted (seals), optionally only
// those under an area path.
func (r *response) held(under string) []*Node {
	var out []*Node
	for _, n := range r.p.Leaves() {
		if !bindings[n.Type].holds || n.WorkflowID == "" || (terminal(n.State) && !n.Held) {
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
		if terminal(n.State) || bindings[n.Type].holds {
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

// localStep carries out the kinds the response runs itself. The lift step
// lifts the seals in its scope: the area of an enclosing for_each, or the
// whole response.
func (r *response) localStep(ctx workflow.Context, n *Node, st *runbook.Step, area *activities.Area) error {
	under := ""
	if area != nil {
		under = area.Path
	}
	targets := r.held(under)
	lift := LiftInput{Reason: paramString(st.Params, "reason"), By: "runbook " + r.p.Runbook}
	r.liftSteps(ctx, targets, lift)
	n.Outputs = map[string]float64{"lifted": float64(len(targets))}
	r.finish(ctx, n, StateDone, fmt.Sprintf("lifted %d seals", len(targets)))
	return ctx.Err()
}

func (r *response) setState(ctx workflow.Context, state, reason string) {
	if err := r.activity(ctx, "Response "+state, a.SetResponseState, activities.ResponseStateInput{
		Ref: r.ref("muster"), State: state, Level: r.p.Level, Reason: reason,
	}, nil); err != nil {
		workflow.GetLogger(ctx).Error("Response state", "error", err)
	}
}

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

func (r *response) open2() bool {
	return r.lift == nil && r.p.State != ResponseClosed
}

func (r *response) validateLift(ctx workflow.Context, in LiftInput) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return errors.New("a lift needs a reason (--reason), for the event log")
	}
	if !r.open2() {
		return fmt.Errorf("response %s is already %s", r.in.Incident, r.stateName())
	}
	return nil
}

func (r *response) stateName() string {
	if r.lift != nil && r.p.State != ResponseClosed {
		return "being lifted (by " + r.lift.By + ")"
	}
	return r.p.State
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
	case !r.open2():
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
		fmt.Sprintf("Incident %s: the response over %s moves from level %d to level %d (%s).", r.in.Incident, r.p.Area.Name, from, in.Level, in.Reason), &r.p.Area)
	return nil
}

func (r *response) validateAddArea(ctx workflow.Context, in AddAreaInput) error {
	if err := limitText("reason", in.Reason, "by", in.By); err != nil {
		return err
	}
	switch {
	case !codePattern(in.Area):
		return fmt.Errorf("area %q: give an area code such as nanpingtou (list them with `muster areas`)", in.Area)
	case in.Area == r.p.Area.Code || in.Area == r.p.Area.Path:
		return fmt.Errorf("%s is the response's own area", in.Area)
	case strings.TrimSpace(in.Reason) == "":
		return errors.New("adding an area needs a reason (--reason)")
	case !r.open2():
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
	if err := r.activity(ctx, "Look up area "+in.Area, a.SelectAreas, activities.SelectAreasInput{Codes: []string{in.Area}}, &areas); err != nil {
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

// changed mirrors the tree into the search attributes and the current
// details.
func (r *response) changed(ctx workflow.Context) {
	step, state := r.focus()
	if step != r.saStep || state != r.saState {
		r.saStep, r.saState = step, state
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAStep.ValueSet(step), SAStepState.ValueSet(state))
	}
	if n := 1 + len(r.p.Added); n != r.saPaths {
		r.saPaths = n
		var paths []string
		for _, x := range append([]activities.Area{r.p.Area}, r.p.Added...) {
			paths = append(paths, store.PathPrefixes(x.Path)...)
		}
		slices.Sort(paths)
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAAreaPath.ValueSet(slices.Compact(paths)))
	}
	workflow.SetCurrentDetails(ctx, r.render())
}

// focus picks what a supervisor should see first: a stalled step, then one
// awaiting a decision, an overdue one, a running one.
func (r *response) focus() (string, string) {
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
		if want == StateRetrying && r.p.Notices[store.DeliveryUndelivered] > 0 {
			// An undelivered notice waits for a person (a route fixed, a
			// resend), like a stalled step: MusterStepState = 'stalled'
			// finds the response with MusterStep = notices.
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

// render writes the markdown the Web UI shows: a line for the response and
// a table of its steps, area by area.
func (r *response) render() string {
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
	b.WriteString("\n\n| Area | Step | State | Detail |\n|---|---|---|---|\n")
	sort.SliceStable(leaves, func(i, j int) bool { return areaName(leaves[i]) < areaName(leaves[j]) })
	for i, n := range leaves {
		if i == 40 {
			fmt.Fprintf(&b, "| … | %d more | | |\n", len(leaves)-40)
			break
		}
		state := n.State
		if n.Held && n.State != StateUnderstaffed {
			state = "holding"
		}
		if n.State == StateStalled || n.Overdue {
			state = "**" + state + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", areaName(n), n.Path, state, strings.ReplaceAll(n.Detail, "|", "/"))
	}
	return b.String()
}

func areaName(n *Node) string {
	if n.Area == nil {
		return "—"
	}
	return n.Area.Name
}
