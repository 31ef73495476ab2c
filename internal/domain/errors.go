package domain

import "errors"

// ErrNotFound is returned when a looked-up record does not exist. The
// not-found errors below say which kind of record it was, and each of them
// is an ErrNotFound too.
var ErrNotFound = errors.New("not found")

// Not-found errors naming what was not found. Their text is ErrNotFound's,
// so messages read the same whichever is wrapped.
var (
	ErrAreaNotFound       error = &notFoundError{what: "area"}
	ErrFindingNotFound    error = &notFoundError{what: "finding"}
	ErrAssignmentNotFound error = &notFoundError{what: "assignment"}
	ErrResponseNotFound   error = &notFoundError{what: "response"}
)

// notFoundError is a not-found error for one kind of record.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string { return ErrNotFound.Error() }

// Is makes every not-found error an ErrNotFound for errors.Is.
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

var (
	// ErrInvalid is returned for input no retry can fix: a bad field, a
	// value the database refuses as malformed. Callers report it as bad
	// input and never retry.
	ErrInvalid = errors.New("invalid")
	// ErrConflict is returned when a write contradicts what is recorded,
	// such as an acknowledgement by someone other than the person assigned.
	ErrConflict = errors.New("conflict")
	// ErrStaffBusy is returned when the database refused to book a person
	// who another transaction, of this response or another, booked
	// elsewhere for overlapping hours first. Picking again finds someone
	// free, so a retry mends it: it is never bad input.
	ErrStaffBusy = errors.New("staff already booked")
	// ErrNotCompound is returned when a seal names an area that is not a
	// compound.
	ErrNotCompound = errors.New("not a compound")
)
