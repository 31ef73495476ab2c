package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/musterhq/muster/internal/domain"
)

// TestTranslate: data exceptions (class 22), syntax and access errors
// (class 42) and the integrity errors that mean bad input are
// domain.ErrInvalid; a unique violation, a lost connection, a deadlock or a
// serialization failure is not, so a retry may mend it. The driver's error
// and text stay.
func TestTranslate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code      string
		retryable bool
	}{
		{"22021", false}, // invalid byte sequence (a NUL byte)
		{"22001", false}, // value too long
		{"22P02", false}, // invalid text representation
		{"42703", false}, // undefined column
		{"42601", false}, // syntax error
		{"23502", false}, // not null
		{"23503", false}, // foreign key
		{"23514", false}, // check
		{"23505", true},  // unique: a concurrent insert, a retry finds the row
		{"40001", true},  // serialization failure
		{"40P01", true},  // deadlock
		{"08006", true},  // connection failure
		{"57P01", true},  // admin shutdown
	} {
		t.Run(c.code, func(t *testing.T) {
			in := fmt.Errorf("write: %w", &pq.Error{Code: pqerror.Code(c.code), Message: "m"})
			err := translate(in)
			if invalid := errors.Is(err, domain.ErrInvalid); invalid == c.retryable {
				t.Errorf("translate(%s) = %v, invalid %v; want retryable %v", c.code, err, invalid, c.retryable)
			}
			var pe *pq.Error
			if !errors.As(err, &pe) || string(pe.Code) != c.code || err.Error() != in.Error() {
				t.Errorf("translate(%s) = %q, want the driver's error %q kept", c.code, err, in)
			}
		})
	}
	if err := translate(nil); err != nil {
		t.Errorf("translate(nil) = %v, want nil", err)
	}
}
