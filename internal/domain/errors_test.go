package domain

import (
	"errors"
	"fmt"
	"testing"
)

// TestNotFound: each not-found error says what was not found and is an
// ErrNotFound, with ErrNotFound's text, wrapped or not.
func TestNotFound(t *testing.T) {
	t.Parallel()
	kinds := []error{ErrAreaNotFound, ErrFindingNotFound, ErrAssignmentNotFound, ErrResponseNotFound}
	for i, kind := range kinds {
		err := fmt.Errorf("thing 7: %w", kind)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("errors.Is(%v, ErrNotFound) = false, want true", err)
		}
		if got, want := err.Error(), "thing 7: not found"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		for j, other := range kinds {
			if got := errors.Is(err, other); got != (i == j) {
				t.Errorf("errors.Is(%v #%d, not-found #%d) = %v, want %v", err, i, j, got, i == j)
			}
		}
	}
	if errors.Is(ErrNotFound, ErrAreaNotFound) {
		t.Errorf("errors.Is(ErrNotFound, ErrAreaNotFound) = true, want false: a bare not-found names nothing")
	}
}
