package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// StepRef names the step an activity works for, so its write and its event
// land in the same transaction.
type StepRef struct {
	Incident   string
	WorkflowID string
	Actor      string
}

func (r StepRef) event(step, state, reason string) domain.Event {
	return domain.Event{Incident: r.Incident, WorkflowID: r.WorkflowID, Step: step, State: state, Reason: reason, Actor: r.Actor}
}

func (r StepRef) validate() error {
	switch {
	case r.Incident == "":
		return badInput("incident is required")
	case r.WorkflowID == "":
		return badInput("workflow ID is required")
	}
	return nil
}

// PlanSealInput asks what sealing a compound involves.
type PlanSealInput struct {
	Ref      StepRef
	Compound string
	Runbook  string
	Level    int
}

// GatePlan is a gate to put a checkpoint at.
type GatePlan struct {
	ID       int64
	Code     string
	Name     string
	Entrance bool
}

// RoadPlan is a road section next to the compound.
type RoadPlan struct {
	ID       int64
	Code     string
	Name     string
	Entrance bool
}

// PlanSealResult is the compound's layout: IDs and counts, never residents.
type PlanSealResult struct {
	AreaID         int64
	Code           string
	Name           string
	Path           string
	Residents      int
	Gates          []GatePlan
	Roads          []RoadPlan
	PublicAreas    []string
	StaffAvailable int
}

// PlanSeal reads the compound's gates, roads and public areas and opens the
// incident's response record. An unknown area or one that is not a compound
// fails at once.
func (a *Activities) PlanSeal(ctx context.Context, in PlanSealInput) (PlanSealResult, error) {
	if err := in.Ref.validate(); err != nil {
		return PlanSealResult{}, classify(err)
	}
	// A response's compound is its own district's, whoever else uses the
	// code; its path names it alone.
	compound, err := a.Store.AreaFor(ctx, in.Ref.Incident, in.Compound)
	if err != nil {
		return PlanSealResult{}, classify(err)
	}
	p, err := a.Store.SealPlan(ctx, compound.Path)
	if err != nil {
		return PlanSealResult{}, classify(err)
	}
	out := PlanSealResult{
		AreaID: p.Compound.ID, Code: p.Compound.Code, Name: p.Compound.Name, Path: p.Compound.Path,
		Residents: p.Compound.Population, PublicAreas: p.PublicAreas, StaffAvailable: p.StaffAvailable,
	}
	for _, g := range p.Gates {
		out.Gates = append(out.Gates, GatePlan{ID: g.ID, Code: g.Code, Name: g.Name, Entrance: g.Entrance})
	}
	for _, r := range p.Roads {
		out.Roads = append(out.Roads, RoadPlan{ID: r.ID, Code: r.Code, Name: r.Name, Entrance: r.Entrance})
	}
	reason := fmt.Sprintf("%d gates, %d roads, %d residents", len(out.Gates), len(out.Roads), out.Residents)
	err = a.Store.OpenResponse(ctx, store.Response{Incident: in.Ref.Incident, Runbook: in.Runbook, Level: in.Level, AreaPath: p.Compound.Path},
		in.Ref.event("plan", "done", reason))
	return out, classify(err)
}

// NoticeInput asks for a notice in the outbox.
type NoticeInput struct {
	Ref      StepRef
	Step     string
	AreaID   int64
	Kind     string
	Audience string
	// Body is the English text, sent where the message has no translation.
	Body string
	// Message and Args name the catalogue's message the body was written
	// from, so the dispatcher renders it in each route's locale.
	Message string            `json:",omitempty"`
	Args    map[string]string `json:",omitempty"`
}

// PublishNotice puts a notice in the outbox once per incident, area and kind.
func (a *Activities) PublishNotice(ctx context.Context, in NoticeInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	if in.Step == "" || in.Kind == "" || in.Body == "" || in.Audience == "" {
		return badInput("a notice needs a step, a kind, an audience and a body")
	}
	if in.Message == "" && len(in.Args) > 0 {
		return badInput("a notice's args need a message key")
	}
	n := store.Notice{
		Key:      fmt.Sprintf("%s/%d/%s", in.Ref.Incident, in.AreaID, in.Kind),
		Incident: in.Ref.Incident, AreaID: in.AreaID, Audience: in.Audience, Kind: in.Kind, Body: in.Body,
		Message: in.Message, Args: in.Args,
	}
	e := in.Ref.event(in.Step, "done", in.Kind+" notice to "+in.Audience)
	e.Seq = in.Kind
	return classify(a.Store.PublishNotice(ctx, n, e))
}

// CheckpointInput asks for a checkpoint at one gate.
type CheckpointInput struct {
	Ref           StepRef
	AreaID        int64
	Gate          GatePlan
	RequiredStaff int
	// Shift numbers the shift the staff are booked for (0: the first);
	// Rest keeps anyone relieved less than that long ago (real time) off it.
	Shift int           `json:",omitempty"`
	Rest  time.Duration `json:",omitempty"`
	// Outside draws on staff from outside the district too.
	Outside bool `json:",omitempty"`
}

// CheckpointResult is the checkpoint's staff.
type CheckpointResult struct {
	Gate      string
	Mode      string
	Staff     []string
	Shortfall int
}

// OpenCheckpoint puts a checkpoint at a gate and assigns staff, nearest
// first. The entrance gate checks people through; other gates stay shut.
func (a *Activities) OpenCheckpoint(ctx context.Context, in CheckpointInput) (CheckpointResult, error) {
	if err := in.Ref.validate(); err != nil {
		return CheckpointResult{}, classify(err)
	}
	if in.AreaID <= 0 || in.Gate.ID <= 0 {
		return CheckpointResult{}, badInput("a checkpoint needs the area and gate IDs from the seal plan (got area %d, gate %d)", in.AreaID, in.Gate.ID)
	}
	if in.RequiredStaff < 0 {
		return CheckpointResult{}, badInput("required staff must not be negative (got %d)", in.RequiredStaff)
	}
	mode := "closed"
	if in.Gate.Entrance {
		mode = "entry"
	}
	var res store.CheckpointResult
	reason := func() string {
		r := fmt.Sprintf("%s gate, %d staff on duty", mode, len(res.Staff))
		if res.Shortfall > 0 {
			r += fmt.Sprintf(", %d posts unfilled", res.Shortfall)
		}
		return r
	}
	res, err := a.Store.OpenCheckpoint(ctx, store.CheckpointOrder{
		Incident: in.Ref.Incident, GateID: in.Gate.ID, AreaID: in.AreaID, Mode: mode, RequiredStaff: in.RequiredStaff,
		Shift: in.Shift, Rest: in.Rest, Outside: in.Outside,
	}, func(r store.CheckpointResult) domain.Event {
		res = r
		return in.Ref.event("checkpoint/"+in.Gate.Code, "done", reason())
	})
	if err != nil {
		return CheckpointResult{}, classify(err)
	}
	return CheckpointResult{Gate: in.Gate.Code, Mode: mode, Staff: res.Staff, Shortfall: res.Shortfall}, nil
}

// CheckpointsInput asks for checkpoints at every gate of a compound at
// once, with the same staffing for each as CheckpointInput.
type CheckpointsInput struct {
	Ref           StepRef
	AreaID        int64
	Gates         []GatePlan
	RequiredStaff int
	Shift         int           `json:",omitempty"`
	Rest          time.Duration `json:",omitempty"`
	Outside       bool          `json:",omitempty"`
}

// CheckpointsResult lists the checkpoints opened, in the order of the
// gates, and the gates that could not be opened, with why.
type CheckpointsResult struct {
	Opened []CheckpointResult
	Failed []GateFailure `json:",omitempty"`
}

// GateFailure is a gate whose checkpoint could not be opened: the error's
// message, and its type and whether a retry may mend it when it is an
// application error (bad input is not retried).
type GateFailure struct {
	Gate         string
	Error        string
	Type         string `json:",omitempty"`
	NonRetryable bool   `json:",omitempty"`
}

// OpenCheckpoints opens a checkpoint at each gate in turn, each exactly as
// OpenCheckpoint does (its own transaction, staff drawn with SKIP LOCKED,
// the gate's event), so a compound's gates take one activity instead of
// one each. A gate that fails does not stop the others: it is listed in
// Failed, and the seal opens it on its own, with the usual retries.
// Calling it again tops up the staff without adding checkpoints.
func (a *Activities) OpenCheckpoints(ctx context.Context, in CheckpointsInput) (CheckpointsResult, error) {
	if err := in.Ref.validate(); err != nil {
		return CheckpointsResult{}, classify(err)
	}
	return OpenEachGate(in, func(one CheckpointInput) (CheckpointResult, error) { return a.OpenCheckpoint(ctx, one) }), nil
}

// OpenEachGate opens in's gates one at a time with open, listing each
// gate that fails with its error's message, type and whether it may be
// retried, and going on with the rest.
func OpenEachGate(in CheckpointsInput, open func(CheckpointInput) (CheckpointResult, error)) CheckpointsResult {
	res := CheckpointsResult{Opened: make([]CheckpointResult, 0, len(in.Gates))}
	for _, g := range in.Gates {
		cp, err := open(CheckpointInput{Ref: in.Ref, AreaID: in.AreaID, Gate: g, RequiredStaff: in.RequiredStaff,
			Shift: in.Shift, Rest: in.Rest, Outside: in.Outside})
		if err != nil {
			f := GateFailure{Gate: g.Code, Error: err.Error()}
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) {
				f.Error, f.Type, f.NonRetryable = appErr.Message(), appErr.Type(), appErr.NonRetryable()
			}
			res.Failed = append(res.Failed, f)
			continue
		}
		res.Opened = append(res.Opened, cp)
	}
	return res
}

// CloseRoadsInput asks to close road sections for a compound's seal.
type CloseRoadsInput struct {
	Ref    StepRef
	AreaID int64
	Roads  []RoadPlan
}

// CloseRoadsResult says how many closures are in force and which roads stay open.
type CloseRoadsResult struct {
	Closed    int
	Entrances []string
}

// CloseRoads closes every road section next to the compound except the
// entrances, so everyone comes and goes by one street.
func (a *Activities) CloseRoads(ctx context.Context, in CloseRoadsInput) (CloseRoadsResult, error) {
	if err := in.Ref.validate(); err != nil {
		return CloseRoadsResult{}, classify(err)
	}
	if in.AreaID <= 0 {
		return CloseRoadsResult{}, badInput("closing roads needs the area ID from the seal plan (got %d)", in.AreaID)
	}
	var ids []int64
	var closed, open []string
	for _, r := range in.Roads {
		if r.Entrance {
			open = append(open, r.Name)
			continue
		}
		ids = append(ids, r.ID)
		closed = append(closed, r.Name)
	}
	reason := "no roads to close"
	if len(closed) > 0 {
		reason = "closed " + strings.Join(closed, ", ")
	}
	if len(open) > 0 {
		reason += "; entrance by " + strings.Join(open, ", ")
	}
	n, err := a.Store.CloseRoads(ctx, in.Ref.Incident, in.AreaID, ids, in.Ref.event("close-roads", "done", reason))
	return CloseRoadsResult{Closed: n, Entrances: open}, classify(err)
}

// DisinfectInput asks for a disinfection round of the compound's public areas.
type DisinfectInput struct {
	Ref    StepRef
	AreaID int64
	Zones  []string
	Round  int
}

// DisinfectResult counts the zones done.
type DisinfectResult struct {
	Zones int
}

// Disinfect records the disinfection of every public zone of the compound.
func (a *Activities) Disinfect(ctx context.Context, in DisinfectInput) (DisinfectResult, error) {
	if err := in.Ref.validate(); err != nil {
		return DisinfectResult{}, classify(err)
	}
	if in.AreaID <= 0 {
		return DisinfectResult{}, badInput("disinfection needs the area ID from the seal plan (got %d)", in.AreaID)
	}
	if len(in.Zones) == 0 || in.Round < 1 {
		return DisinfectResult{}, badInput("disinfection needs at least one zone and a round from 1 (got %d zones, round %d)", len(in.Zones), in.Round)
	}
	// The round is part of the event's dedup key, so each round logs once.
	e := in.Ref.event("disinfect", "done", fmt.Sprintf("round %d: %s", in.Round, strings.Join(in.Zones, ", ")))
	e.Seq = fmt.Sprint(in.Round)
	n, err := a.Store.Disinfect(ctx, in.Ref.Incident, in.AreaID, in.Zones, in.Round, e)
	return DisinfectResult{Zones: n}, classify(err)
}

// ComplianceInput asks for one round of checkpoint checks.
type ComplianceInput struct {
	Ref    StepRef
	AreaID int64
	Round  int
}

// ComplianceResult summarises a round.
type ComplianceResult struct {
	Round    int
	Checked  int
	Passed   int
	Problems []string
}

// CheckCompliance checks every checkpoint of the seal: staff on duty, and the
// road closures still in force. A round is recorded once.
func (a *Activities) CheckCompliance(ctx context.Context, in ComplianceInput) (ComplianceResult, error) {
	if err := in.Ref.validate(); err != nil {
		return ComplianceResult{}, classify(err)
	}
	if in.AreaID <= 0 {
		return ComplianceResult{}, badInput("a compliance check needs the area ID from the seal plan (got %d)", in.AreaID)
	}
	if in.Round < 1 {
		return ComplianceResult{}, badInput("compliance round must be 1 or more (got %d)", in.Round)
	}
	out := ComplianceResult{Round: in.Round}
	summarise := func(rs []store.ComplianceResult) domain.Event {
		out.Checked, out.Passed, out.Problems = len(rs), 0, nil
		for _, r := range rs {
			if r.Passed {
				out.Passed++
			}
			for _, p := range r.Problems {
				out.Problems = append(out.Problems, "gate "+r.Gate+": "+p)
			}
		}
		state := "done"
		reason := fmt.Sprintf("round %d: %d of %d checkpoints passed", in.Round, out.Passed, out.Checked)
		if len(out.Problems) > 0 {
			reason += "; " + strings.Join(out.Problems, "; ")
		}
		e := in.Ref.event("compliance-check", state, reason)
		e.Seq = fmt.Sprint(in.Round)
		return e
	}
	_, err := a.Store.CheckCompliance(ctx, in.Ref.Incident, in.AreaID, in.Round, summarise)
	return out, classify(err)
}

// ReopenInput asks to lift a compound's seal.
type ReopenInput struct {
	Ref    StepRef
	AreaID int64
	Reason string
}

// ReopenResult counts what the lift released.
type ReopenResult struct {
	Checkpoints   int
	StaffReleased int
	RoadsReopened int
}

// Reopen closes the seal's checkpoints, releases their staff and reopens its
// roads. Passes issued for the seal are revoked here once passes exist.
func (a *Activities) Reopen(ctx context.Context, in ReopenInput) (ReopenResult, error) {
	if err := in.Ref.validate(); err != nil {
		return ReopenResult{}, classify(err)
	}
	if in.AreaID <= 0 {
		return ReopenResult{}, badInput("reopening needs the area ID from the seal plan (got %d)", in.AreaID)
	}
	r, err := a.Store.Reopen(ctx, in.Ref.Incident, in.AreaID, in.Ref.event("reopen", "done", in.Reason))
	return ReopenResult(r), classify(err)
}

// loggable makes an event's free text storable: a NUL byte or invalid
// UTF-8 in a reason (an operator's escalation, say) becomes U+FFFD, so the
// transition is logged, once, rather than refused and lost while the
// workflow has moved on.
func loggable(e domain.Event) domain.Event {
	clean := func(s string) string {
		return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
	}
	e.Reason, e.Actor, e.Seq = clean(e.Reason), clean(e.Actor), clean(e.Seq)
	return e
}

// RecordEvent appends a transition the workflow itself decided, such as a
// lift request or a stall.
func (a *Activities) RecordEvent(ctx context.Context, e domain.Event) error {
	if e.Incident == "" || e.WorkflowID == "" || e.Step == "" || e.State == "" {
		return badInput("an event needs an incident, a workflow ID, a step and a state")
	}
	return classify(a.Store.AppendEvent(ctx, loggable(e)))
}

// SweepInput asks for a check of every checkpoint of an incident's seals.
type SweepInput struct {
	Ref StepRef
	// Sweep names the sweep (the step's path); a repeated call returns the
	// recorded check.
	Sweep string
}

// SweepResult summarises a sweep.
type SweepResult struct {
	Checked  int
	Failed   int
	Problems []string
}

// ComplianceSweep checks every open checkpoint of every seal of the
// incident: staff on duty and road closures in force.
func (a *Activities) ComplianceSweep(ctx context.Context, in SweepInput) (SweepResult, error) {
	if err := in.Ref.validate(); err != nil {
		return SweepResult{}, classify(err)
	}
	if in.Sweep == "" {
		return SweepResult{}, badInput("a sweep needs a name")
	}
	var out SweepResult
	_, err := a.Store.SweepCompliance(ctx, in.Ref.Incident, in.Sweep, func(rs []store.ComplianceResult) domain.Event {
		out = SweepResult{Checked: len(rs)}
		for _, r := range rs {
			if !r.Passed {
				out.Failed++
			}
			for _, p := range r.Problems {
				out.Problems = append(out.Problems, r.Area+" gate "+r.Gate+": "+p)
			}
		}
		reason := fmt.Sprintf("%d of %d checkpoints passed", out.Checked-out.Failed, out.Checked)
		if len(out.Problems) > 0 {
			reason += "; " + strings.Join(out.Problems, "; ")
		}
		e := in.Ref.event(in.Sweep, "done", reason)
		e.Seq = "sweep"
		return e
	})
	return out, classify(err)
}

// CountNotices counts an incident's notices per delivery state (pending,
// sent, delivered, undelivered), every state present, for the response's
// current details and progress.
func (a *Activities) CountNotices(ctx context.Context, incident string) (map[string]int, error) {
	if incident == "" {
		return nil, badInput("counting notices needs an incident")
	}
	c, err := a.Store.NoticeCounts(ctx, incident)
	return c, classify(err)
}
