package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// ReportSiteRequest is the body of a site report.
type ReportSiteRequest struct {
	Site      string              `json:"site"`
	Inspector string              `json:"inspector,omitempty"`
	Findings  []domain.NewFinding `json:"findings,omitempty"`
}

// RectifyRequest is the body of a rectification report.
type RectifyRequest struct {
	By   string `json:"by,omitempty"`
	Note string `json:"note,omitempty"`
}

// ReinspectRequest is the body of a re-inspection.
type ReinspectRequest struct {
	By     string `json:"by"`
	Passed *bool  `json:"passed"`
	Note   string `json:"note,omitempty"`
}

// ReportSite sends an inspector's report of one site to the incident's
// inspection step. A refusal names the field at fault.
func ReportSite(ctx context.Context, c client.Client, st *store.Store, incident string, in workflows.ReportSiteInput) (workflows.ReportSiteResult, error) {
	var res workflows.ReportSiteResult
	if strings.TrimSpace(in.Site) == "" {
		return res, badRequest("site", "site is required: the code of the sub-district or site inspected")
	}
	id, err := st.InspectionWorkflow(ctx, incident)
	if errors.Is(err, domain.ErrNotFound) {
		return res, notFound("incident", "incident %q has no inspection (its runbook needs an inspection-follow-up step, e.g. discipline-inspection)", incident)
	}
	if err != nil {
		return res, err
	}
	err = Update(ctx, c, id, workflows.UpdateReportSite, in, &res)
	var refused *RefusedError
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &refused):
		return res, &Error{Status: http.StatusConflict, Field: fieldOf(refused.Msg), Msg: refused.Msg}
	case errors.As(err, &nf) || isCompleted(err):
		return res, conflict("the inspection of incident %s has ended (%s): no more site reports", incident, id)
	case err != nil:
		return res, temporalError(ctx, err)
	}
	return res, nil
}

// fieldOf picks the field a workflow's refusal names first: "site",
// "inspector", "findings[0].unit", "by".
func fieldOf(msg string) string {
	head, _, _ := strings.Cut(msg, " ")
	head = strings.TrimSuffix(head, ":")
	for _, f := range []string{"site", "inspector", "by"} {
		if head == f {
			return f
		}
	}
	if strings.HasPrefix(head, "findings[") {
		return head
	}
	return ""
}

func isCompleted(err error) bool {
	return err != nil && strings.Contains(err.Error(), "workflow execution already completed")
}

// finding reads a finding of an incident: 404 when there is none.
func finding(ctx context.Context, st *store.Store, incident string, id int64) (domain.Finding, error) {
	f, err := st.FindingByID(ctx, id)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && f.Incident != incident && f.FollowedBy != incident) {
		return f, notFound("finding", "incident %s has no finding %d (`muster inspection report %s` lists them)", incident, id, incident)
	}
	return f, err
}

// closedError says why a finding takes no more work.
func closedError(f domain.Finding, what string) error {
	if f.State == domain.FindingClosed {
		return conflict("finding %d is closed (rectified and re-inspected): nothing to %s", f.ID, what)
	}
	return conflict("finding %d is %s: nothing to %s", f.ID, f.State, what)
}

// Rectify reports a finding rectified. A closed finding is refused; a
// second report while it waits for re-inspection changes nothing.
func Rectify(ctx context.Context, c client.Client, st *store.Store, incident string, id int64, in workflows.RectifyInput) (workflows.FindingStatus, error) {
	return findingUpdate(ctx, c, st, incident, id, workflows.UpdateRectify, "rectify", in)
}

// Reinspect records the assigned inspector's re-inspection of a rectified
// finding.
func Reinspect(ctx context.Context, c client.Client, st *store.Store, incident string, id int64, in workflows.ReinspectInput) (workflows.FindingStatus, error) {
	if strings.TrimSpace(in.By) == "" {
		return workflows.FindingStatus{}, badRequest("by", "by is required: the inspector re-inspecting (only the assigned inspector may)")
	}
	return findingUpdate(ctx, c, st, incident, id, workflows.UpdateReinspect, "re-inspect", in)
}

func findingUpdate(ctx context.Context, c client.Client, st *store.Store, incident string, id int64, update, what string, arg any) (workflows.FindingStatus, error) {
	var res workflows.FindingStatus
	f, err := finding(ctx, st, incident, id)
	if err != nil {
		return res, err
	}
	if f.State == domain.FindingClosed || f.State == domain.FindingWithdrawn {
		return res, closedError(f, what)
	}
	err = Update(ctx, c, workflows.FindingWorkflowID(f.Follower(), id), update, arg, &res)
	var refused *RefusedError
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &refused):
		return res, &Error{Status: http.StatusConflict, Field: fieldOf(refused.Msg), Msg: refused.Msg}
	case errors.As(err, &nf) || isCompleted(err):
		// The workflow ended between the read and the update.
		if f, ferr := finding(ctx, st, incident, id); ferr == nil {
			return res, closedError(f, what)
		}
		return res, conflict("finding %d is no longer followed: nothing to %s", id, what)
	case err != nil:
		return res, temporalError(ctx, err)
	}
	return res, nil
}

func (s *Server) inspectionReport(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	rep, err := s.st.InspectionReport(r.Context(), inc)
	if err != nil {
		return err
	}
	if rep.Rounds == 0 && rep.Total.Found == 0 {
		return notFound("incident", "incident %q has no inspection", inc)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) reportSite(w http.ResponseWriter, r *http.Request) error {
	inc, req, err := withBody[ReportSiteRequest](r, incident)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), updateTimeout)
	defer cancel()
	inspector, err := actor(r, "inspector", req.Inspector)
	if err != nil {
		return err
	}
	if err := s.inDistrict(r, inc); err != nil {
		return err
	}
	if err := inScope(r, "site", req.Site); err != nil {
		return err
	}
	res, err := ReportSite(ctx, s.tc, s.st, inc, workflows.ReportSiteInput{Site: req.Site, Inspector: inspector, Findings: req.Findings})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) rectify(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	id, req, err := withBody[RectifyRequest](r, findingID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), updateTimeout)
	defer cancel()
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	res, err := Rectify(ctx, s.tc, s.st, inc, id, workflows.RectifyInput{By: who, Note: req.Note})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) reinspect(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	id, req, err := withBody[ReinspectRequest](r, findingID)
	if err != nil {
		return err
	}
	if req.Passed == nil {
		return badRequest("passed", "passed is required: true closes the finding, false reopens it")
	}
	ctx, cancel := context.WithTimeout(r.Context(), updateTimeout)
	defer cancel()
	// Only the assigned inspector may re-inspect: the workflow compares
	// the credential's name with the assignment, so claiming another
	// inspector's name gets a 403 here.
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	res, err := Reinspect(ctx, s.tc, s.st, inc, id, workflows.ReinspectInput{By: who, Passed: *req.Passed, Note: req.Note})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
