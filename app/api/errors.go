package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/musterhq/muster/internal/input"
)

// Error is an answer other than success: its status, a message for a
// person, the request field at fault (when one is) and, for a runbook
// that does not validate, every problem found.
type Error struct {
	Status   int
	Msg      string
	Field    string
	Problems []Problem
}

func (e *Error) Error() string {
	if e.Field != "" && !strings.HasPrefix(e.Msg, e.Field) {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Problem is one problem in a runbook definition.
type Problem struct {
	Line    int    `json:"line,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// errorBody is the JSON every error answer carries.
type errorBody struct {
	Error  string    `json:"error"`
	Field  string    `json:"field,omitempty"`
	Errors []Problem `json:"errors,omitempty"`
}

func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func notFound(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf(format, args...)}
}

// writeError answers with err: an *Error as it says, anything else as a
// 500 that carries only the request's ID. The detail of a 500 (a driver's
// or Temporal's message, which may name tables, values or hosts) goes to
// the server's log under that ID, never to the caller.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	detail := ""
	if !errors.As(err, &e) {
		id := w.Header().Get(requestIDHeader)
		e = &Error{Status: http.StatusInternalServerError, Msg: fmt.Sprintf("internal error (request %s): the server's log has the detail", id)}
		detail = err.Error()
	}
	if lw, ok := w.(*loggedWriter); ok {
		lw.err = e.Msg
		if detail != "" {
			lw.err = detail
		}
	}
	writeJSON(w, e.Status, errorBody{Error: e.Msg, Field: e.Field, Errors: e.Problems})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"error\": %q}\n", "encode answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decodeJSON reads one JSON object into v. Unknown fields, values of the
// wrong type, trailing data and bodies over MaxBodyBytes are refused with
// the field named where there is one.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return bodyTooLarge()
		}
		return badRequest("", "the body holds more than one JSON value: send one object")
	}
	return checkInput(v)
}

// checkInput refuses a request whose strings break the input limits
// (lengths, NUL and control characters, invalid UTF-8), naming the field.
func checkInput(v any) error {
	var ie *input.Error
	if err := input.Struct(v); errors.As(err, &ie) {
		return badRequest(ie.Field, "%v", ie)
	} else if err != nil {
		return err
	}
	return nil
}

func jsonError(err error, v any) error {
	var (
		syntax    *json.SyntaxError
		typ       *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		fieldsMsg = "fields: " + strings.Join(jsonFields(v), ", ")
	)
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("", "the body is empty: send a JSON object (%s)", fieldsMsg)
	case errors.As(err, &tooLarge):
		return bodyTooLarge()
	case errors.As(err, &syntax):
		return badRequest("", "the body is not valid JSON (at byte %d): %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "the body is not valid JSON: it ends too early")
	case errors.As(err, &typ) && typ.Field == "":
		return badRequest("", "the body must be a JSON object, not %s", typ.Value)
	case errors.As(err, &typ):
		return badRequest(typ.Field, "%s: want %s, not %s", typ.Field, jsonType(typ.Type), typ.Value)
	}
	// encoding/json names an unknown field only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return badRequest(name, "unknown field %q (%s)", name, fieldsMsg)
	}
	return badRequest("", "the body is not a valid request: %v", err)
}

func bodyTooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)}
}

// jsonFields lists the JSON names of a request struct's fields.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + t.Kind().String()
}

// readBody reads a whole (YAML) body.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, bodyTooLarge()
	case err != nil:
		return nil, badRequest("", "read the body: %v", err)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, badRequest("", "the body is empty: send the runbook's YAML text")
	}
	return data, nil
}
