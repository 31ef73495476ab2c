package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/workflows"
)

func (a *app) liftCommand() *cobra.Command {
	var (
		in   workflows.LiftInput
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "lift ID --reason TEXT",
		Short: "Lift a response, a seal (workflow ID) or every sealed compound of an incident",
		Long: `Lift a seal: its checkpoints close, staff are released, roads reopen and
residents are notified. ID is an incident ID or a workflow ID. When the
incident has a response, the response is lifted: what runs is cancelled and
every seal lifted, and --wait waits for it to close and shows its steps.
Otherwise ID names seals started with ` + "`muster seal start`" + `: a seal's
workflow ID, or an incident ID (then every compound of the incident that is
sealed is lifted). A lift is refused when the compound is not sealed (still
being set up, or already lifted).`,
		Example: `  muster lift inc-0403 --reason "two rounds negative"
  muster lift response/inc-0403/seal/COMPOUND --reason "cleared by the health bureau" --by duty-officer`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(in.Reason) == "" {
				return errors.New("--reason is required: say why the seal is lifted, for the event log")
			}
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			if id, ok := responseID(ctx, c, args[0]); ok {
				return a.liftResponse(ctx, c, id, args[0], in, wait)
			}
			return a.liftSeals(ctx, c, args[0], in, wait)
		},
	}
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why the seal is lifted (required, kept in the event log)")
	cmd.Flags().StringVar(&in.By, "by", "command-center", "who lifts the seal")
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "wait this long for the compounds to reopen (0: do not wait)")
	return cmd
}

// liftResponse lifts the response id (given as arg) and, unless wait is 0,
// waits for it to close and shows its steps.
func (a *app) liftResponse(ctx context.Context, c client.Client, id, arg string, in workflows.LiftInput, wait time.Duration) error {
	if err := update(ctx, c, id, workflows.UpdateLift, in); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "Lift accepted: %s\n", id)
	if wait <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var p workflows.ResponseProgress
	if err := c.GetWorkflow(wctx, id, "").Get(wctx, &p); err != nil {
		return fmt.Errorf("%s has not closed within %s; follow it with `muster watch %s`", id, wait, arg)
	}
	renderResponse(a.out, p)
	return nil
}

// liftSeals lifts the seal arg names, or every sealed compound of the
// incident arg, and unless wait is 0 waits for them to reopen.
func (a *app) liftSeals(ctx context.Context, c client.Client, arg string, in workflows.LiftInput, wait time.Duration) error {
	execs, err := targets(ctx, c, arg)
	if err != nil {
		return err
	}
	var lifted []execution
	var refused []string
	for _, e := range execs {
		if !running(e) {
			if len(execs) == 1 {
				return fmt.Errorf("%s is %s, not sealed: nothing to lift", e.ID, e.Status)
			}
			continue
		}
		if err := update(ctx, c, e.ID, workflows.UpdateLift, in); err != nil {
			if len(execs) == 1 {
				return err
			}
			refused = append(refused, fmt.Sprintf("%s: %v", e.ID, err))
			continue
		}
		fmt.Fprintf(a.out, "Lift accepted: %s\n", e.ID)
		lifted = append(lifted, e)
	}
	for _, r := range refused {
		fmt.Fprintf(a.out, "Refused: %s\n", r)
	}
	if len(lifted) == 0 {
		return fmt.Errorf("nothing was lifted: no compound of %s is sealed (see `muster status %s`)", arg, arg)
	}
	if wait <= 0 {
		return nil
	}
	return a.awaitLifted(ctx, c, lifted, wait)
}

// update sends a validated update and waits until the workflow has carried
// it out or refused it; a refusal carries the validator's words.
func update(ctx context.Context, c client.Client, id, name string, arg any) error {
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return api.Update(uctx, c, id, name, arg, nil)
}

func (a *app) awaitLifted(ctx context.Context, c client.Client, execs []execution, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, e := range execs {
		var res workflows.SealCompoundResult
		if err := c.GetWorkflow(wctx, e.ID, "").Get(wctx, &res); err != nil {
			if wctx.Err() != nil {
				return fmt.Errorf("%s has not reopened within %s; follow it with `muster status %s`", e.ID, wait, e.ID)
			}
			return fmt.Errorf("%s: %w", e.ID, err)
		}
		fmt.Fprintf(a.out, "Reopened %s: %d checkpoint(s) closed, %d staff released, %d roads reopened after %d compliance rounds.\n",
			res.Compound, res.Checkpoints, res.StaffReleased, res.RoadsReopened, res.ComplianceRounds)
	}
	return nil
}

func (a *app) stepCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "step",
		Short: "Act on a step of a running response or seal: retry, skip, abort, pause, resume, decide",
	}
	var by string
	retry := &cobra.Command{
		Use:   "retry INCIDENT|WORKFLOW_ID STEP",
		Short: "Retry a stalled step now instead of waiting for the automatic retry",
		Long: `A step whose retries ran out is marked stalled and retried automatically on a
slower cadence; one whose error is not retryable (bad input) is stalled once and
waits for a person to fix the data. retry tries it again now. It is refused for an unknown step or
one that is not stalled; ` + "`muster status WORKFLOW_ID`" + ` lists the steps.`,
		Example: `  muster step retry inc-0403 seal/COMPOUND
  muster step retry response/inc-0403/seal/COMPOUND close-roads`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			target := args[0]
			if id, ok := responseID(cmd.Context(), c, args[0]); ok {
				target = id
			}
			if err := update(cmd.Context(), c, target, workflows.UpdateRetry, workflows.RetryInput{Step: args[1], By: by}); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Retrying %s of %s.\n", args[1], args[0])
			return nil
		},
	}
	retry.Flags().StringVar(&by, "by", "command-center", "who asks for the retry")
	cmd.AddCommand(retry)
	cmd.AddCommand(a.stepActionCommands()...)
	return cmd
}

func (a *app) listCommand() *cobra.Command {
	var incident, area, state string
	var running bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List Muster executions, filtered by incident, area or step state",
		Example: `  muster list --area DISTRICT/SUB-DISTRICT
  muster list --state stalled
  muster list --incident inc-0403 --running`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := []string{workflows.SAIncident.GetName() + " IS NOT NULL"}
			if incident != "" {
				q = append(q, workflows.SAIncident.GetName()+" = "+quote(incident))
			}
			if area != "" {
				q = append(q, workflows.SAAreaPath.GetName()+" = "+quote(area))
			}
			if state != "" {
				if !slices.Contains(workflows.StepStates, state) {
					return fmt.Errorf("--state %q: want one of %s", state, strings.Join(workflows.StepStates, ", "))
				}
				q = append(q, workflows.SAStepState.GetName()+" = "+quote(state))
			}
			if running {
				q = append(q, "ExecutionStatus = 'Running'")
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			execs, err := listExecutions(cmd.Context(), c, strings.Join(q, " AND "))
			if err != nil {
				return err
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(execs)
			}
			if len(execs) == 0 {
				fmt.Fprintln(a.out, "No executions match.")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW ID\tSTATUS\tSTEP\tSTATE\tLEVEL\tSTARTED")
			for _, e := range execs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Status, e.Step, e.StepState, e.Level, e.StartedAt.Local().Format("01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&incident, "incident", "", "only this incident")
	cmd.Flags().StringVar(&area, "area", "", "only executions in or under this area path, e.g. DISTRICT/SUB-DISTRICT")
	cmd.Flags().StringVar(&state, "state", "", "only steps in this state: running, retrying, stalled, awaiting-decision (a person's decision), holding, understaffed (a seal with gates open), overdue, done, …")
	cmd.Flags().BoolVar(&running, "running", false, "only running executions")
	return cmd
}

func (a *app) eventsCommand() *cobra.Command {
	var workflowID string
	cmd := &cobra.Command{
		Use:   "events INCIDENT",
		Short: "Print the step event log of an incident (who did what, when, why)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := workflows.ValidIncident(args[0]); err != nil {
				return err
			}
			s, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			evs, err := s.Events(cmd.Context(), args[0], workflowID)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if evs == nil {
					// An incident without events is an empty list, not null.
					evs = []domain.Event{}
				}
				return json.NewEncoder(a.out).Encode(evs)
			}
			if len(evs) == 0 {
				return fmt.Errorf("no events for incident %q (check the ID with `muster list`)", args[0])
			}
			return renderEvents(a, evs)
		},
	}
	cmd.Flags().StringVar(&workflowID, "workflow", "", "only the events of this workflow ID")
	return cmd
}

func renderEvents(a *app, evs []domain.Event) error {
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWORKFLOW\tSTEP\tSTATE\tACTOR\tREASON")
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("15:04:05"), strings.TrimPrefix(e.WorkflowID, "response/"), e.Step, e.State, e.Actor, e.Reason)
	}
	return tw.Flush()
}
