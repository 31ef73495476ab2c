package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// VisitBatch is a batch of home-visit outcomes of one testing round, named
// by its area and number.
type VisitBatch struct {
	Area   string               `json:"area"`
	Round  int                  `json:"round"`
	Visits []store.VisitOutcome `json:"visits"`
}

// recordVisits takes the outcomes of many home visits of a round at once,
// as grid workers' phones send them, and records them in one transaction:
// 200 with what became of them (a re-sent batch is all already recorded),
// or, when one visit is bad, nothing recorded and that visit named
// (visits[i]): 400 for a bad visit, 404 for an unknown resident or visit,
// 409 for a visit recorded otherwise, a tube recorded for someone else or
// a closed round.
func (s *Server) recordVisits(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	var in VisitBatch
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(in.Area) == "":
		return badRequest("area", "area is required: the code of the round's area")
	case in.Round < 1:
		return badRequest("round", "round is required: the round's number, from 1")
	case len(in.Visits) > store.MaxVisitBatch:
		return badRequest("visits", "more than the %d visits a batch may hold: split it; nothing was recorded", store.MaxVisitBatch)
	}
	round, err := s.st.RoundByKey(r.Context(), inc, in.Area, in.Round)
	if errors.Is(err, domain.ErrNotFound) {
		return notFound("round", "incident %s has no round %d over %s", inc, in.Round, in.Area)
	}
	if err != nil {
		return err
	}
	res, err := s.st.RecordHomeVisits(r.Context(), round.ID, in.Visits)
	var ve *store.VisitError
	if errors.As(err, &ve) {
		e := &Error{Status: http.StatusConflict, Field: fmt.Sprintf("visits[%d]", ve.Index), Msg: ve.Error() + "; nothing was recorded"}
		switch {
		case errors.Is(err, domain.ErrInvalid):
			e.Status = http.StatusBadRequest
		case errors.Is(err, domain.ErrNotFound):
			e.Status = http.StatusNotFound
		}
		return e
	}
	switch {
	case errors.Is(err, domain.ErrInvalid):
		return badRequest("visits", "%v; nothing was recorded", err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
