// Package samples reads batches of samples as sampling stations and labs
// send them: a CSV file with a header line and one sample a line. A line
// that cannot be read as a sample is reported with its line number and
// reason while the other lines are kept; a file that is not a batch at all
// (a missing column, a line with the wrong number of fields, more rows than
// a batch may hold) is refused whole. The store then checks every row
// against the registry and the open rounds (store.IngestSamples).
package samples

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/musterhq/muster/internal/input"
	"github.com/musterhq/muster/internal/store"
)

// RowError is a line refused, with its line number and reason.
type RowError = store.RowError

// Columns are the columns of a samples file, in the usual order. All but
// result are required; columns may come in any order.
var Columns = []string{"tube", "resident", "point", "taken_at", "result"}

// required are the columns a file must have.
var required = []string{"tube", "resident", "point", "taken_at"}

// LocalLayouts are the layouts accepted for a time written without a zone,
// read in the reader's location.
var LocalLayouts = []string{"2006-01-02 15:04", "2006-01-02 15:04:05"}

// FileError is a problem with the whole file: nothing of it is sent.
type FileError struct {
	Source string
	// Line is the line at fault, or 0 for the file as a whole.
	Line int
	Msg  string
	// Err is the reading error behind Msg, when there is one.
	Err error
}

func (e *FileError) Unwrap() error { return e.Err }

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Source, e.Msg)
}

// Read reads a samples file. Times without a zone are read in the local
// time zone (TZ); see ReadIn. max bounds the rows (store.DefaultMaxBatch
// when 0 or less). It returns the rows that read well, the lines that did
// not, and a *FileError when the file is refused whole.
func Read(r io.Reader, source string, max int) ([]store.SampleRow, []RowError, error) {
	return ReadIn(r, source, max, time.Local)
}

// ReadIn is Read with the location of times written without a zone.
func ReadIn(r io.Reader, source string, max int, loc *time.Location) ([]store.SampleRow, []RowError, error) {
	if max <= 0 {
		max = store.DefaultMaxBatch
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	col, err := readHeader(cr, source)
	if err != nil {
		return nil, nil, err
	}
	var (
		rows []store.SampleRow
		bad  []RowError
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, csvError(source, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+len(bad) == max {
			return nil, nil, &FileError{Source: source, Msg: fmt.Sprintf("more than %d rows: a batch holds at most %d, split the file", max, max)}
		}
		row, reason := col.row(rec, line, loc)
		if reason != "" {
			bad = append(bad, RowError{Line: line, Tube: row.Tube, Reason: reason})
			continue
		}
		rows = append(rows, row)
	}
	if len(rows)+len(bad) == 0 {
		return nil, nil, &FileError{Source: source, Msg: "the file has a header but no samples"}
	}
	return rows, bad, nil
}

// columns maps the name of each column of a file to its place in a line.
type columns map[string]int

// readHeader reads the header line: known columns, each once, the required
// ones all there.
func readHeader(cr *csv.Reader, source string) (columns, error) {
	fail := func(line int, format string, args ...any) (columns, error) {
		return nil, &FileError{Source: source, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return fail(0, "the file is empty: it needs a header line (%s)", strings.Join(Columns, ","))
	case err != nil:
		return nil, csvError(source, err)
	}
	col := columns{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch _, dup := col[name]; {
		case !slices.Contains(Columns, name):
			return fail(1, "unknown column %q (columns: %s)", strings.TrimSpace(h), strings.Join(Columns, ", "))
		case dup:
			return fail(1, "column %q is given twice", name)
		}
		col[name] = i
	}
	for _, c := range required {
		if _, ok := col[c]; !ok {
			return fail(1, "the header has no %q column (columns: %s; result may be left out)", c, strings.Join(Columns, ", "))
		}
	}
	return col, nil
}

// get is the trimmed cell of a column, or "" when the file lacks it.
func (col columns) get(rec []string, name string) string {
	if i, ok := col[name]; ok {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

// row reads the sample on one line, or says why the line is refused.
func (col columns) row(rec []string, line int, loc *time.Location) (row store.SampleRow, reason string) {
	row = store.SampleRow{Line: line, Tube: col.get(rec, "tube"), Resident: col.get(rec, "resident"), Point: col.get(rec, "point"),
		Result: strings.ToLower(col.get(rec, "result"))}
	at := col.get(rec, "taken_at")
	switch {
	case badCell(rec, col, &reason):
	case row.Tube == "":
		reason = "tube is empty"
	case row.Resident == "":
		reason = "resident is empty"
	case at == "":
		reason = "taken_at is empty"
	case row.Result != "" && row.Result != "negative" && row.Result != "positive":
		reason = fmt.Sprintf("result %q is not negative, positive or empty", col.get(rec, "result"))
	default:
		var err error
		row.TakenAt, err = parseTime(at, loc)
		if err != nil {
			reason = fmt.Sprintf("taken_at %q is not a time: write 2022-04-03T17:05:00+08:00 (RFC 3339) or 2022-04-03 17:05 (local time)", at)
		}
	}
	return row, reason
}

// badCell reports whether a cell of the line breaks the input limits
// (length, NUL and control characters, invalid UTF-8), with the reason
// naming its column. Such a line is refused; the others are kept.
func badCell(rec []string, col columns, reason *string) bool {
	for _, name := range Columns {
		i, ok := col[name]
		if !ok {
			continue
		}
		if err := input.ID(name, rec[i]); err != nil {
			*reason = err.Error()
			return true
		}
	}
	return false
}

// parseTime reads a time in RFC 3339, or in one of LocalLayouts in loc.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var err error
	for _, layout := range LocalLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// csvError turns a CSV reading error into a FileError naming the line.
func csvError(source string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields: every line needs one per column of the header"
		}
		return &FileError{Source: source, Line: pe.StartLine, Msg: msg}
	}
	return &FileError{Source: source, Msg: err.Error(), Err: err}
}

// Merge returns a batch's result with the lines that could not be read
// added to its rejections, in line order: what a station is told.
func Merge(res store.IngestResult, unread []RowError) store.IngestResult {
	if len(unread) == 0 {
		return res
	}
	res.Rows += len(unread)
	res.Rejected = append(append([]RowError{}, res.Rejected...), unread...)
	slices.SortStableFunc(res.Rejected, func(a, b RowError) int { return a.Line - b.Line })
	return res
}

// NothingAccepted reports whether a batch brought nothing good — no row
// accepted, already recorded or bringing a result — while rows were
// rejected: the station must fix the file.
func NothingAccepted(res store.IngestResult) bool {
	return res.Accepted+res.AlreadyRecorded+res.ResultsUpdated == 0 && len(res.Rejected) > 0
}
