// Package activities holds the work Muster's workflows hand to workers: each
// activity is a method on Activities, writes through the store in one
// transaction, and can be repeated without adding a row twice.
package activities

import (
	"errors"
	"fmt"

	"github.com/lib/pq"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/store"
)

// Error types of non-retryable failures. Workflows list them in their retry
// policies and treat them as bad input, never as a stall.
const (
	ErrBadInput    = "BadInput"
	ErrUnknownArea = "UnknownArea"
	ErrNotCompound = "NotACompound"
	// ErrUnknownRunbook marks a runbook name or version that is not published.
	ErrUnknownRunbook = "UnknownRunbook"
	// ErrStaffBusy marks a booking the database refused because the person
	// was booked elsewhere first; it is retryable, as picking again finds
	// someone free.
	ErrStaffBusy = "StaffBusy"
)

// NonRetryable lists the error types no retry can fix.
var NonRetryable = []string{ErrBadInput, ErrUnknownArea, ErrNotCompound, ErrUnknownRunbook}

// Activities holds what the activities need.
type Activities struct {
	Store *store.Store
	// Schedules and TaskQueue let activities keep Temporal Schedules
	// (daily inspection rounds); nil where no schedule is needed.
	Schedules client.ScheduleClient
	TaskQueue string
}

// New returns the activities bound to a store.
func New(s *store.Store) *Activities {
	return &Activities{Store: s}
}

func badInput(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrBadInput, nil)
}

// classify turns store errors that no retry can fix into non-retryable ones.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrStaffBusy):
		// Someone picked was booked elsewhere first: a retry picks again.
		return temporal.NewApplicationError(err.Error(), ErrStaffBusy, err)
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrUnknownArea, err)
	case errors.Is(err, store.ErrNotCompound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNotCompound, err)
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrRoundClosed), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInvalidBatch):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, err)
	}
	// A foreign key that points nowhere is a reference no retry will mend.
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "23503" {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBadInput, err)
	}
	return err
}
