package store

import "errors"

// Errors a caller can act on, shared by the store's methods.
var (
	// ErrConflict is returned when a write contradicts what is recorded,
	// such as a second tube for a resident already sampled.
	ErrConflict = errors.New("conflict")
	// ErrInvalid is returned for arguments no retry can fix.
	ErrInvalid = errors.New("invalid")
)
