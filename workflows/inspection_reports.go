package workflows

// What an inspection takes in: inspectors' site reports (an update), the
// findings failed compliance checks open, and a FindingFollowUp workflow
// for every finding.

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

func (insp *inspection) validateReportSite(ctx workflow.Context, in ReportSiteInput) error {
	if err := limitText("site", in.Site, "inspector", in.Inspector); err != nil {
		return err
	}
	for i, f := range in.Findings {
		if err := limitText(fmt.Sprintf("findings[%d].description", i), f.Description); err != nil {
			return err
		}
	}
	s, ok := insp.sites[in.Site]
	switch {
	case strings.TrimSpace(in.Site) == "":
		return errors.New("site: name the site inspected (a sub-district or site code; `muster inspection report INCIDENT` lists them)")
	case insp.p.RoundState == "":
		return errors.New("the inspection round is still opening; try again in a moment")
	case !ok:
		return fmt.Errorf("site %q: not a site of inspection round %d of %s (%d sites; `muster inspection report %s` lists them)", in.Site, insp.p.Round, insp.p.Area, len(insp.sites), insp.in.Incident)
	case s.Reported:
		// A duplicated report is a no-op, answered by the handler.
		return nil
	case insp.p.RoundState != "open":
		return fmt.Errorf("inspection round %d is closed: site %s was not reported in time", insp.p.Round, in.Site)
	case in.Inspector != "" && in.Inspector != s.Inspector:
		return fmt.Errorf("inspector %q: site %s is assigned to %s", in.Inspector, in.Site, s.Inspector)
	}
	for i, f := range in.Findings {
		if f.Unit == "" {
			f.Unit = insp.unitOf(in.Site)
		}
		if err := domain.CheckFinding(i, f, insp.units); err != nil {
			return errors.New(strings.TrimSuffix(err.Error(), ": "+domain.ErrInvalid.Error()))
		}
	}
	return nil
}

// unitOf returns the unit responsible for a site of the round.
func (insp *inspection) unitOf(site string) string {
	for _, s := range insp.plan.Sites {
		if s.Site == site {
			return s.Unit
		}
	}
	return ""
}

func (insp *inspection) onReportSite(ctx workflow.Context, in ReportSiteInput) (ReportSiteResult, error) {
	s := insp.sites[in.Site]
	out := ReportSiteResult{Site: in.Site, Round: insp.p.Round}
	if s.Reported {
		out.Duplicate = true
		for _, id := range insp.findingIDs() {
			if f := insp.findings[id]; f.Site == in.Site && f.Source == "inspection" {
				out.Findings = append(out.Findings, id)
			}
		}
		return out, nil
	}
	insp.reports++
	defer func() { insp.reports-- }()
	// An update, its activity and its findings' child workflows.
	insp.events += 8 + 6*len(in.Findings)
	by := in.Inspector
	if by == "" {
		by = s.Inspector
	}
	var res domain.SiteReportResult
	if err := insp.sw.r.run(ctx, "report/"+in.Site, "Record the report of "+in.Site, a.ReportSite,
		activities.ReportSiteInput{Ref: insp.sw.ref(by), RoundID: insp.p.RoundID, Site: in.Site, Findings: in.Findings}, &res,
		func() string { return fmt.Sprintf("%d findings", len(res.Findings)) }); err != nil {
		return out, err
	}
	if !s.Reported {
		s.Reported, s.Findings = true, len(res.Findings)
		insp.p.Reported++
	}
	out.Duplicate = res.Duplicate
	for _, f := range res.Findings {
		out.Findings = append(out.Findings, f.ID)
		insp.follow(ctx, f)
	}
	insp.tally(ctx)
	return out, nil
}

// pickUpAutomatic follows the findings failed compliance checks opened.
func (insp *inspection) pickUpAutomatic(ctx workflow.Context) error {
	var found []domain.Finding
	if err := insp.sw.r.run(ctx, "automatic", "Look for findings of failed compliance checks", a.ClaimFindings,
		activities.ClaimFindingsInput{Incident: insp.in.Incident, Area: insp.in.Area.Path}, &found,
		func() string { return fmt.Sprintf("%d new", len(found)) }); err != nil {
		return err
	}
	for _, f := range found {
		insp.follow(ctx, f)
	}
	if len(found) > 0 {
		insp.tally(ctx)
	}
	return nil
}

// follow starts the finding's own workflow once.
func (insp *inspection) follow(ctx workflow.Context, f domain.Finding) {
	if _, ok := insp.findings[f.ID]; ok {
		return
	}
	id := FindingWorkflowID(insp.in.Incident, f.ID)
	insp.findings[f.ID] = &FindingStatus{
		ID: f.ID, WorkflowID: id, Site: f.Site, SubDistrict: f.SubDistrict, Unit: f.Unit, Category: f.Category,
		Severity: f.Severity, Inspector: f.Inspector, Source: f.Source, State: domain.FindingOpen,
	}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		// A cancelled finding withdraws itself before it ends.
		WaitForCancellation:   true,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Finding %d · %s at %s · %s · incident %s", f.ID, f.Category, f.Site, f.Severity, insp.in.Incident),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAIncident.ValueSet(insp.in.Incident), SAAreaPath.ValueSet(domain.PathPrefixes(insp.in.Area.Path)),
			SARunbook.ValueSet(insp.in.Runbook), SAStep.ValueSet(insp.in.Path+"/finding"), SAStepState.ValueSet(StateRunning),
			SALevel.ValueSet(int64(insp.in.Level)),
		),
	}
	in := FindingInput{
		Incident: insp.in.Incident, Finding: f, DeadlineHours: insp.cfg.deadline[f.Severity], RemindEveryHours: insp.cfg.remindEvery,
		TimeScale: insp.in.TimeScale, StallRetryMinutes: insp.in.StallRetryMinutes, Retry: insp.in.Retry, HistoryLimit: insp.in.HistoryLimit,
	}
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), FindingFollowUpName, in)
	if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		// Already followed (a retried report): its reports still arrive.
		workflow.GetLogger(ctx).Warn("Finding workflow not started", "finding", f.ID, "error", err)
	}
}

func (insp *inspection) findingIDs() []int64 {
	ids := make([]int64, 0, len(insp.findings))
	//workflowcheck:ignore the IDs are sorted below
	for id := range insp.findings {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
