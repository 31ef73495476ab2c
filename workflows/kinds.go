package workflows

import "github.com/musterhq/muster/internal/runbook"

// Step kinds a runbook may use. Each kind is one registration here: its
// parameters for the validator and the workflow that runs a step of it.
const (
	KindSeal            = "seal"
	KindNotice          = "notice"
	KindApproval        = "approval"
	KindWait            = "wait"
	KindInspection      = "inspection-follow-up"
	KindComplianceSweep = "compliance-sweep"
	KindLift            = "lift"
	KindMassTesting     = "mass-testing"
	KindStaffSupply     = "staff-supply"
)

// Kinds is the registry of step kinds.
var Kinds = runbook.Registry{
	KindInspection: inspectionKind,
	KindSeal: {
		Name: KindSeal,
		Doc:  "Seal a compound (SealCompound): notify residents, a staffed checkpoint at every gate, roads closed except the entrance, public areas disinfected, compliance checks until lifted. The step is done once the compound is sealed; the seal holds until a lift step or the response's lift.",
		Params: map[string]runbook.Param{
			"check_every":          {Type: runbook.TypeDuration, Default: "2h", Doc: "time between checkpoint compliance rounds"},
			"staff_per_checkpoint": {Type: runbook.TypeInt, Default: 2, Doc: "staff needed at each checkpoint on every shift"},
			"shift":                {Type: runbook.TypeDuration, Default: "8h", Doc: "how long checkpoint staff stand before others relieve them: 8h makes 3 shifts a day, so a gate needs 3 × staff_per_checkpoint people a day"},
		},
		Outputs: []string{"checkpoints", "staff", "roads_closed", "open_gates"},
		PerArea: []string{"compound"},
	},
	KindNotice: {
		Name: KindNotice,
		Doc:  "Publish a notice to the outbox, e.g. \"schools postpone reopening\". {area} and {incident} in the body are replaced.",
		Params: map[string]runbook.Param{
			"audience": {Type: runbook.TypeString, Required: true, Doc: "who the notice is for, e.g. residents, all schools of the district"},
			"topic":    {Type: runbook.TypeString, Required: true, Doc: "what kind of notice, e.g. level-1-declared; one notice per topic, area and incident"},
			"body":     {Type: runbook.TypeString, Required: true, Doc: "the text"},
			"body_zh":  {Type: runbook.TypeString, Doc: "the text in Simplified Chinese, sent to zh-CN routes; the same placeholders as body"},
		},
		Placeholders: map[string][]string{"audience": {"area", "incident"}, "body": {"area", "incident"}, "body_zh": {"area", "incident"}},
		Translations: map[string]string{"body_zh": "body"},
	},
	KindApproval: {
		Name: KindApproval,
		Doc:  "Wait for a person's decision (approve or reject) with a timeout; when nobody decides in time the default applies.",
		Params: map[string]runbook.Param{
			"question": {Type: runbook.TypeString, Required: true, Doc: "what is asked"},
			"timeout":  {Type: runbook.TypeDuration, Required: true, Doc: "how long to wait for a decision"},
			"default":  {Type: runbook.TypeString, Required: true, OneOf: []string{"approve", "reject"}, Doc: "the decision when the timeout passes"},
			"approver": {Type: runbook.TypeString, Default: "command-center", Doc: "who is asked"},
		},
		Outputs: []string{"approved"},
		// {evidence} lists the testing rounds run so far, each with its
		// coverage and positives, so that whoever approves sees them.
		Placeholders: map[string][]string{"question": {"area", "evidence", "incident"}},
	},
	KindWait: {
		Name: KindWait,
		Doc:  "Wait for a period, e.g. an observation period before the next round.",
		Params: map[string]runbook.Param{
			"duration": {Type: runbook.TypeDuration, Required: true, Doc: "how long to wait"},
		},
	},
	KindComplianceSweep: {
		Name:    KindComplianceSweep,
		Doc:     "Check every checkpoint of the response's seals (staff on duty, roads still closed), as leaders going gate to gate.",
		Params:  map[string]runbook.Param{},
		Outputs: []string{"checked", "failed_checks"},
	},
	KindMassTesting: {
		Name: KindMassTesting,
		Doc:  "Test every resident of the area once (MassTesting): sampling points with their compounds, cohorts called in priority order into time slots, home visits by grid workers with a revisit when one misses, samples arriving in batches, coverage and a projected finish against the deadline (a notice recommends another point when behind), and the list of who is still missing at the end.",
		Params: map[string]runbook.Param{
			"deadline":      {Type: runbook.TypeDuration, Required: true, Doc: "how long the round may take, e.g. 7h"},
			"check_every":   {Type: runbook.TypeDuration, Default: "15m", Doc: "time between coverage checks"},
			"revisit_after": {Type: runbook.TypeDuration, Default: "1h", Doc: "time between revisits of missed home visits"},
			"cohorts":       {Type: runbook.TypeString, Default: "", Doc: "cohorts called first, in order, comma-separated, e.g. student,teacher"},
			"round":         {Type: runbook.TypeInt, Doc: "the round number (default: the enclosing repeat's round, else 1)"},
			"min_coverage":  {Type: runbook.TypeNumber, Fraction: true, Default: DefaultMinCoverage, Doc: "share of the expected residents a round must sample to be clean (0.99 is 99%); a round below it is never clean, whatever its positives"},
			"grace":         {Type: runbook.TypeDuration, Default: "6h", Doc: "how long after the round closes a sample taken during it is still recorded against it (and taken off the missing list); positive results are taken whenever they come, and the command center is told"},
			"extend_by":     {Type: runbook.TypeDuration, Default: "2h", Doc: "how long a round that lost time to an outage (coverage checks that could not run) and is below min_coverage at its deadline is extended, once; at most the round's deadline"},
		},
		Outputs:   []string{"positives", "sampled", "expected", "missing", "coverage", "home_visits_open", "clean"},
		Fractions: []string{"coverage", "clean"},
	},
	KindStaffSupply: {
		Name: KindStaffSupply,
		Doc:  "Send people and goods where the response needs them (StaffSupplyStep): posts derived from the response (sampling points, communities, suppliers, open checkpoints) staffed nearest first and fairly within shift limits, never one person twice at once; mobilization notices with passes, acknowledged before a deadline (a reminder halfway, reassignment when none comes); volunteer sign-ups until a quota or a deadline; days of supply per area from population and daily need, restock shipments when short, confirmed on delivery; shortages escalated when a shipment is late or stock stays low. See docs/supply.md.",
		Params: map[string]runbook.Param{
			"duration":           {Type: runbook.TypeDuration, Default: "12h", Doc: "how long the step runs"},
			"shift":              {Type: runbook.TypeDuration, Default: "12h", Doc: "the staff's shift from the step's start, at most 24h; staff are released at the step's end when the shift is over by then"},
			"check_every":        {Type: runbook.TypeDuration, Default: "1h", Doc: "time between supply checks (and top-ups of short posts)"},
			"ack_within":         {Type: runbook.TypeDuration, Default: "1h", Doc: "time a person has to acknowledge an assignment; a reminder goes halfway"},
			"reassign_rounds":    {Type: runbook.TypeInt, Default: 2, Doc: "how many times posts not acknowledged are given to someone else"},
			"per_sampling_point": {Type: runbook.TypeInt, Default: 4, Doc: "samplers and registrars per sampling point (teachers, medical staff, volunteers)"},
			"per_community":      {Type: runbook.TypeInt, Default: 0, Doc: "cadres per community"},
			"per_supplier":       {Type: runbook.TypeInt, Default: 0, Doc: "volunteers per supermarket or market"},
			"per_checkpoint":     {Type: runbook.TypeInt, Default: 0, Doc: "relief staff per open checkpoint of the response"},
			"volunteers":         {Type: runbook.TypeInt, Default: 0, Doc: "volunteer sign-ups wanted (0: no drive)"},
			"signup_for":         {Type: runbook.TypeDuration, Default: "1h", Doc: "how long sign-ups stay open"},
			"need":               {Type: runbook.TypeString, Default: DefaultNeed, Doc: "daily need per person in kilograms, commodity=kg, comma-separated"},
			"min_days":           {Type: runbook.TypeNumber, Default: 3, Doc: "days of supply below which an area is restocked"},
			"target_days":        {Type: runbook.TypeNumber, Default: 7, Doc: "days of supply a restock brings an area up to"},
			"delivery_within":    {Type: runbook.TypeDuration, Default: "6h", Doc: "time a shipment has before it is late and escalated"},
			"escalate_after":     {Type: runbook.TypeDuration, Default: "12h", Doc: "time stock may stay below min_days before it is escalated"},
		},
		Outputs: []string{"assigned", "acknowledged", "shortfall", "lapsed", "orders", "delivered", "late", "escalations"},
	},
	KindLift: {
		Name: KindLift,
		Doc:  "Lift the response's seals in the step's scope (all of them, or the area of the enclosing for_each): checkpoints close, staff are released, roads reopen, residents are told.",
		Params: map[string]runbook.Param{
			"reason": {Type: runbook.TypeString, Required: true, Doc: "why, for the event log"},
		},
		Outputs: []string{"lifted"},
	},
}

// DefaultMinCoverage is the share of residents a testing round samples to
// be clean when the runbook does not say.
const DefaultMinCoverage = 0.99

// binding says how the response runs a step of a kind.
type binding struct {
	// name is the child workflow type; input builds its input.
	name  string
	input func(StepInput) any
	// holds marks kinds whose step is done once in place, while its
	// workflow holds until lifted (seal).
	holds bool
	// local marks kinds the response carries out itself (lift).
	local bool
}

// Workflow type names of the step kinds.
const (
	NoticeStepName          = "NoticeStep"
	ApprovalStepName        = "ApprovalStep"
	WaitStepName            = "WaitStep"
	ComplianceSweepStepName = "ComplianceSweepStep"
	MassTestingStepName     = "MassTestingStep"
	StaffSupplyStepName     = "StaffSupplyStep"
)

var bindings = map[string]binding{
	KindInspection:      {name: InspectionStepName, input: stepInput, holds: true},
	KindSeal:            {name: SealCompoundName, input: sealInput, holds: true},
	KindNotice:          {name: NoticeStepName, input: stepInput},
	KindApproval:        {name: ApprovalStepName, input: stepInput},
	KindWait:            {name: WaitStepName, input: stepInput},
	KindComplianceSweep: {name: ComplianceSweepStepName, input: stepInput},
	KindMassTesting:     {name: MassTestingStepName, input: stepInput},
	KindStaffSupply:     {name: StaffSupplyStepName, input: stepInput},
	KindLift:            {local: true},
}

func stepInput(in StepInput) any { return in }

func sealInput(in StepInput) any {
	out := SealCompoundInput{
		Incident: in.Incident, Runbook: in.Runbook, Level: in.Level, TimeScale: in.TimeScale,
		CheckEveryHours:    paramDuration(in.Params, "check_every").Hours(),
		StaffPerCheckpoint: paramInt(in.Params, "staff_per_checkpoint"),
		ShiftHours:         paramDuration(in.Params, "shift").Hours(),
		RequestedBy:        "runbook " + in.Runbook, Retry: in.Retry, StepPath: in.Path,
	}
	if in.Area != nil {
		out.Compound = in.Area.Code
	}
	if in.Retry != nil && in.Retry.StallRetry > 0 {
		out.StallRetryMinutes = in.Retry.StallRetry.D().Minutes()
	}
	return out
}
