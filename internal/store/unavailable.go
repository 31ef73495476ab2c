package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
)

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
