package api

// Reading one response: its progress (GET /v1/responses/{incident}) and its
// event log (GET /v1/responses/{incident}/events).

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/workflows"
)

func (s *Server) getResponse(w http.ResponseWriter, r *http.Request) error {
	// The questions of approvals are in the incident's language unless the
	// reader asks for another.
	lang := r.URL.Query().Get("lang")
	if lang != "" && !i18n.Valid(lang) {
		return badRequest("lang", "%q is not a locale: use %s", lang, strings.Join(i18n.Locales, " or "))
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	_, _, p, err := s.progressOf(ctx, r)
	if err != nil {
		return err
	}
	if lang != "" {
		p.AskIn(lang)
	}
	writeJSON(w, http.StatusOK, s.withNotices(ctx, p))
	return nil
}

// progressOf reads the {incident} of the path and asks its response (the
// workflow id) for its progress.
func (s *Server) progressOf(ctx context.Context, r *http.Request) (inc, id string, p workflows.ResponseProgress, err error) {
	if inc, err = incident(r); err != nil {
		return "", "", p, err
	}
	if id, _, err = s.response(ctx, inc); err != nil {
		return "", "", p, err
	}
	if p, err = QueryResponse(ctx, s.tc, id); err != nil {
		return "", "", p, temporalError(ctx, err)
	}
	return inc, id, p, nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for name := range q {
		if name != "workflow" {
			return badRequest(name, "unknown query parameter %q (parameters: workflow)", name)
		}
	}
	wf := q.Get("workflow")
	if wf != "" && !strings.HasPrefix(wf, workflows.ResponseWorkflowID(inc)) {
		return badRequest("workflow", "workflow %q is not one of incident %s's (they start with %s)", wf, inc, workflows.ResponseWorkflowID(inc))
	}
	evs, err := s.st.Events(r.Context(), inc, wf)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		// A response that has just started may have no events yet.
		if _, _, err := s.response(r.Context(), inc); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status == http.StatusNotFound {
				return notFound("incident", "no events for incident %q (list responses with GET /v1/responses)", inc)
			}
			return err
		}
	}
	if evs == nil {
		evs = []domain.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
	return nil
}
