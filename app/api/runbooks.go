package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// RunbookSummary is a published runbook in a list: its latest version.
type RunbookSummary struct {
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	Versions    int       `json:"versions"`
	Title       string    `json:"title"`
	Digest      string    `json:"digest"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

// RunbookDetail is one published version: its record, its YAML text as
// published, and the definition as the engine reads it (params completed).
type RunbookDetail struct {
	RunbookSummary
	Source     string              `json:"source"`
	Definition *runbook.Definition `json:"definition,omitempty"`
	// Problems is set when the version no longer validates against the
	// registered step kinds.
	Problems []Problem `json:"errors,omitempty"`
}

// ValidateResult is the verdict on a runbook text.
type ValidateResult struct {
	Valid      bool                `json:"valid"`
	Name       string              `json:"name,omitempty"`
	Title      string              `json:"title,omitempty"`
	Steps      int                 `json:"steps,omitempty"`
	Kinds      []string            `json:"kinds,omitempty"`
	Definition *runbook.Definition `json:"definition,omitempty"`
	Errors     []Problem           `json:"errors,omitempty"`
}

// requestSource names the request body in runbook problems.
const requestSource = "body"

func summaryOf(r store.RunbookVersion) RunbookSummary {
	return RunbookSummary{r.Name, r.Version, r.Versions, r.Title, r.Digest, r.PublishedAt, r.PublishedBy}
}

// problems lists a definition's problems, or reports false when err is not
// about the definition.
func problems(err error) ([]Problem, bool) {
	var errs runbook.Errors
	if !errors.As(err, &errs) {
		return nil, false
	}
	out := make([]Problem, len(errs))
	for i, e := range errs {
		out[i] = Problem{Line: e.Line, Path: e.Path, Message: e.Msg}
	}
	return out, true
}

func (s *Server) listRunbooks(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.st.Runbooks(r.Context())
	if err != nil {
		return err
	}
	out := make([]RunbookSummary, len(rs))
	for i, rb := range rs {
		out[i] = summaryOf(rb)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runbooks": out})
	return nil
}

func (s *Server) getRunbook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !runbook.IsCode(name) {
		return badRequest("name", "runbook %q: a runbook name is lower-case letters, digits and '-'", name)
	}
	version := 0
	for k, v := range r.URL.Query() {
		if k != "version" {
			return badRequest(k, "unknown query parameter %q (parameters: version)", k)
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 {
			return badRequest("version", "version %q: versions count from 1", v[0])
		}
		version = n
	}
	rb, err := s.st.Runbook(r.Context(), name, version)
	if errors.Is(err, domain.ErrNotFound) {
		field := "name"
		if version != 0 {
			field = "version"
		}
		return notFound(field, "%v (GET /v1/runbooks lists the published runbooks)", err)
	}
	if err != nil {
		return err
	}
	out := RunbookDetail{RunbookSummary: summaryOf(rb), Source: rb.Source}
	d, err := runbook.Parse(fmt.Sprintf("%s@%d", rb.Name, rb.Version), []byte(rb.Source), workflows.Kinds)
	if ps, ok := problems(err); ok {
		out.Problems = ps
	} else if err != nil {
		return err
	}
	out.Definition = d
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) validateRunbook(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) > 0 {
		return badRequest("", "POST /v1/runbooks/validate takes no query parameters")
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	d, err := runbook.Parse(requestSource, data, workflows.Kinds)
	if ps, ok := problems(err); ok {
		writeJSON(w, http.StatusOK, ValidateResult{Valid: false, Errors: ps})
		return nil
	}
	if err != nil {
		return err
	}
	steps := 0
	d.Walk(func(string, *runbook.Step) { steps++ })
	writeJSON(w, http.StatusOK, ValidateResult{Valid: true, Name: d.Name, Title: d.Title, Steps: steps, Kinds: d.Kinds(), Definition: d})
	return nil
}

func (s *Server) publishRunbook(w http.ResponseWriter, r *http.Request) error {
	// The publisher is the credential; ?by= may only name it.
	publisher, err := actor(r, "by", "")
	if err != nil {
		return err
	}
	for k, v := range r.URL.Query() {
		if k != "by" {
			return badRequest(k, "unknown query parameter %q (parameters: by)", k)
		}
		if publisher, err = actor(r, "by", v[0]); err != nil {
			return err
		}
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	p, err := service.PublishRunbook(r.Context(), s.st, requestSource, data, publisher)
	if errors.Is(err, service.ErrReserved) {
		return &Error{Status: http.StatusForbidden, Field: "name", Msg: err.Error() + "; nothing was published"}
	}
	if ps, ok := problems(err); ok {
		msg := "the runbook does not validate; nothing was published"
		if len(ps) > 1 {
			msg = fmt.Sprintf("%d problems; nothing was published", len(ps))
		}
		return &Error{Status: http.StatusUnprocessableEntity, Msg: msg, Problems: ps}
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if p.Created {
		status = http.StatusCreated
		w.Header().Set("Location", fmt.Sprintf("/v1/runbooks/%s?version=%d", p.Name, p.Version))
	}
	writeJSON(w, status, p)
	return nil
}
