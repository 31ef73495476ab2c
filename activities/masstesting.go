package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// OpenRoundInput opens a testing round over an area.
type OpenRoundInput struct {
	Ref      StepRef
	AreaID   int64
	Round    int
	OpensAt  time.Time
	Deadline time.Time
	// LateGrace is how long after the close a sample taken during the
	// round is still recorded against it; 0 keeps the store's default.
	LateGrace time.Duration `json:",omitempty"`
}

// OpenRound opens the round (or returns it when it is open already): its
// sampling points, which point serves which compound, and the residents
// expected by cohort. Counts only: no resident travels through a workflow.
func (a *Activities) OpenRound(ctx context.Context, in OpenRoundInput) (domain.RoundPlan, error) {
	if err := in.Ref.validate(); err != nil {
		return domain.RoundPlan{}, classify(err)
	}
	if in.AreaID <= 0 || in.Round < 1 || !in.Deadline.After(in.OpensAt) {
		return domain.RoundPlan{}, badInput("a round needs an area, a round number from 1 and a deadline after it opens")
	}
	e := in.Ref.event("open-round", "done", fmt.Sprintf("round %d opens, deadline %s", in.Round, in.Deadline.Format(time.RFC3339)))
	e.Seq = fmt.Sprint(in.Round)
	plan, err := a.Store.OpenRound(ctx, in.Ref.Incident, in.AreaID, in.Round, in.OpensAt, in.Deadline, e)
	if err != nil {
		return domain.RoundPlan{}, classify(err)
	}
	if in.LateGrace > 0 {
		if err := a.Store.SetLateGrace(ctx, plan.RoundID, in.LateGrace); err != nil {
			return domain.RoundPlan{}, classify(err)
		}
	}
	if len(plan.Points) == 0 {
		return domain.RoundPlan{}, badInput("the area has no sampling point: add sites of kind sampling-point to the scenario")
	}
	return plan, nil
}

// RoundRef names an open round.
type RoundRef struct {
	Ref     StepRef
	RoundID int64
}

// AssignHomeVisits lists the residents sampled at home and assigns them to
// grid workers.
func (a *Activities) AssignHomeVisits(ctx context.Context, in RoundRef) (int, error) {
	if in.RoundID <= 0 {
		return 0, badInput("round ID is required")
	}
	v, err := a.Store.AssignHomeVisits(ctx, in.RoundID)
	return v, classify(err)
}

// RevisitMissed sends a grid worker again to residents whose visit missed.
func (a *Activities) RevisitMissed(ctx context.Context, in RoundRef) (int, error) {
	if in.RoundID <= 0 {
		return 0, badInput("round ID is required")
	}
	v, err := a.Store.RevisitMissed(ctx, in.RoundID)
	return v, classify(err)
}

// RoundProgress counts the round's samples per point and cohort.
func (a *Activities) RoundProgress(ctx context.Context, in RoundRef) (domain.RoundProgress, error) {
	if in.RoundID <= 0 {
		return domain.RoundProgress{}, badInput("round ID is required")
	}
	v, err := a.Store.RoundProgress(ctx, in.RoundID)
	return v, classify(err)
}

// AddRoundPointInput opens another sampling point in a running round.
type AddRoundPointInput struct {
	Ref     StepRef
	RoundID int64
	Site    string
}

// AddRoundPoint opens another sampling point and rebalances the compounds.
func (a *Activities) AddRoundPoint(ctx context.Context, in AddRoundPointInput) (domain.RoundPlan, error) {
	if in.RoundID <= 0 || in.Site == "" {
		return domain.RoundPlan{}, badInput("adding a point needs a round and a site code")
	}
	e := in.Ref.event("add-point", "done", "sampling point "+in.Site+" opened")
	e.Seq = in.Site
	plan, err := a.Store.AddRoundPoint(ctx, in.RoundID, in.Site, e)
	return plan, classify(err)
}

// ExtendRoundInput moves a round's deadline later.
type ExtendRoundInput struct {
	Ref      StepRef
	RoundID  int64
	Deadline time.Time
	Reason   string
}

// ExtendRound moves an open round's deadline later (a round that lost time
// to an outage); it returns the round's deadline.
func (a *Activities) ExtendRound(ctx context.Context, in ExtendRoundInput) (time.Time, error) {
	if in.RoundID <= 0 || in.Deadline.IsZero() {
		return time.Time{}, badInput("extending a round needs the round and its new deadline")
	}
	e := in.Ref.event("extend-round", "extended", in.Reason)
	e.Seq = fmt.Sprintf("%d/%s", in.RoundID, in.Deadline.UTC().Format(time.RFC3339))
	d, err := a.Store.ExtendRound(ctx, in.RoundID, in.Deadline, e)
	return d, classify(err)
}

// CloseRoundResult is what closing a round found.
type CloseRoundResult struct {
	Missing int
	// The final figures, counted by the database as the round closed.
	Expected, Sampled, Positives, HomeVisitsOpen int
	// LateResults counts samples recorded against the round after it
	// closed; they are among Sampled.
	LateResults int `json:",omitempty"`
}

// closeResult is a round's figures as the workflow sees them.
func closeResult(c store.RoundClose) CloseRoundResult {
	return CloseRoundResult{Missing: c.Missing, Expected: c.Expected, Sampled: c.Sampled, Positives: c.Positives,
		HomeVisitsOpen: c.HomeVisitsOpen, LateResults: c.LateResults}
}

// CloseRound closes the round and writes the list of residents still
// missing, for call-backs. The list is written by the database in one
// statement, however long it is; the heartbeat keeps a long close alive.
func (a *Activities) CloseRound(ctx context.Context, in RoundRef) (CloseRoundResult, error) {
	if in.RoundID <= 0 {
		return CloseRoundResult{}, badInput("round ID is required")
	}
	activity.RecordHeartbeat(ctx, in.RoundID)
	e := in.Ref.event("close-round", "done", "round closed")
	e.Seq = fmt.Sprint(in.RoundID)
	c, err := a.Store.CloseRound(ctx, in.RoundID, e)
	return closeResult(c), classify(err)
}

// RoundTally counts a closed round's figures as they stand, late results
// included (a step waiting for them after the close).
func (a *Activities) RoundTally(ctx context.Context, in RoundRef) (CloseRoundResult, error) {
	if in.RoundID <= 0 {
		return CloseRoundResult{}, badInput("round ID is required")
	}
	c, err := a.Store.RoundTally(ctx, in.RoundID)
	return closeResult(c), classify(err)
}
