package workflows

// What a seal shows: its search attributes, its reports to the response
// and the current details the Web UI shows.

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/internal/table"
)

// sealReportsRetrying marks the seals that tell their response when a step
// is retrying and when it has recovered; seals recorded before it told only
// stalls.
const sealReportsRetrying = "seal-reports-retrying"

// changed mirrors a step's state into the search attributes and the
// current details, and tells the response of stalls, retries and
// recoveries.
func (s *seal) changed(ctx workflow.Context, name, state string) {
	if st := s.r.ref(name); state == StateStalled {
		reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateStalled, Inner: name, Stalls: st.Stalls, LastError: st.LastError, Detail: st.Detail})
	} else if state == StateRunning && st.Stalls > 0 {
		reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateRunning, Detail: name + " retrying after stall"})
	} else if (state == StateRetrying || state == StateRunning && s.r.recovering(name)) &&
		workflow.GetVersion(ctx, sealReportsRetrying, workflow.DefaultVersion, 1) >= 1 {
		// The response shows the seal retrying from the first failed
		// attempt, and holding (or running) again once it recovered.
		if state == StateRetrying {
			reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateRetrying, Inner: name, LastError: st.LastError, Detail: st.Detail})
		} else {
			reportToParent(ctx, StepReport{Path: s.in.StepPath, State: StateRunning, Detail: st.Detail})
		}
	}
	saStep, saState := name, state
	if strings.HasPrefix(name, "checkpoint/") {
		saStep = "checkpoints"
	}
	if q := s.progress.Request; q != nil && q.Decision == "" {
		// A request waiting on the command center is the seal's state
		// until it is answered.
		saStep, saState = "request-outside-staff", StateAwaitingDecision
	}
	if saStep != s.saStep || saState != s.saState {
		s.saStep, s.saState = saStep, saState
		if err := s.upsert(ctx, SAStep.ValueSet(saStep), SAStepState.ValueSet(saState)); err != nil {
			workflow.GetLogger(ctx).Error("Upsert search attributes", "error", err)
		}
	}
	s.render(ctx)
}

// render writes the short markdown table the Web UI shows as current
// details: the checkpoints are one row, except the stalled ones.
func (s *seal) render(ctx workflow.Context) {
	p := s.progress
	var b strings.Builder
	name := p.CompoundName
	if name == "" {
		name = p.Compound
	}
	fmt.Fprintf(&b, "**Seal of %s** · incident %s · %s", name, p.Incident, p.Phase)
	if p.Residents > 0 {
		fmt.Fprintf(&b, " · %d residents", p.Residents)
	}
	if p.OpenGates > 0 && p.Phase == PhaseSealed {
		fmt.Fprintf(&b, " · **%d of %d gates unstaffed**", p.OpenGates, len(p.Checkpoints))
	}
	if p.Shift > 0 && p.Phase == PhaseSealed {
		fmt.Fprintf(&b, " · shift %d of %gh, relieved at %s", p.Shift, p.ShiftHours, p.ShiftEndsAt.Format("15:04"))
	}
	b.WriteString("\n\n")
	t := table.New("Step", "State", "Detail")
	gates, gatesDone := 0, 0
	for _, st := range p.Steps {
		state := st.State
		if state == StateStalled {
			state = "**stalled**"
		}
		if strings.HasPrefix(st.Name, "checkpoint/") {
			gates++
			if st.State == StateDone {
				gatesDone++
			}
			if st.State == StateStalled {
				t.Row(st.Name, state, st.Detail)
			}
			continue
		}
		if gates > 0 && st.Name == "close-roads" {
			checkpointRow(t, p, gates, gatesDone)
			gates = -1
		}
		t.Row(st.Name, state, st.Detail)
	}
	if gates > 0 {
		checkpointRow(t, p, gates, gatesDone)
	}
	t.Render(&b)
	if p.ComplianceRounds > 0 {
		fmt.Fprintf(&b, "\nCompliance: %d rounds, last %d of %d passed", p.ComplianceRounds, p.LastCompliance.Passed, p.LastCompliance.Checked)
		if len(p.LastCompliance.Problems) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(p.LastCompliance.Problems, "; "))
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// checkpointRow adds the row that sums up the checkpoints: how many of the
// gates are done and how many staff are on duty.
func checkpointRow(t *table.Table, p SealProgress, gates, done int) {
	staff := 0
	for _, c := range p.Checkpoints {
		staff += c.Staff
	}
	state := StateRunning
	if done == gates {
		state = StateDone
	}
	t.Row("checkpoints", state, fmt.Sprintf("%d of %d gates, %d staff on duty", done, gates, staff))
}
