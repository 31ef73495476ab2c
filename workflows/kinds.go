package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/runbook"
)

// A step kind is one value of type kind, declared at the top of the file
// named for it (seal.go, notice.go, testing.go, …), and one entry in kinds
// below. Everything else derives from that list: Kinds, the registry the
// runbook validator, `muster runbook kinds`, the docs and the API read;
// stepKinds, which the response looks a step's kind up in; and the worker's
// registration of the kinds' workflows (Register).
// docs/adding-a-step-kind.md shows how to add one.

// kind is a step kind: what a runbook may say about a step of it, and how
// the response runs one.
type kind struct {
	// spec names the kind and documents its parameters and outputs.
	spec runbook.Kind
	// workflow runs a step of the kind as a child of the response; the
	// worker registers it under the workflow type name.
	workflow any
	name     string
	// input builds the workflow's input from the step's; nil starts the
	// workflow with the StepInput itself.
	input func(StepInput) any
	// holds marks kinds whose step is done once in place, while its
	// workflow holds until lifted (seal, inspection).
	holds bool
	// local marks the kind the response carries out itself (lift); it has
	// no workflow.
	local bool
	// registerAll, when set, registers the kind's workflows in place of
	// workflow alone: the step's and those the step starts (the
	// inspection's findings and schedule ticks).
	registerAll func(worker.Registry)
}

// kinds lists every step kind a runbook may use.
var kinds = []kind{
	sealKind,
	noticeKind,
	approvalKind,
	waitKind,
	inspectionFollowUpKind,
	sweepKind,
	liftKind,
	massTestingKind,
	staffSupplyKind,
}

// Kinds is the registry of step kinds, by name.
var Kinds = kindRegistry(kinds)

// stepKinds finds a step's kind by its name.
var stepKinds = kindIndex(kinds)

func kindRegistry(list []kind) runbook.Registry {
	reg := runbook.Registry{}
	for _, k := range list {
		reg[k.spec.Name] = k.spec
	}
	return reg
}

func kindIndex(list []kind) map[string]kind {
	byName := map[string]kind{}
	for _, k := range list {
		byName[k.spec.Name] = k
	}
	return byName
}

// stepInput is the input a step's workflow starts with.
func (k kind) stepInput(in StepInput) any {
	if k.input == nil {
		return in
	}
	return k.input(in)
}

// register registers the kind's workflows with a worker.
func (k kind) register(w worker.Registry) {
	switch {
	case k.registerAll != nil:
		k.registerAll(w)
	case k.workflow != nil:
		w.RegisterWorkflowWithOptions(k.workflow, workflow.RegisterOptions{Name: k.name})
	}
}
