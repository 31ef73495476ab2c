package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/musterhq/muster/internal/samples"
	"github.com/musterhq/muster/internal/store"
)

// MaxSamplesBodyBytes is the largest batch of samples the API reads: a
// batch of store.DefaultMaxBatch rows is a few MiB of CSV.
const MaxSamplesBodyBytes = 32 << 20

// SampleBatch is a batch of samples sent as JSON.
type SampleBatch struct {
	// Batch is the batch's ID; empty means the sha256 of its rows.
	Batch string            `json:"batch,omitempty"`
	Rows  []store.SampleRow `json:"rows"`
}

// uploadSamples takes a batch of samples of an incident, as CSV (the
// format of `starter samples upload`) or JSON rows, and answers what
// became of each row: 200 when the batch was taken (rejected rows listed),
// 422 when rows were rejected and none was good, 400 when the batch was
// refused whole.
func (s *Server) uploadSamples(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for name := range q {
		if name != "batch" && name != "max" {
			return badRequest(name, "unknown query parameter %q (parameters: batch, max)", name)
		}
	}
	batch := q.Get("batch")
	max := store.DefaultMaxBatch
	if v := q.Get("max"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 1 {
			return badRequest("max", "max %q: want a number of rows above 0", v)
		}
	}
	data, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "the batch is larger than 32 MiB: split it"}
	case err != nil:
		return badRequest("", "read the body: %v", err)
	}

	var (
		rows   []store.SampleRow
		unread []samples.RowError
	)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded":
		// No type, or curl's default: a JSON object starts with a brace,
		// a CSV file with its header.
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
			mt = "application/json"
		} else {
			mt = "text/csv"
		}
	}
	switch mt {
	case "application/json":
		var body SampleBatch
		r.Body = io.NopCloser(bytes.NewReader(data))
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		if body.Batch != "" && batch != "" && body.Batch != batch {
			return badRequest("batch", "the query names batch %q and the body %q: give one", batch, body.Batch)
		}
		if body.Batch != "" {
			batch = body.Batch
		}
		rows = body.Rows
	case "text/csv":
		rows, unread, err = samples.Read(bytes.NewReader(data), "body", max)
		var fe *samples.FileError
		if errors.As(err, &fe) {
			return badRequest("body", "%v; nothing was recorded", err)
		}
		if err != nil {
			return err
		}
	default:
		return &Error{Status: http.StatusUnsupportedMediaType, Msg: "send the batch as text/csv (tube,resident,point,taken_at,result) or application/json ({\"rows\": [...]}), not " + mt}
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
