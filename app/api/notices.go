package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// ResendRequest is the body of a notice resend.
type ResendRequest struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// listNotices answers an incident's notice deliveries and their counts per
// state; ?state= narrows the list to one state.
func (s *Server) listNotices(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	f := store.NoticeFilter{Incident: inc}
	for name, vs := range r.URL.Query() {
		switch name {
		case "state":
			f.State = vs[0]
			if !store.ValidDeliveryState(f.State) {
				return badRequest("state", "state %q: want pending, sent, delivered or undelivered", f.State)
			}
		case "limit":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n <= 0 || n > 10000 {
				return badRequest("limit", "limit %q: want a number from 1 to 10000", vs[0])
			}
			f.Limit = n
		default:
			return badRequest(name, "unknown query parameter %q (parameters: state, limit)", name)
		}
	}
	ds, err := s.st.ListDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	counts, err := s.st.NoticeCounts(r.Context(), inc)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []store.NoticeDelivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": inc, "counts": counts, "deliveries": ds})
	return nil
}

// resendNotice puts an undelivered delivery back in the queue with its
// idempotency key unchanged.
func (s *Server) resendNotice(w http.ResponseWriter, r *http.Request) error {
	id, req, err := withBody[ResendRequest](r, idParam)
	if err != nil {
		return err
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	d, err := s.st.ResendDelivery(r.Context(), id, who, req.Reason)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return notFound("id", "no notice delivery %d", id)
	case errors.Is(err, store.ErrNotResendable):
		return conflict("%v", err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// ProgressWithNotices is a response's progress tree with its notices per
// delivery state: an undelivered notice is a stalled step of its response.
type ProgressWithNotices struct {
	workflows.ResponseProgress
	Notices map[string]int `json:",omitempty"`
}

// withNotices adds the response's notice counts to its progress; when the
// store cannot answer, the progress goes out without them.
func (s *Server) withNotices(ctx context.Context, p workflows.ResponseProgress) ProgressWithNotices {
	c, err := s.st.NoticeCounts(ctx, p.Incident)
	if err != nil {
		s.log.Warn("Notice counts", "incident", p.Incident, "error", err)
		c = nil
	}
	return ProgressWithNotices{ResponseProgress: p, Notices: c}
}
