package activities

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/store"
)

// TestClassifyStaffBusy: a booking lost to another response is retried,
// never parked as bad input.
func TestClassifyStaffBusy(t *testing.T) {
	t.Parallel()
	err := classify(fmt.Errorf("assign staff for wf: %w", fmt.Errorf("%w: staff solo is already booked", store.ErrStaffBusy)))
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
