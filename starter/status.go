package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/workflows"
)

func sortExecutions(es []execution) {
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
}

func (a *app) statusCommand() *cobra.Command {
	var detail bool
	var locale string
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show the progress of a response, a seal, or every seal of an incident",
		Long: `Show progress from the workflows' progress query. ID is an incident ID such
as inc-0403 or a workflow ID. When the incident has a response, its step tree
is shown (as one frame of ` + "`muster watch`" + `) with the counts of its notices.
Otherwise ID names seals started with ` + "`muster seal start`" + `: a seal's
workflow ID such as response/inc-0403/seal/COMPOUND (shown step by step), or
an incident ID (one line per seal; --detail for the steps of each).`,
		Example: `  muster status inc-0403
  muster status response/inc-0403/seal/COMPOUND
  muster status inc-0403 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			if err := checkLocale(locale); err != nil {
				return err
			}
			if id, ok := responseID(ctx, c, args[0]); ok {
				p, err := queryResponse(ctx, c, id)
				if err != nil {
					return err
				}
				if locale != "" {
					p.AskIn(locale)
				}
				counts := a.noticeCounts(ctx, p.Incident)
				if a.output == "json" {
					return printJSON(a.out, progressWithNotices{p, counts})
				}
				renderResponse(a.out, p)
				renderNoticeCounts(a.out, p.Incident, counts)
				return nil
			}
			execs, err := targets(ctx, c, args[0])
			if err != nil {
				return err
			}
			progress, err := queryAll(ctx, c, execs)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(progress)
			}
			if len(execs) == 1 || detail {
				for i, p := range progress {
					if i > 0 {
						fmt.Fprintln(a.out)
					}
					renderSeal(a.out, execs[i], p)
				}
				return nil
			}
			return renderSeals(a.out, execs, progress)
		},
	}
	cmd.Flags().BoolVar(&detail, "detail", false, "show every step of every seal")
	cmd.Flags().StringVar(&locale, "locale", "", "language of a response's approval questions: en or zh-CN (default: the incident's)")
	return cmd
}

// queryAll asks each execution for its progress.
func queryAll(ctx context.Context, c client.Client, execs []execution) ([]workflows.SealProgress, error) {
	out := make([]workflows.SealProgress, len(execs))
	for i, e := range execs {
		p, err := queryProgress[workflows.SealProgress](ctx, c, e.ID, "is a worker running? `make demo` starts one, or run muster-worker")
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func renderSeals(w io.Writer, execs []execution, ps []workflows.SealProgress) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEAL\tPHASE\tSTEP\tCHECKPOINTS\tROADS CLOSED\tCHECKS\tLAST ROUND")
	totalRes, sealed := 0, 0
	for i, p := range ps {
		step := execs[i].Step
		if execs[i].StepState != "" {
			step += " (" + execs[i].StepState + ")"
		}
		if execs[i].Status != "running" {
			step = execs[i].Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", nameOf(p), p.Phase, step, checkpointSummary(p), p.RoadsClosed, p.ComplianceRounds, lastRound(p))
		totalRes += p.Residents
		if p.Phase == workflows.PhaseSealed {
			sealed++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d of %d compounds sealed · %d residents\n", sealed, len(ps), totalRes)
	return nil
}

func nameOf(p workflows.SealProgress) string {
	if p.CompoundName != "" {
		return fmt.Sprintf("%s (%s)", p.CompoundName, p.Compound)
	}
	return p.Compound
}

func checkpointSummary(p workflows.SealProgress) string {
	staff, short := 0, 0
	for _, c := range p.Checkpoints {
		staff += c.Staff
		short += c.Shortfall
	}
	s := fmt.Sprintf("%d %s, %d staff", len(p.Checkpoints), plural(len(p.Checkpoints), "gate"), staff)
	if short > 0 {
		s += fmt.Sprintf(", %d short", short)
	}
	if p.OpenGates > 0 && p.Phase == workflows.PhaseSealed {
		s += fmt.Sprintf(", %d of %d gates unstaffed", p.OpenGates, len(p.Checkpoints))
	}
	return s
}

// requiredPerGate is the staff a checkpoint of the seal needs on a shift.
func requiredPerGate(p workflows.SealProgress) int {
	if len(p.Checkpoints) == 0 {
		return 0
	}
	return p.Checkpoints[0].Required
}

func lastRound(p workflows.SealProgress) string {
	if p.ComplianceRounds == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d passed", p.LastCompliance.Passed, p.LastCompliance.Checked)
}

// renderSeal writes one seal step by step, with a bar per step.
func renderSeal(w io.Writer, e execution, p workflows.SealProgress) {
	fmt.Fprintf(w, "%s · %s · %s · %d residents · %s\n", e.ID, nameOf(p), p.Phase, p.Residents, e.Status)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tSTATE\t\tDETAIL")
	for _, st := range p.Steps {
		detail := st.Detail
		if st.State == workflows.StateStalled && st.LastError != "" {
			detail = fmt.Sprintf("stalled %d×: %s — retry now with `muster step retry %s %s`", st.Stalls, st.LastError, e.ID, st.Name)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", st.Name, st.State, bar(st.State), detail)
	}
	tw.Flush()
	if p.Shift > 0 && p.Phase == workflows.PhaseSealed {
		fmt.Fprintf(w, "  Shifts of %gh: shift %d on duty, relieved at %s (workflow time); %d staff per gate each shift\n",
			p.ShiftHours, p.Shift, p.ShiftEndsAt.Local().Format("15:04:05"), requiredPerGate(p))
	}
	if p.OpenGates > 0 && p.Phase == workflows.PhaseSealed {
		fmt.Fprintf(w, "  Understaffed: %d of %d gates unstaffed; the district command was told, and the pool is drawn on before every round\n", p.OpenGates, len(p.Checkpoints))
	}
	if p.ComplianceRounds > 0 {
		fmt.Fprintf(w, "  Compliance: %d rounds, %d failed checks; last round %s", p.ComplianceRounds, p.FailedChecks, lastRound(p))
		if len(p.LastCompliance.Problems) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(p.LastCompliance.Problems, "; "))
		}
		fmt.Fprintln(w)
	}
	if !p.NextCheckAt.IsZero() && p.Phase == workflows.PhaseSealed {
		fmt.Fprintf(w, "  Next check at %s (workflow time). Lift with: muster lift %s --reason \"...\"\n", p.NextCheckAt.Local().Format("15:04:05"), e.ID)
	}
	if !p.LiftedAt.IsZero() {
		fmt.Fprintf(w, "  Lifted at %s by %s: %s\n", p.LiftedAt.Local().Format("2006-01-02 15:04:05"), p.LiftedBy, p.LiftReason)
	}
}

func bar(state string) string {
	switch state {
	case workflows.StateDone:
		return "[##########]"
	case workflows.StateAwaitingDecision, workflows.StateHolding:
		return "[#########.]"
	case workflows.StateUnderstaffed:
		return "[######!!!.]"
	case workflows.StateRunning, workflows.StateRetrying:
		return "[#####.....]"
	case workflows.StateStalled, workflows.StateFailed:
		return "[!!!!!!!!!!]"
	default:
		return "[..........]"
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
