package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestClassifyStaffBusy: a booking lost to another response is retried,
// never parked as bad input.
func TestClassifyStaffBusy(t *testing.T) {
	t.Parallel()
	err := classify(fmt.Errorf("assign staff for wf: %w", fmt.Errorf("%w: staff solo is already booked", domain.ErrStaffBusy)))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != ErrStaffBusy || ae.NonRetryable() {
		t.Fatalf("classify(busy) = %#v, want a retryable %s application error", err, ErrStaffBusy)
	}
	for _, nr := range NonRetryable {
		if nr == ErrStaffBusy {
			t.Errorf("NonRetryable lists %s", ErrStaffBusy)
		}
	}
}

// TestClassifyDomainErrors: the store returns the domain's errors (a data
// exception, a syntax or access error or an integrity error a value caused
// is domain.ErrInvalid, see the store's TestTranslate); bad input and
// records that do not exist are not retryable, anything else, such as a
// lost connection, a deadlock or a serialization failure, is.
func TestClassifyDomainErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		typ  string // "" for retryable
	}{
		{"invalid", fmt.Errorf("write: %w", domain.ErrInvalid), ErrBadInput},
		{"conflict", fmt.Errorf("ack: %w", domain.ErrConflict), ErrBadInput},
		{"unknown area", fmt.Errorf(`area "x": %w`, domain.ErrAreaNotFound), ErrUnknownArea},
		{"unknown finding", fmt.Errorf("finding 7: %w", domain.ErrFindingNotFound), ErrNotFound},
		{"not a compound", fmt.Errorf("area x is a community: %w", domain.ErrNotCompound), ErrNotCompound},
		{"lost connection", fmt.Errorf("write: %w", errors.New("connection reset by peer")), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := classify(c.err)
			var ae *temporal.ApplicationError
			nonRetryable := errors.As(err, &ae) && ae.NonRetryable()
			if nonRetryable != (c.typ != "") {
				t.Errorf("classify(%v) = %v, non-retryable %v; want non-retryable %v", c.err, err, nonRetryable, c.typ != "")
			}
			if nonRetryable && ae.Type() != c.typ {
				t.Errorf("classify(%v) type = %s, want %s", c.err, ae.Type(), c.typ)
			}
		})
	}
	// An error classified already keeps its type.
	first := classify(domain.ErrNotFound)
	if got := classify(first); got != first {
		t.Errorf("classify(classify(not found)) = %v, want the same error", got)
	}
}

// TestNULByte: text with a NUL byte reaches PostgreSQL only as a data
// exception (22021). A transition is still logged, once, with the byte
// replaced (an escalation's level changes in the workflow whatever its
// reason holds, so its event must not be lost); a notice or a field report
// carrying it is refused once, as bad input, instead of failing eight times
// and stalling for ever, and nothing of it is written.
func TestNULByte(t *testing.T) {
	a, _ := newActivities(t)
	ctx := context.Background()
	incident := "nul-0001"
	r := ref(incident)
	if err := a.Store.OpenResponse(ctx, store.Response{Incident: incident, Runbook: "seal-compound", Level: 1, AreaPath: "xiaodian"},
		r.event("response", "open", "opened")); err != nil {
		t.Fatal(err)
	}
	plan, err := a.OpenInspectionRound(ctx, OpenInspectionRoundInput{Ref: r, Step: "inspect", Round: 1, Area: "xiaodian", Inspectors: []string{"inspector-a"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := "closed\x00 early \xff"
	logged := func(step string) int {
		return count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1 AND step = $2 AND reason LIKE '%closed� early �%'`, incident, step)
	}

	t.Run("RecordEvent", func(t *testing.T) {
		e := domain.Event{Incident: incident, WorkflowID: r.WorkflowID, Step: "escalate", State: "done", Actor: "duty", Reason: bad, Seq: bad}
		for range 2 {
			if err := a.RecordEvent(ctx, e); err != nil {
				t.Fatalf("RecordEvent() = %v, want the event logged", err)
			}
		}
		if n := logged("escalate"); n != 1 {
			t.Errorf("events logged = %d, want 1 with the bad bytes replaced", n)
		}
	})
	t.Run("SetResponseState", func(t *testing.T) {
		if err := a.SetResponseState(ctx, ResponseStateInput{Ref: r, State: "running", Level: 2, Reason: bad}); err != nil {
			t.Fatalf("SetResponseState() = %v, want the state and its event recorded", err)
		}
		if n := logged("response"); n != 1 {
			t.Errorf("response events logged = %d, want 1", n)
		}
	})

	events := count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1`, incident)
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"PublishNotice", func() error {
			return a.PublishNotice(ctx, NoticeInput{Ref: r, Step: "notify", Kind: "k", Audience: "residents", Body: bad})
		}},
		{"ReportSite", func() error {
			_, err := a.ReportSite(ctx, ReportSiteInput{Ref: r, RoundID: plan.RoundID, Site: plan.Sites[0].Site,
				Findings: []domain.NewFinding{{Category: "checkpoint", Severity: "high", Description: bad}}})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkAppError(t, c.name, c.call(), ErrBadInput)
		})
	}
	if got := count(t, a, `SELECT count(*) FROM step_events WHERE incident = $1`, incident); got != events {
		t.Errorf("events = %d after refused writes, want %d", got, events)
	}
}
