package api

// The field's side of staff supply (docs/supply.md): acknowledge an
// assignment, sign up as a volunteer, report stock, confirm a delivery,
// issue and verify passes.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// AckRequest acknowledges an assignment.
type AckRequest struct {
	// Staff is the staff code of the person acknowledging.
	Staff string `json:"staff"`
}

// StockReport is a batch of stock levels.
type StockReport struct {
	Rows []store.StockRow `json:"rows"`
	By   string           `json:"by,omitempty"`
}

// DeliveryRequest confirms a delivery.
type DeliveryRequest struct {
	Tonnes float64 `json:"tonnes"`
	By     string  `json:"by,omitempty"`
}

// Acknowledge records that a person acknowledged their assignment, in the
// database, and tells the staff-supply step that made it by a signal, so
// its counts follow at once (see workflows.SignalAcknowledged). Someone
// else's, an unknown, a lapsed or an ended assignment is refused.
func Acknowledge(ctx context.Context, st *store.Store, tc client.Client, id int64, staff string) (domain.Assignment, error) {
	staff = strings.TrimSpace(staff)
	if staff == "" {
		return domain.Assignment{}, fmt.Errorf("staff: give your staff code: %w", domain.ErrInvalid)
	}
	as, err := st.AssignmentByID(ctx, id)
	if err != nil {
		return as, err
	}
	if as.Staff != staff {
		return as, fmt.Errorf("assignment %d is not %s's: only the person assigned can acknowledge it: %w", id, staff, domain.ErrConflict)
	}
	if as.State == "acknowledged" {
		return as, nil
	}
	// The record comes first: it is what the step's reminders and
	// reassignments read, and it stands whether or not the step still runs.
	out, err := st.Acknowledge(ctx, id, staff, time.Now())
	if err != nil {
		return out, err
	}
	// The running step's counts follow at once. When the step has ended, or
	// Temporal cannot be reached, the record stands and the step's next
	// check counts it.
	_ = tc.SignalWorkflow(ctx, as.Step, "", workflows.SignalAcknowledged, workflows.AcknowledgeInput{Assignment: id, Staff: staff})
	return out, nil
}

// storeError turns a store error into the API's answer: bad input is a 400
// naming the field its message starts with, an unknown record a 404, a
// contradiction a 409.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, suffix := range []string{": " + domain.ErrInvalid.Error(), ": " + domain.ErrNotFound.Error(), ": " + domain.ErrConflict.Error()} {
		msg = strings.TrimSuffix(msg, suffix)
	}
	field := ""
	if f, _, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(f, " ") {
		field = f
	}
	switch {
	case errors.Is(err, domain.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Field: field, Msg: msg}
	case errors.Is(err, domain.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Field: field, Msg: msg}
	case errors.Is(err, domain.ErrConflict):
		return &Error{Status: http.StatusConflict, Msg: msg}
	}
	return err
}

func (s *Server) ackAssignment(w http.ResponseWriter, r *http.Request) error {
	id, req, err := withBody[AckRequest](r, idParam)
	if err != nil {
		return err
	}
	// A field credential is a person's: its name is their staff code.
	staff, err := actor(r, "staff", req.Staff)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), updateTimeout)
	defer cancel()
	as, err := Acknowledge(ctx, s.st, s.tc, id, staff)
	if err != nil {
		return temporalError(ctx, storeError(err))
	}
	writeJSON(w, http.StatusOK, as)
	return nil
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	as, err := s.st.Assignments(r.Context(), inc, r.URL.Query().Get("staff"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"assignments": as})
	return nil
}

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) error {
	inc, u, err := withBody[store.SignUp](r, incident)
	if err != nil {
		return err
	}
	if err := sameIncident(inc, &u.Incident); err != nil {
		return err
	}
	res, err := s.st.SignUpVolunteer(r.Context(), u, time.Now())
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) reportStock(w http.ResponseWriter, r *http.Request) error {
	var rep StockReport
	if err := decodeJSON(r, &rep); err != nil {
		return err
	}
	who, err := actor(r, "by", rep.By)
	if err != nil {
		return err
	}
	n, err := s.st.ReportStock(r.Context(), district(r), rep.Rows, who)
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, map[string]int{"recorded": n})
	return nil
}

func (s *Server) stock(w http.ResponseWriter, r *http.Request) error {
	area := r.PathValue("area")
	rows, err := s.st.Stock(r.Context(), district(r), area)
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid) {
		return areaError("area", area, err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"stock": rows})
	return nil
}

func (s *Server) shipments(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	open := false
	if v := r.URL.Query().Get("open"); v != "" {
		if open, err = strconv.ParseBool(v); err != nil {
			return badRequest("open", "open %q: want true or false", v)
		}
	}
	sh, err := s.st.Shipments(r.Context(), inc, open)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"shipments": sh})
	return nil
}

func (s *Server) confirmDelivery(w http.ResponseWriter, r *http.Request) error {
	id, req, err := withBody[DeliveryRequest](r, idParam)
	if err != nil {
		return err
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	sh, err := s.st.ConfirmDelivery(r.Context(), store.Delivery{Shipment: id, Tonnes: req.Tonnes, By: who}, time.Now())
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, sh)
	return nil
}

func (s *Server) issuePass(w http.ResponseWriter, r *http.Request) error {
	inc, v, err := withBody[store.VehiclePass](r, incident)
	if err != nil {
		return err
	}
	if err := sameIncident(inc, &v.Incident); err != nil {
		return err
	}
	p, err := s.st.IssueVehiclePass(r.Context(), v)
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) verifyPass(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	at := time.Now()
	if v := q.Get("at"); v != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, v); err != nil {
			return badRequest("at", "at %q: want an RFC 3339 time, e.g. 2022-04-03T18:00:00+08:00", v)
		}
	}
	c, err := s.st.VerifyPass(r.Context(), r.PathValue("code"), at, q.Get("area"))
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
