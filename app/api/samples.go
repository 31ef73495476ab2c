package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"unicode"

	"github.com/musterhq/muster/internal/input"

	"github.com/musterhq/muster/internal/samples"
	"github.com/musterhq/muster/internal/store"
)

// MaxSamplesBodyBytes is the largest batch of samples the API reads: a
// batch of store.DefaultMaxBatch rows is about 4 MiB of CSV.
const MaxSamplesBodyBytes = MaxBodyBytes

// SampleBatch is a batch of samples sent as JSON.
type SampleBatch struct {
	// Batch is the batch's ID; empty means the sha256 of its rows.
	Batch string            `json:"batch,omitempty"`
	Rows  []store.SampleRow `json:"rows"`
}

// uploadSamples takes a batch of samples of an incident, as CSV (the
// format of `muster samples upload`) or JSON rows, and answers what
// became of each row: 200 when the batch was taken (rejected rows listed),
// 422 when rows were rejected and none was good, 400 when the batch was
// refused whole.
func (s *Server) uploadSamples(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	batch, max, err := samplesQuery(r.URL.Query())
	if err != nil {
		return err
	}
	rows, unread, batch, err := readSamples(r, batch, max)
	if err != nil {
		return err
	}

	// A station uploads for its own sampling points only, in its own
	// district.
	if err := s.inDistrict(r, inc); err != nil {
		return err
	}
	for i, row := range rows {
		if err := inScope(r, fmt.Sprintf("rows[%d].point", i), row.Point); err != nil {
			return err
		}
	}
	var res store.IngestResult
	if len(rows) > 0 || len(unread) == 0 {
		res, err = s.st.IngestSamples(r.Context(), store.IngestBatch{ID: batch, Incident: inc, Rows: rows, Max: max})
		switch {
		case errors.Is(err, store.ErrInvalidBatch):
			return badRequest("rows", "%v; nothing was recorded", err)
		case errors.Is(err, store.ErrConcurrentBatch):
			return conflict("%v", err)
		case err != nil:
			return err
		}
	} else {
		res = store.IngestResult{BatchID: batch, Rejected: []store.RowError{}}
	}
	res = samples.Merge(res, unread)
	status := http.StatusOK
	if samples.NothingAccepted(res) {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
	return nil
}

// samplesQuery reads an upload's query: the batch ID, and the most rows a
// batch may have.
func samplesQuery(q url.Values) (batch string, max int, err error) {
	for name := range q {
		if name != "batch" && name != "max" {
			return "", 0, badRequest(name, "unknown query parameter %q (parameters: batch, max)", name)
		}
	}
	batch = q.Get("batch")
	// The server's limit holds: ?max= may only lower it.
	max = store.DefaultMaxBatch
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", 0, badRequest("max", "max %q: want a number of rows above 0", v)
		}
		max = min(n, store.DefaultMaxBatch)
	}
	if err := input.ID("batch", batch); err != nil {
		return "", 0, badRequest("batch", "%v", err)
	}
	return batch, max, nil
}

// readSamples reads an upload's body, CSV or JSON, into the rows to record
// and the CSV lines that could not be read. A JSON body may name the batch
// itself; the batch returned is the one to record under.
func readSamples(r *http.Request, batch string, max int) (rows []store.SampleRow, unread []samples.RowError, _ string, err error) {
	// The body is read as a stream, row by row, and refused at the first
	// row over the limit: a body of many tiny rows never becomes millions
	// of rows in memory.
	body := bufio.NewReaderSize(r.Body, 4096)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded":
		// No type, or curl's default: a JSON object starts with a brace,
		// a CSV file with its header.
		mt = "text/csv"
		if firstByte(body) == '{' {
			mt = "application/json"
		}
	}
	switch mt {
	case "application/json":
		var sb SampleBatch
		if err := decodeSampleBatch(body, max, &sb); err != nil {
			return nil, nil, batch, err
		}
		if sb.Batch != "" && batch != "" && sb.Batch != batch {
			return nil, nil, batch, badRequest("batch", "the query names batch %q and the body %q: give one", batch, sb.Batch)
		}
		if sb.Batch != "" {
			batch = sb.Batch
		}
		return sb.Rows, nil, batch, nil
	case "text/csv":
		rows, unread, err = samples.Read(body, "body", max)
		var fe *samples.FileError
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, nil, batch, bodyTooLarge()
		case errors.As(err, &fe):
			return nil, nil, batch, badRequest("body", "%v; nothing was recorded", err)
		case err != nil:
			return nil, nil, batch, err
		}
		return rows, unread, batch, nil
	}
	return nil, nil, batch, &Error{Status: http.StatusUnsupportedMediaType, Msg: "send the batch as text/csv (tube,resident,point,taken_at,result) or application/json ({\"rows\": [...]}), not " + mt}
}

// firstByte is the first byte of the body that is not white space, left
// unread; 0 when there is none.
func firstByte(r *bufio.Reader) byte {
	for n := 1; n <= r.Size(); n++ {
		b, err := r.Peek(n)
		if len(b) < n {
			return 0
		}
		if c := b[n-1]; !unicode.IsSpace(rune(c)) {
			return c
		}
		if err != nil {
			return 0
		}
	}
	return 0
}

// decodeSampleBatch reads {"batch": "...", "rows": [...]} as a stream of
// tokens: each row is decoded alone and counted, and the body is refused
// at the row past max, so memory holds at most max rows whatever is sent.
func decodeSampleBatch(r io.Reader, max int, sb *SampleBatch) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{', sb); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err, sb)
		}
		key, _ := tok.(string)
		if seen[key] {
			return badRequest(key, "%s is given twice", key)
		}
		seen[key] = true
		switch key {
		case "batch":
			if err := dec.Decode(&sb.Batch); err != nil {
				return jsonError(err, sb)
			}
		case "rows":
			if err := expectDelim(dec, '[', sb); err != nil {
				var e *Error
				if errors.As(err, &e) && e.Field == "" {
					e.Field = "rows"
				}
				return err
			}
			sb.Rows = []store.SampleRow{}
			for dec.More() {
				if len(sb.Rows) == max {
					return badRequest("rows", "more than the %d rows a batch may hold: split it; nothing was recorded", max)
				}
				var row store.SampleRow
				if err := dec.Decode(&row); err != nil {
					return jsonError(prefixField(err, fmt.Sprintf("rows[%d]", len(sb.Rows))), &row)
				}
				sb.Rows = append(sb.Rows, row)
			}
			if _, err := dec.Token(); err != nil {
				return jsonError(err, sb)
			}
		default:
			return badRequest(key, "unknown field %q (fields: batch, rows)", key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return jsonError(err, sb)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return bodyTooLarge()
		}
		return badRequest("", "the body holds more than one JSON value: send one object")
	}
	return checkInput(sb)
}

// expectDelim reads the next token and refuses anything but d.
func expectDelim(dec *json.Decoder, d json.Delim, v any) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err, v)
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		what := "a JSON object"
		if d == '[' {
			what = "a JSON array"
		}
		return badRequest("", "want %s here, not %v", what, tok)
	}
	return nil
}

// prefixField puts a row's place before the field a type error names.
func prefixField(err error, prefix string) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		typ.Field = prefix + "." + typ.Field
	}
	return err
}
