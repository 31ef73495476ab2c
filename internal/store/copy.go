// Bulk writes through COPY in PostgreSQL's text format.

package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// copyChunk is how much COPY text is handed to the driver at once: about
// one protocol message.
const copyChunk = 60 << 10

// copyDataStmt is lib/pq's COPY statement, which takes rows already in
// COPY's text format.
type copyDataStmt interface {
	CopyData(ctx context.Context, line string) (driver.Result, error)
}

// copyText streams n rows into table through COPY on the connection that
// holds the current transaction. appendRow appends row i in COPY's text
// format (columns separated by tabs, no newline; see appendCopyText). The
// rows are written by the driver in chunks of about one protocol message,
// without a call through database/sql per row: at thousands of rows a
// batch that call cost more than the server's own work.
func copyText(ctx context.Context, conn *sqlx.Conn, table string, columns []string, n int, appendRow func(b []byte, i int) []byte) error {
	query := "COPY " + pq.QuoteIdentifier(table) + " (" + strings.Join(columns, ", ") + ") FROM STDIN"
	return conn.Raw(func(dc any) error {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("copy: the database driver cannot prepare statements with a context")
		}
		stmt, err := prep.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		cd, ok := stmt.(copyDataStmt)
		if !ok {
			return fmt.Errorf("copy: the database driver's COPY statement (%T) takes no raw rows", stmt)
		}
		buf := make([]byte, 0, copyChunk+4<<10)
		for i := range n {
			if len(buf) > 0 {
				buf = append(buf, '\n')
			}
			buf = appendRow(buf, i)
			if len(buf) >= copyChunk || i == n-1 {
				// CopyData ends the chunk's last row with a newline.
				if _, err := cd.CopyData(ctx, string(buf)); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		// No arguments: the COPY ends and its errors, if any, come back.
		_, err = stmt.Exec(nil) //lint:ignore SA1019 lib/pq's COPY statement has no ExecContext
		return err
	})
}

// appendCopyText appends s as a column of COPY's text format: backslash,
// tab, newline and carriage return are escaped.
func appendCopyText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendCopyTime appends t as a timestamptz column of COPY's text format,
// or NULL for the zero time.
func appendCopyTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, '\\', 'N')
	}
	return t.UTC().AppendFormat(b, "2006-01-02 15:04:05.999999Z07:00")
}

// appendCopyInt appends n as an integer column of COPY's text format.
func appendCopyInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
