package api

import (
	"context"
	"net/http"

	"go.temporal.io/sdk/client"
)

// Health is the answer of /healthz. The reasons of a failure go to the
// server's log, not to the unauthenticated caller.
type Health struct {
	Status   string `json:"status"`
	Database string `json:"database"`
	Temporal string `json:"temporal"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	h := Health{Status: "ok", Database: "ok", Temporal: "ok"}
	status := http.StatusOK
	dctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := s.st.Ping(dctx); err != nil {
		s.log.Warn("Health: database unavailable", "error", err)
		h.Status, h.Database, status = "unavailable", "unavailable", http.StatusServiceUnavailable
	}
	tctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if _, err := s.tc.CheckHealth(tctx, &client.CheckHealthRequest{}); err != nil {
		s.log.Warn("Health: Temporal unavailable", "error", err)
		h.Status, h.Temporal, status = "unavailable", "unavailable", http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, h)
	return nil
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDocument)
	return nil
}
