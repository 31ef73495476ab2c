package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/musterhq/muster/internal/domain"
)

// PostgreSQL's error codes are read here: the store turns the driver's
// errors into the domain's, so callers classify failures with errors.Is and
// never import the driver. (Open's advice on a missing database and the
// ingest's choice of a slower path after a conflict read a code of their
// own, as neither leaves the store.)

// translate returns err, when it is a driver error that means the request
// itself is wrong, as an error that is also domain.ErrInvalid: the same
// request fails the same way on every retry. Those are a data exception
// (class 22: a NUL byte, invalid UTF-8, a value too long or out of range),
// a syntax or access rule violation (class 42), or an integrity violation
// that a value caused (a missing value, a check, a reference that points
// nowhere). Unique and exclusion violations stay as they are: a concurrent
// writer causes them and a retry finds its row or picks again; so do lost
// connections, deadlocks and serialization failures. The text stays the
// driver's, and errors.As still finds the *pq.Error.
func translate(err error) error {
	var pe *pq.Error
	if err == nil || !errors.As(err, &pe) || errors.Is(err, domain.ErrInvalid) || !badInputSQLState(string(pe.Code)) {
		return err
	}
	return &driverError{err: err, kind: domain.ErrInvalid}
}

func badInputSQLState(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "22", "42":
		return true
	}
	switch code {
	case "23502", "23503", "23514":
		return true
	}
	return false
}

// driverError is a driver's error with the domain error it means.
type driverError struct {
	err  error
	kind error
}

func (e *driverError) Error() string   { return e.err.Error() }
func (e *driverError) Unwrap() []error { return []error{e.err, e.kind} }

// sqlState returns the PostgreSQL error code err carries, or "".
func sqlState(err error) pqerror.Code {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// oneBookingCode is the SQLSTATE the one_booking_per_person triggers raise
// when a supply assignment and checkpoint duty of one person would overlap.
const oneBookingCode = "23M01"

func isStaffBusy(err error) bool { return sqlState(err) == oneBookingCode }

// staffBusy marks a refused booking as ErrStaffBusy, keeping the database's
// message, which names the person and the booking in the way.
func staffBusy(err error) error {
	if isStaffBusy(err) && !errors.Is(err, domain.ErrStaffBusy) {
		return fmt.Errorf("%w: %w", domain.ErrStaffBusy, err)
	}
	return err
}

func isInsufficientPrivilege(err error) bool { return sqlState(err) == "42501" }

func isUndefinedTable(err error) bool { return sqlState(err) == "42P01" }

// pool is the connection pool. Its query methods return the domain's
// errors, so a method that queries outside a transaction needs no
// translation of its own; transactions translate in withTx.
type pool struct{ *sqlx.DB }

func (p pool) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	return translate(p.DB.GetContext(ctx, dest, query, args...))
}

func (p pool) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	return translate(p.DB.SelectContext(ctx, dest, query, args...))
}

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := p.DB.ExecContext(ctx, query, args...)
	return res, translate(err)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := p.DB.QueryContext(ctx, query, args...)
	return rows, translate(err)
}

// Unavailable reports whether err says the database could not be reached or
// dropped the connection, so the same call may succeed once PostgreSQL is
// back: refused or reset connections, timeouts, a server shutting down or
// starting up, too many connections, and the serialization failures and
// deadlocks PostgreSQL asks clients to retry. Bad input, missing rows and
// constraint violations are not: repeating them changes nothing.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code.Class() {
		case "08", // connection exception
			"53", // insufficient resources: too many connections, out of memory or disk
			"57": // operator intervention: shutdown, crash, cannot connect now
			return pe.Code != "57014" // a cancelled statement was cancelled on purpose
		case "40": // serialization failure, deadlock
			return true
		}
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
