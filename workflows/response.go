package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
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
		return errors.New("--area is required: an area's code or path (list them with `muster areas`)")
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
	// Events are event log entries a run closing for its history budget
	// left to the next run (response_budget.go).
	Events []domain.Event `json:",omitempty"`
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
	Held   bool   `json:",omitempty"`
	Inner  string `json:",omitempty"`
	Stalls int    `json:",omitempty"`
	// Asked counts the questions the step has put to the command center.
	Asked     int     `json:",omitempty"`
	LastError string  `json:",omitempty"`
	Children  []*Node `json:",omitempty"`
	// Ask is an approval's question in each language, once it has been
	// asked.
	Ask *Ask `json:",omitempty"`
	// Packed holds finished children in the packed form of a result or a
	// carried state (response_pack.go); decoding unpacks them into
	// Children, so it is nil in any tree a reader sees.
	Packed *packedLeaves `json:",omitempty"`
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
	// Locale is the language the response is shown in (en, zh-CN), its
	// scenario's; empty, read as en, in responses opened before it.
	Locale string `json:",omitempty"`
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
	// b counts the run's history (response_budget.go).
	b budget
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
	// starting counts the child starts asked for and not yet recorded.
	starting int
	// detailsDirty is set when the tree changed since the current details
	// were last set (changed, flushDetails).
	detailsDirty bool
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
	defer r.flushDetails(ctx)
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

	r.b.on = workflow.GetVersion(ctx, historyBudgetChange, workflow.DefaultVersion, 1) >= 1
	if len(r.b.deferred) > 0 {
		workflow.Go(ctx, r.writeDeferred)
	}
	treeCtx, cancelTree := workflow.WithCancel(ctx)
	r.treeCtx = treeCtx
	if !r.treeDone {
		workflow.Go(treeCtx, r.runTree)
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
		// and report to the new run. A run that keeps a history budget
		// starts nothing new meanwhile.
		r.b.draining = r.b.on
		return r.p, r.continueAsNew(ctx)
	}
	cancelTree()
	if err := r.end(ctx); err != nil {
		return r.p, err
	}
	return r.result(r.packs(ctx)), nil
}

// runTree runs the runbook's steps. When they are done, the response holds
// while seals it placed are in place, failed or not.
func (r *response) runTree(ctx workflow.Context) {
	root := &runbook.Step{ID: "", Sequence: r.def.Steps}
	if err := r.exec(ctx, r.p.Root, root, nil); err != nil {
		return
	}
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

// end ends the response once its runbook is done and nothing holds, or
// when it is lifted: it lifts what still holds and records how it ended.
func (r *response) end(ctx workflow.Context) error {
	failed := r.p.State == ResponseFailed
	if more, err := r.flushDeferred(ctx); err != nil || more {
		// More entries than the run has room for: the next run writes
		// the rest, and ends.
		if err == nil {
			r.b.draining = true
			err = r.continueAsNew(ctx)
		}
		return err
	}
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
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.inflight == 0 })
}

// open pins the runbook and the area, or takes them from a previous run.
func (r *response) open(ctx workflow.Context) error {
	if r.in.Resume != nil {
		r.resume()
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
		Area: opened.Area, State: ResponseRunning, TimeScale: r.in.TimeScale, StartedAt: workflow.Now(ctx), Locale: opened.Locale,
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
	r.cost(ctx, costActivity)
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
	r.record(ctx, domain.Event{Step: step, State: state, Reason: reason, Actor: actor,
		Seq: fmt.Sprintf("%s/%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, r.events)})
}

// notice puts a notice for the command center in the outbox: body is the
// English text, and key and args, when key is set, the catalogue's
// message (or store.MessageRunbookText with the text per locale) the
// dispatcher renders in each route's locale.
func (r *response) notice(ctx workflow.Context, topic, audience, body string, area *activities.Area, key string, args map[string]string) {
	var areaID int64
	if area != nil {
		areaID = area.ID
	}
	r.noticesDirty = true
	if err := r.activity(ctx, "Notice: "+topic, a.PublishNotice, activities.NoticeInput{
		Ref: r.ref("muster"), Step: "notice/" + topic, AreaID: areaID, Kind: topic, Audience: audience, Body: body,
		Message: key, Args: args,
	}, nil); err != nil {
		workflow.GetLogger(ctx).Error("Notice", "topic", topic, "error", err)
	}
}

func (r *response) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if r.lift != nil {
		return false
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > r.in.HistoryLimit ||
		(r.b.on && r.historyEstimate(ctx) > r.in.HistoryLimit)
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

func (r *response) setState(ctx workflow.Context, state, reason string) {
	if err := r.activity(ctx, "Response "+state, a.SetResponseState, activities.ResponseStateInput{
		Ref: r.ref("muster"), State: state, Level: r.p.Level, Reason: reason,
	}, nil); err != nil {
		workflow.GetLogger(ctx).Error("Response state", "error", err)
	}
}
