package api

// The operator's actions on a running response: lift, escalate, add an
// area, retry, skip, abort, pause or resume a step, and decide an approval.
// Each is an update of the Response workflow, whose validator has the last
// word.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.temporal.io/api/enums/v1"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

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
	if err := required("area", req.Area, "an area code such as nanpingtou (GET /v1/areas lists them)"); err != nil {
		return err
	}
	if !areaPattern.MatchString(req.Area) {
		return badRequest("area", "area %q: give an area code such as nanpingtou", req.Area)
	}
	if err := required("reason", req.Reason, "say why the response widens, for the event log"); err != nil {
		return err
	}
	// The workflow looks the area up only after accepting the update: an
	// unknown area is caught here, before it is.
	if _, err := s.st.AreaByCode(r.Context(), req.Area); errors.Is(err, store.ErrNotFound) {
		return notFound("area", "unknown area %q (GET /v1/areas lists them)", req.Area)
	} else if err != nil {
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
	if err := required("step", req.Step, "the step's path, e.g. seal/longbao-jiayuan (GET /v1/responses/"+inc+" shows them)"); err != nil {
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
		if err := required("step", req.Step, "the step's path, e.g. seal/longbao-jiayuan (GET /v1/responses/"+inc+" shows them)"); err != nil {
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
