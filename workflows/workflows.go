// Package workflows holds Muster's deterministic workflow code. Workflows use
// only workflow.Now, timers and activities; records live in PostgreSQL and
// workflows carry IDs and counts.
//
// Every step kind is built on one step core: the step runner (runner.go)
// runs activities as named steps that stall instead of failing; step.go
// reports to the parent response; core.go receives signals in the main
// loop, continues as new only when quiet (every channel drained, every
// handler finished, what arrived carried into the next run, the carried
// state checked against a budget) and bounds operators' free text.
package workflows

import (
	"fmt"
	"regexp"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
)

// a lets workflow code name activities by method; it is never called.
var a *activities.Activities

// Names of the progress query and of the lift and retry updates, which the
// Response and SealCompound answer alike; the CLI and the API send them.
const (
	QueryProgress = "progress"
	UpdateLift    = "lift"
	UpdateRetry   = "retry"
)

var incidentPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidIncident checks an incident ID: it appears in workflow IDs, so it is
// short and plain.
func ValidIncident(id string) error {
	if !incidentPattern.MatchString(id) {
		return fmt.Errorf("incident %q: use lower-case letters, digits and '-', at most 63 characters (e.g. xd-0403)", id)
	}
	return nil
}

// ResponseWorkflowID is the ID of an incident's response.
func ResponseWorkflowID(incident string) string { return "response/" + incident }

// SealWorkflowID is the ID of a compound's seal within an incident's response.
func SealWorkflowID(incident, compound string) string {
	return ResponseWorkflowID(incident) + "/seal/" + compound
}

// Register adds Muster's workflows and activities to a worker: the
// Response and the workflows of every step kind in kinds.
func Register(w worker.Registry, acts *activities.Activities) {
	w.RegisterWorkflowWithOptions(Response, workflow.RegisterOptions{Name: ResponseName})
	for _, k := range kinds {
		k.register(w)
	}
	w.RegisterActivity(acts)
}

// scaled turns a real duration into workflow time under a time scale: a
// 7-hour round with time scale 420 lasts a minute.
func scaled(d time.Duration, scale float64) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	s := time.Duration(float64(d) / scale)
	if s < time.Millisecond {
		s = time.Millisecond
	}
	return s
}
