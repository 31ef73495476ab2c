package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/api/enums/v1"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/workflows"
)

// StartRequest opens an incident's response.
type StartRequest struct {
	Incident string `json:"incident"`
	Runbook  string `json:"runbook"`
	// Version pins a runbook version; absent takes the latest.
	Version   int      `json:"version,omitempty"`
	Area      string   `json:"area"`
	Level     *int     `json:"level,omitempty"`
	TimeScale *float64 `json:"time_scale,omitempty"`
	By        string   `json:"by,omitempty"`
}

// StartResult says which response answers the trigger.
type StartResult struct {
	WorkflowID string `json:"workflow_id"`
	Incident   string `json:"incident"`
	// Existing is true when the incident's response was already running:
	// a second trigger never starts a second response.
	Existing bool   `json:"existing"`
	Runbook  string `json:"runbook"`
	// Version is the pinned runbook version (0 while a running response
	// is still pinning it).
	Version int `json:"version"`
	// Warnings say what the response will run short of, such as testing
	// rounds that cannot finish by their deadline.
	Warnings []string `json:"warnings,omitempty"`
}

// LiftRequest lifts a response.
type LiftRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// EscalateRequest changes a response's level.
type EscalateRequest struct {
	Level  int    `json:"level"`
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// AddAreaRequest widens a response to another area.
type AddAreaRequest struct {
	Area   string `json:"area"`
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// RetryRequest retries a stalled step now.
type RetryRequest struct {
	Step string `json:"step"`
	By   string `json:"by,omitempty"`
}

// StepRequest names a step to skip, abort, pause or resume.
type StepRequest struct {
	Step   string `json:"step"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// DecideRequest answers an approval step.
type DecideRequest struct {
	Step     string `json:"step"`
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// ActionResult says that a response accepted and carried out an action.
type ActionResult struct {
	WorkflowID string `json:"workflow_id"`
	Action     string `json:"action"`
	Step       string `json:"step,omitempty"`
	// Area is the area an add-area action added.
	Area *AreaView `json:"area,omitempty"`
}

// validFlag maps the CLI flag a workflows validator names to the API's
// field.
var validFlag = regexp.MustCompile(`^--([a-z-]+)`)

// inputError turns an input validator's error, which names CLI flags, into
// a 400 naming the request field.
func inputError(err error) error {
	msg := err.Error()
	m := validFlag.FindStringSubmatch(msg)
	if m == nil {
		return badRequest("", "%s", msg)
	}
	field := strings.ReplaceAll(m[1], "-", "_")
	return badRequest(field, "%s", field+strings.TrimPrefix(msg, "--"+m[1]))
}

// long: to be cut into the request's checks and the runbook's fit once the district and testing-capacity changes to it are merged.
func (s *Server) startResponse(w http.ResponseWriter, r *http.Request) error {
	var req StartRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	for _, f := range []struct{ name, value, example string }{
		{"incident", req.Incident, "xd-0403"},
		{"runbook", req.Runbook, "community-outbreak-level-1 (GET /v1/runbooks lists them)"},
		{"area", req.Area, "an area code from GET /v1/areas"},
	} {
		if strings.TrimSpace(f.value) == "" {
			return badRequest(f.name, "%s is required, e.g. %s", f.name, f.example)
		}
	}
	if err := workflows.ValidIncident(req.Incident); err != nil {
		return badRequest("incident", "%v", err)
	}
	if !runbook.IsCode(req.Runbook) {
		return badRequest("runbook", "runbook %q: a runbook name is lower-case letters, digits and '-'", req.Runbook)
	}
	if req.Version < 0 {
		return badRequest("version", "version %d: versions count from 1 (leave it out for the latest)", req.Version)
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	in := workflows.ResponseInput{Incident: req.Incident, Runbook: req.Runbook, Version: req.Version, Area: req.Area, RequestedBy: who}
	if req.Level != nil {
		if *req.Level < 1 || *req.Level > 4 {
			return badRequest("level", "level %d: response levels run from 1 (highest) to 4 (leave it out for the runbook's)", *req.Level)
		}
		in.Level = *req.Level
	}
	in = in.WithDefaults()
	if req.TimeScale != nil {
		in.TimeScale = *req.TimeScale
	}
	if err := in.Validate(); err != nil {
		return inputError(err)
	}

	ctx := r.Context()
	rb, err := s.st.Runbook(ctx, in.Runbook, in.Version)
	if errors.Is(err, domain.ErrNotFound) {
		return notFound("runbook", "%v (GET /v1/runbooks lists the published runbooks)", err)
	}
	if err != nil {
		return err
	}
	area, err := s.st.AreaIn(ctx, district(r), in.Area)
	if err != nil {
		return areaError("area", in.Area, err)
	}
	if district(r) != "" {
		// The path names the area alone, whichever districts share its code.
		in.Area = area.Path
	}
	// A runbook made for one level of area would fail at once on another:
	// refuse it here rather than start a response that cannot open.
	def, err := runbook.Parse(fmt.Sprintf("%s@%d", rb.Name, rb.Version), []byte(rb.Source), workflows.Kinds)
	if err == nil && def.Area != "" && def.Area != area.Level {
		return badRequest("area", "runbook %s is for a %s, and %s is a %s (GET /v1/areas?under=%s&level=%s lists those)",
			rb.Name, def.Area, area.Code, area.Level, area.Code, def.Area)
	}
	// A runbook naming an area the scenario lacks would fail only when the
	// response reaches that step: refuse it here, naming the path and code.
	if err == nil {
		if err := service.CheckAreas(ctx, s.st, fmt.Sprintf("%s@%d", rb.Name, rb.Version), def); err != nil {
			var rerr runbook.Errors
			if !errors.As(err, &rerr) {
				return err
			}
			return badRequest("runbook", "runbook %s version %d names areas the scenario does not have (publish a fixed version): %v", rb.Name, rb.Version, err)
		}
	}
	// Testing rounds that cannot finish by their deadline are said before
	// the response starts, as the CLI does.
	var warnings []string
	if def != nil {
		if warnings, err = service.TestingCapacityWarnings(ctx, s.st, def, area); err != nil {
			return err
		}
	}
	// Pin the version resolved here, so the answer names the version the
	// response runs.
	in.Version = rb.Version
	id, existing, err := s.start(ctx, in, fmt.Sprintf("%s v%d · %s", rb.Name, rb.Version, area.Name))
	if err != nil {
		return err
	}
	res := StartResult{WorkflowID: id, Incident: in.Incident, Existing: existing, Runbook: rb.Name, Version: rb.Version}
	if !existing {
		res.Warnings = warnings
	}
	if !existing {
		w.Header().Set("Location", "/v1/responses/"+in.Incident)
		writeJSON(w, http.StatusCreated, res)
		return nil
	}
	// The running response may have another runbook or version: say which.
	qctx, cancel := context.WithTimeout(ctx, queryTimeout/2)
	defer cancel()
	p, err := QueryResponse(qctx, s.tc, id)
	if err != nil {
		return temporalError(qctx, err)
	}
	res.Runbook, res.Version = p.Runbook, p.Version
	writeJSON(w, http.StatusOK, res)
	return nil
}

// start starts the response; an incident whose response has ended is a
// 409.
func (s *Server) start(ctx context.Context, in workflows.ResponseInput, title string) (string, bool, error) {
	id, existing, err := service.StartResponse(ctx, s.tc, s.taskQueue, in, title)
	if err == nil {
		return id, existing, nil
	}
	if errors.Is(err, service.ErrEnded) {
		return "", false, conflict("%v", err)
	}
	return "", false, err
}

func (s *Server) listResponses(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains([]string{"incident", "area", "district", "state", "running"}, name) {
			return badRequest(name, "unknown query parameter %q (parameters: incident, area, district, state, running)", name)
		}
	}
	where := []string{"WorkflowType = '" + workflows.ResponseName + "'", workflows.SAIncident.GetName() + " IS NOT NULL"}
	if v := q.Get("incident"); v != "" {
		if err := workflows.ValidIncident(v); err != nil {
			return badRequest("incident", "%v", err)
		}
		where = append(where, workflows.SAIncident.GetName()+" = '"+v+"'")
	}
	if v := q.Get("area"); v != "" {
		if !areaPattern.MatchString(v) {
			return badRequest("area", "area %q: give an area code or path (GET /v1/areas lists them)", v)
		}
		// A code is as good as a path: the search attribute holds paths.
		ar, err := s.st.AreaIn(ctx, district(r), v)
		if err != nil {
			return areaError("area", v, err)
		}
		where = append(where, workflows.SAAreaPath.GetName()+" = '"+ar.Path+"'")
	}
	if v := q.Get("state"); v != "" {
		if !slices.Contains(stepStates, v) {
			return badRequest("state", "state %q: want one of %s", v, strings.Join(stepStates, ", "))
		}
		where = append(where, workflows.SAStepState.GetName()+" = '"+v+"'")
	}
	if v := q.Get("running"); v != "" {
		running, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("running", "running %q: want true or false", v)
		}
		if running {
			where = append(where, "ExecutionStatus = 'Running'")
		} else {
			where = append(where, "ExecutionStatus != 'Running'")
		}
	}
	execs, err := ListExecutions(ctx, s.tc, strings.Join(where, " AND "))
	if err != nil {
		return temporalError(ctx, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"responses": execs})
	return nil
}

// areaPattern is an area code or path.
var areaPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$`)

// stepStates are the values of MusterStepState.
var stepStates = []string{
	workflows.StatePending, workflows.StateRunning, workflows.StateRetrying, workflows.StateStalled,
	workflows.StateAwaitingDecision, workflows.StateHolding, workflows.StateUnderstaffed,
	workflows.StateOverdue, workflows.StateDone, workflows.StateFailed,
	workflows.StateSkipped, workflows.StateAborted, workflows.StateCancelled,
}

// act sends an update to an incident's running response. The step, when
// the action names one, must be in the response's tree: else 404. The
// workflow's validator has the last word: a refusal is a 409 carrying its
// message.
func (s *Server) act(r *http.Request, inc, update, step string, arg, result any) error {
	ctx, cancel := context.WithTimeout(r.Context(), updateTimeout)
	defer cancel()
	id, status, err := s.response(ctx, inc)
	if err != nil {
		return err
	}
	if status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return conflict("the response to incident %s is closed (its workflow %s): nothing to %s", inc, StatusName(status), update)
	}
	if step != "" {
		qctx, qcancel := context.WithTimeout(ctx, queryTimeout)
		p, err := QueryResponse(qctx, s.tc, id)
		qcancel()
		if err != nil {
			return temporalError(qctx, err)
		}
		if p.Find(step) == nil {
			var steps []string
			for _, n := range p.Leaves() {
				steps = append(steps, n.Path)
			}
			return notFound("step", "unknown step %q of %s (steps: %s)", step, id, strings.Join(steps, ", "))
		}
	}
	err = Update(ctx, s.tc, id, update, arg, result)
	var refused *RefusedError
	if errors.As(err, &refused) {
		return conflict("%s", refused.Msg)
	}
	if err != nil {
		return temporalError(ctx, err)
	}
	return nil
}

func required(field, value, why string) error {
	if strings.TrimSpace(value) == "" {
		return badRequest(field, "%s is required: %s", field, why)
	}
	return nil
}

func (s *Server) lift(w http.ResponseWriter, r *http.Request) error {
	inc, req, err := withBody[LiftRequest](r, incident)
	if err != nil {
		return err
	}
	if err := required("reason", req.Reason, "say why the response is lifted, for the event log"); err != nil {
		return err
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	in := workflows.LiftInput{Reason: req.Reason, By: who}
	if err := s.act(r, inc, workflows.UpdateLift, "", in, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ActionResult{WorkflowID: workflows.ResponseWorkflowID(inc), Action: workflows.UpdateLift})
	return nil
}

func (s *Server) escalate(w http.ResponseWriter, r *http.Request) error {
	inc, req, err := withBody[EscalateRequest](r, incident)
	if err != nil {
		return err
	}
	if req.Level < 1 || req.Level > 4 {
		return badRequest("level", "level %d: response levels run from 1 (highest) to 4", req.Level)
	}
	if err := required("reason", req.Reason, "say why the level changes, for the event log"); err != nil {
		return err
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	in := workflows.EscalateInput{Level: req.Level, Reason: req.Reason, By: who}
	if err := s.act(r, inc, workflows.UpdateEscalate, "", in, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ActionResult{WorkflowID: workflows.ResponseWorkflowID(inc), Action: workflows.UpdateEscalate})
	return nil
}

func (s *Server) addArea(w http.ResponseWriter, r *http.Request) error {
	inc, req, err := withBody[AddAreaRequest](r, incident)
	if err != nil {
		return err
	}
	if err := required("area", req.Area, "an area code (GET /v1/areas lists them)"); err != nil {
		return err
	}
	if !areaPattern.MatchString(req.Area) {
		return badRequest("area", "area %q: give an area code (GET /v1/areas lists them)", req.Area)
	}
	if err := required("reason", req.Reason, "say why the response widens, for the event log"); err != nil {
		return err
	}
	// The workflow looks the area up only after accepting the update: an
	// unknown area is caught here, before it is.
	if _, err := s.st.AreaByCode(r.Context(), req.Area); errors.Is(err, domain.ErrNotFound) {
		return notFound("area", "unknown area %q (GET /v1/areas lists them)", req.Area)
	} else if err != nil && !errors.Is(err, domain.ErrInvalid) {
		// A code two districts share is fine: the response looks it up
		// in its own district.
		return err
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	in := workflows.AddAreaInput{Area: req.Area, Reason: req.Reason, By: who}
	var added activities.Area
	if err := s.act(r, inc, workflows.UpdateAddArea, "", in, &added); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ActionResult{WorkflowID: workflows.ResponseWorkflowID(inc), Action: workflows.UpdateAddArea,
		Area: &AreaView{ID: added.ID, Code: added.Code, Name: added.Name, Path: added.Path, Level: added.Level}})
	return nil
}

func (s *Server) retryStep(w http.ResponseWriter, r *http.Request) error {
	inc, req, err := withBody[RetryRequest](r, incident)
	if err != nil {
		return err
	}
	if err := required("step", req.Step, "the step's path, e.g. seal/COMPOUND (GET /v1/responses/"+inc+" shows them)"); err != nil {
		return err
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	in := workflows.RetryInput{Step: req.Step, By: who}
	if err := s.act(r, inc, workflows.UpdateRetry, req.Step, in, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ActionResult{WorkflowID: workflows.ResponseWorkflowID(inc), Action: workflows.UpdateRetry, Step: req.Step})
	return nil
}

// stepAct is a step action whose input is a workflows.StepAction.
type stepAct struct {
	update       string
	needsReason  bool
	reasonPrompt string
}

var (
	actSkip   = stepAct{workflows.UpdateSkip, true, "say why the step is given up, for the event log"}
	actAbort  = stepAct{workflows.UpdateAbort, true, "say why the step is stopped, for the event log"}
	actPause  = stepAct{workflows.UpdatePause, false, ""}
	actResume = stepAct{workflows.UpdateResume, false, ""}
)

func (s *Server) stepAction(act stepAct) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		inc, req, err := withBody[StepRequest](r, incident)
		if err != nil {
			return err
		}
		if err := required("step", req.Step, "the step's path, e.g. seal/COMPOUND (GET /v1/responses/"+inc+" shows them)"); err != nil {
			return err
		}
		if act.needsReason {
			if err := required("reason", req.Reason, act.reasonPrompt); err != nil {
				return err
			}
		}
		who, err := actor(r, "by", req.By)
		if err != nil {
			return err
		}
		in := workflows.StepAction{Step: req.Step, Reason: req.Reason, By: who}
		if err := s.act(r, inc, act.update, req.Step, in, nil); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, ActionResult{WorkflowID: workflows.ResponseWorkflowID(inc), Action: act.update, Step: req.Step})
		return nil
	}
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) error {
	inc, req, err := withBody[DecideRequest](r, incident)
	if err != nil {
		return err
	}
	if err := required("step", req.Step, "the approval step's path, e.g. approve-lift"); err != nil {
		return err
	}
	if req.Decision != "approve" && req.Decision != "reject" {
		return badRequest("decision", "decision %q: want approve or reject", req.Decision)
	}
	who, err := actor(r, "by", req.By)
	if err != nil {
		return err
	}
	in := workflows.Decision{Step: req.Step, Decision: req.Decision, Reason: req.Reason, By: who}
	if err := s.act(r, inc, workflows.UpdateDecide, req.Step, in, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ActionResult{WorkflowID: workflows.ResponseWorkflowID(inc), Action: workflows.UpdateDecide, Step: req.Step})
	return nil
}
