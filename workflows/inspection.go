package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
)

// The inspection-follow-up step kind: InspectionFollowUpStep runs the
// rounds, and a FindingFollowUp follows each finding. Its spec is
// inspectionKind, below.
const KindInspection = "inspection-follow-up"

var inspectionFollowUpKind = kind{spec: inspectionKind, name: InspectionStepName, holds: true, registerAll: registerInspection}

// Names of the inspection step's workflows, updates and signals.
const (
	InspectionStepName = "InspectionFollowUpStep"
	InspectionTickName = "InspectionTick"
	UpdateReportSite   = "report-site"
	// SignalNextRound asks the inspection step for its next round; the
	// schedule's tick sends it.
	SignalNextRound = "next-round"
)

// Muster's own metrics of the inspection follow-up, emitted through
// workflow.GetMetricsHandler (silent during replay) and exported with the
// SDK's metrics by a worker that serves them.
const (
	// MetricFindingsOpen is how many findings of an incident's inspection
	// are not yet closed, by incident.
	MetricFindingsOpen = "muster_findings_open"
	// MetricFindingsOverdue is how many of them are past their deadline.
	MetricFindingsOverdue = "muster_findings_overdue"
	// MetricInspectionTalks counts talks with the people responsible, by
	// reason (overdue, repeat).
	MetricInspectionTalks = "muster_inspection_talks"
)

// InspectionScheduleID is the ID of the schedule of an inspection step's
// rounds, derived from the step's workflow ID (and so from the incident).
func InspectionScheduleID(stepWorkflowID string) string {
	return strings.ReplaceAll(stepWorkflowID, "/", "-") + "-rounds"
}

// ReportSiteInput is an inspector's report of one site: findings, or none.
type ReportSiteInput struct {
	Site string
	// Inspector is who inspected; empty means the site's assigned inspector.
	Inspector string
	Findings  []domain.NewFinding
}

// ReportSiteResult is what a site report recorded.
type ReportSiteResult struct {
	Site  string
	Round int
	// Findings are the IDs of the site's findings, each followed by the
	// workflow FindingWorkflowID names.
	Findings []int64
	// Duplicate says the site was reported before; nothing was written.
	Duplicate bool
}

// InspectionTickInput is what the schedule starts on each firing.
type InspectionTickInput struct {
	WorkflowID string
}

// SiteStatus is one site of the current round.
type SiteStatus struct {
	Site        string
	SubDistrict string
	Kind        string
	Inspector   string
	Reported    bool
	Findings    int
}

// InspectionProgress is the answer to an inspection step's progress query:
// the current round, found / rectified / overdue / escalated per
// sub-district and unit, problems shared by several sites, and the open list.
type InspectionProgress struct {
	Incident   string
	Area       string
	Round      int
	RoundID    int64
	RoundState string
	// RoundDeadline is when the round closes with whatever is reported.
	RoundDeadline time.Time
	Sites         []SiteStatus
	Reported      int
	Total         domain.Tally
	BySubDistrict []domain.Tally
	ByUnit        []domain.Tally
	Groups        []domain.FindingGroup
	Open          []FindingStatus
	// Schedule is the ID of the schedule starting daily rounds, if any.
	Schedule string `json:",omitempty"`
	Every    string `json:",omitempty"`
	// Holding says the first round is settled and the step holds, starting
	// rounds on its schedule, until the response is lifted.
	Holding bool `json:",omitempty"`
	// Unreported are the sites the last closed round closed without: they
	// were escalated to the command center and go to another inspector, and
	// the step reads overdue until a round has them reported.
	Unreported []string `json:",omitempty"`
	State      string
	TimeScale  float64
}

// InspectionState is what an inspection step carries across
// continue-as-new: its progress, the current round's plan and where every
// finding stands. Finding workflows go on meanwhile and report to the new run.
type InspectionState struct {
	Progress  InspectionProgress
	Plan      domain.InspectionPlan
	Findings  []FindingStatus
	Ready     bool
	NextRound bool `json:",omitempty"`
}

type inspection struct {
	sw       *stepWorkflow
	in       StepInput
	p        InspectionProgress
	plan     domain.InspectionPlan
	sites    map[string]*SiteStatus
	findings map[int64]*FindingStatus
	units    []string
	// nextRound, lift and ready are set by signals and read by the loop.
	nextRound bool
	lift      *LiftInput
	ready     bool
	// reports counts site reports being recorded, so a round does not close
	// under one.
	reports int
	saState string
	cfg     inspectionConfig
	// events estimates the history this run has added, so the decision to
	// continue as new does not depend on how the server reports its length.
	events int
}

type inspectionConfig struct {
	siteKinds   []string
	departments []domain.Unit
	inspectors  []string
	roundFor    time.Duration
	deadline    map[string]float64
	remindEvery float64
	every       time.Duration
	checkEvery  time.Duration
}

func inspectionParams(in StepInput) inspectionConfig {
	c := inspectionConfig{
		roundFor:    paramDuration(in.Params, "round_deadline"),
		remindEvery: paramDuration(in.Params, "remind_every").Hours(),
		every:       paramDuration(in.Params, "every"),
		checkEvery:  paramDuration(in.Params, "check_every"),
		deadline: map[string]float64{
			"high":   paramDuration(in.Params, "rectify_high").Hours(),
			"medium": paramDuration(in.Params, "rectify_medium").Hours(),
			"low":    paramDuration(in.Params, "rectify_low").Hours(),
		},
	}
	for _, k := range strings.Split(paramString(in.Params, "site_kinds"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.siteKinds = append(c.siteKinds, k)
		}
	}
	// departments: code=Name;code=Name
	for _, d := range strings.Split(paramString(in.Params, "departments"), ";") {
		code, name, _ := strings.Cut(strings.TrimSpace(d), "=")
		if code = strings.TrimSpace(code); code != "" {
			if name = strings.TrimSpace(name); name == "" {
				name = code
			}
			c.departments = append(c.departments, domain.Unit{Code: code, Name: name, Kind: "department", Person: "head of " + name})
		}
	}
	n := max(paramInt(in.Params, "inspectors"), 1)
	for i := range n {
		c.inspectors = append(c.inspectors, fmt.Sprintf("inspector-%02d", i+1))
	}
	if c.roundFor <= 0 {
		c.roundFor = 12 * time.Hour
	}
	if c.checkEvery <= 0 {
		c.checkEvery = time.Hour
	}
	//workflowcheck:ignore each key is set on its own, so the order does not matter
	for sev, def := range map[string]float64{"high": 6, "medium": 24, "low": 72} {
		if c.deadline[sev] <= 0 {
			c.deadline[sev] = def
		}
	}
	if c.remindEvery <= 0 {
		c.remindEvery = 2
	}
	return c
}

// InspectionFollowUpStep runs the discipline office's inspections over an
// area: a round over its sub-districts and the sites the runbook names, each
// with an assigned inspector; inspectors report each site (an update) with
// its findings or none; every finding is followed by its own
// FindingFollowUp workflow until it is rectified; findings failed compliance
// checks open are picked up too. With `every`, a Temporal Schedule starts a
// round each period until the response is lifted. Without it, the step is
// done once the round has closed and every finding is closed.
func InspectionFollowUpStep(ctx workflow.Context, in StepInput) (StepResult, error) {
	insp := &inspection{sw: newStepWorkflow(ctx, in), in: in, sites: map[string]*SiteStatus{}, findings: map[int64]*FindingStatus{}}
	insp.sw.details = insp.render
	res, err := insp.run(ctx)
	if workflow.IsContinueAsNewError(err) {
		// The new run goes on with the schedule, the findings and the
		// response's step: nothing ends here.
		return res, err
	}
	if err != nil {
		// Cancelled (the response skipped or aborted the step) or failed:
		// the schedule goes, and open findings are withdrawn when
		// cancelled, out of the cancellation's reach.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		insp.end(dctx, ctx.Err() != nil)
	}
	return insp.sw.finish(ctx, res, err)
}

// InspectionTick is what the round schedule starts: it asks the inspection
// step for its next round.
func InspectionTick(ctx workflow.Context, in InspectionTickInput) error {
	return workflow.SignalExternalWorkflow(ctx, in.WorkflowID, "", SignalNextRound, nil).Get(ctx, nil)
}

// inspectionKind is the inspection-follow-up step kind's registration.
var inspectionKind = runbook.Kind{
	Name: KindInspection,
	Doc:  "Inspect the area's sub-districts and the sites the runbook names (InspectionFollowUpStep) and follow every finding to its rectification: each finding is its own workflow (assigned → rectification deadline by severity → reminders → rectified → re-inspected by the assigned inspector → closed, or reopened); overdue and repeated findings call in the person responsible for a talk; failed compliance checks open findings too. Without `every` the step is done when the round has closed and every finding is closed; with it a Temporal Schedule starts a round each period and the step holds until the response is lifted.",
	Params: map[string]runbook.Param{
		"site_kinds":     {Type: runbook.TypeString, Default: "key-site", Doc: "kinds of site inspected besides the sub-districts, comma-separated (key-site, sampling-point, market, …; checkpoint: the checkpoints open in the area, as compound/gate)"},
		"departments":    {Type: runbook.TypeString, Default: "", Doc: "departments findings may be laid at besides the sub-district offices: code=Name, separated by ';'"},
		"inspectors":     {Type: runbook.TypeInt, Default: 12, Doc: "inspectors of the discipline office; the sites are spread over them by count, a sub-district's sites kept together where the counts allow, and a site left unreported goes to another inspector next"},
		"round_deadline": {Type: runbook.TypeDuration, Default: "12h", Doc: "how long a round stays open for site reports"},
		"rectify_high":   {Type: runbook.TypeDuration, Default: "6h", Doc: "time to rectify a high-severity finding"},
		"rectify_medium": {Type: runbook.TypeDuration, Default: "24h", Doc: "time to rectify a medium-severity finding"},
		"rectify_low":    {Type: runbook.TypeDuration, Default: "72h", Doc: "time to rectify a low-severity finding"},
		"remind_every":   {Type: runbook.TypeDuration, Default: "2h", Doc: "time between reminders while a finding waits"},
		"check_every":    {Type: runbook.TypeDuration, Default: "1h", Doc: "time between looks for findings of failed compliance checks"},
		"every":          {Type: runbook.TypeDuration, Doc: "start a round this often (a Temporal Schedule, e.g. 24h) until the response is lifted; empty: one round"},
	},
	Outputs: []string{"found", "rectified", "open", "overdue", "escalated", "rounds", "withdrawn"},
}

func registerInspection(w worker.Registry) {
	w.RegisterWorkflowWithOptions(InspectionFollowUpStep, workflow.RegisterOptions{Name: InspectionStepName})
	w.RegisterWorkflowWithOptions(FindingFollowUp, workflow.RegisterOptions{Name: FindingFollowUpName})
	w.RegisterWorkflowWithOptions(InspectionTick, workflow.RegisterOptions{Name: InspectionTickName})
}
