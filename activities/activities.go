// Package activities holds the work Muster's workflows hand to workers: each
// activity is a method on Activities, writes through the store in one
// transaction, and can be repeated without adding a row twice.
package activities

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// Error types of the failures activities return. All but ErrStaffBusy are
// in NonRetryable: workflows list those in their retry policies and treat
// them as bad input, never as a stall.
const (
	// ErrBadInput marks input no retry can fix: a malformed field, a value
	// the database refuses, a write that contradicts what is recorded.
	ErrBadInput = "BadInput"
	// ErrUnknownArea marks an area that does not exist
	// (domain.ErrAreaNotFound), and only that.
	ErrUnknownArea = "UnknownArea"
	// ErrNotFound marks any other record that does not exist: a finding,
	// an assignment, a response.
	ErrNotFound = "NotFound"
	// ErrNotCompound marks a seal of an area that is not a compound.
	ErrNotCompound = "NotACompound"
	// ErrUnknownRunbook marks a runbook name or version that is not published.
	ErrUnknownRunbook = "UnknownRunbook"
	// ErrStaffBusy marks a booking the database refused because the person
	// was booked elsewhere first; it is retryable, as picking again finds
	// someone free.
	ErrStaffBusy = "StaffBusy"
)

// NonRetryable lists the error types no retry can fix.
var NonRetryable = []string{ErrBadInput, ErrUnknownArea, ErrNotFound, ErrNotCompound, ErrUnknownRunbook}

// Activities holds what the activities need.
type Activities struct {
	Store *store.Store
	// Schedules and TaskQueue let activities keep Temporal Schedules
	// (daily inspection rounds); nil where no schedule is needed.
	Schedules client.ScheduleClient
	TaskQueue string
	// Kinds is the registry of step kinds runbooks are parsed against when
	// a response opens; the worker sets it.
	Kinds runbook.Registry
}

// New returns the activities bound to a store.
func New(s *store.Store) *Activities {
	return &Activities{Store: s}
}

func badInput(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrBadInput, nil)
}

// classify turns errors that no retry can fix into non-retryable ones; every
// activity returns its errors through it, so a workflow's retry policy sees
// each failure classified once. An error classified already is returned as
// it is. The store has turned driver errors into the domain's: a request
// the database refuses as malformed is domain.ErrInvalid.
func classify(err error) error {
	var ae *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return err
	case errors.Is(err, domain.ErrStaffBusy):
		// Someone picked was booked elsewhere first: a retry picks again.
		return temporal.NewApplicationError(err.Error(), ErrStaffBusy, err)
	case errors.Is(err, domain.ErrAreaNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrUnknownArea, err)
	case errors.Is(err, domain.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNotFound, err)
	case errors.Is(err, domain.ErrNotCompound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNotCompound, err)
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, domain.ErrConflict),
		// A round that has closed and a batch refused whole are the
		// store's own bad input.
		errors.Is(err, store.ErrRoundClosed), errors.Is(err, store.ErrInvalidBatch):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, err)
	}
	return err
}
