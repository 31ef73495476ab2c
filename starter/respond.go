package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func (a *app) respondCommand() *cobra.Command {
	var in workflows.ResponseInput
	var runbookRef string
	cmd := &cobra.Command{
		Use:   "respond --incident ID --runbook NAME[@VERSION] --area CODE",
		Short: "Open an incident's response with a runbook (a second trigger returns the running one)",
		Long: `Open the response to an incident: the Response workflow (response/<incident>)
pins the runbook's version, runs its steps as child workflows under
response/<incident>/..., and holds until its seals are lifted.

Triggering the same incident again returns the running response and never
starts a second one. List runbooks with ` + "`muster runbook list`" + ` and areas with
` + "`muster areas`" + `.`,
		Example: `  muster respond --incident inc-0403 --runbook community-outbreak-level-1 --area COMMUNITY
  muster respond --incident inc-0404 --runbook seal-compound@1 --area COMPOUND --time-scale 720`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.respond(cmd.Context(), in, runbookRef)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Incident, "incident", "", "incident ID, e.g. inc-0403")
	f.StringVar(&runbookRef, "runbook", "", "runbook name, optionally @VERSION to pin one (default: the latest)")
	f.StringVar(&in.Area, "area", "", "code or path of the area the response covers")
	f.IntVar(&in.Level, "level", 0, "response level 1 (highest) to 4 (default: the runbook's)")
	f.Float64Var(&in.TimeScale, "time-scale", 1, "speed up every duration (720: two hours last ten seconds)")
	f.StringVar(&in.RequestedBy, "by", "command-center", "who opens the response, for the event log")
	return cmd
}

// respond checks the runbook against the area and the registry, then
// opens the response (or finds it running).
func (a *app) respond(ctx context.Context, in workflows.ResponseInput, runbookRef string) error {
	name, version, err := parseRunbookRef(runbookRef)
	if err != nil {
		return err
	}
	in.Runbook, in.Version = name, version
	if err := in.WithDefaults().Validate(); err != nil {
		return err
	}
	s, err := a.store(ctx)
	if err != nil {
		return err
	}
	rb, err := s.Runbook(ctx, name, version)
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("%w: list runbooks with `muster runbook list`, publish one with `muster runbook publish FILE`", err)
	}
	if err != nil {
		return err
	}
	area, err := s.AreaIn(ctx, a.district, in.Area)
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("unknown area %q: list areas with `muster areas` (is the scenario loaded?)", in.Area)
	}
	if err != nil {
		return err
	}
	if a.district != "" {
		// The path names the area alone, whichever districts share its code.
		in.Area = area.Path
	}
	def, err := runbook.Parse(fmt.Sprintf("%s version %d", rb.Name, rb.Version), []byte(rb.Source), workflows.Kinds)
	if err != nil {
		return fmt.Errorf("runbook %s version %d does not validate (publish a fixed version): %w", rb.Name, rb.Version, err)
	}
	if def.Area != "" && def.Area != area.Level {
		return fmt.Errorf("runbook %s is for a %s, and %s is a %s: pick an area of that level (`muster areas --level %s`)", rb.Name, def.Area, area.Code, area.Level, def.Area)
	}
	if err := service.CheckAreas(ctx, s, fmt.Sprintf("%s version %d", rb.Name, rb.Version), def); err != nil {
		return fmt.Errorf("runbook %s version %d names areas the scenario does not have (publish a fixed version):\n%w", rb.Name, rb.Version, err)
	}
	warn, err := staffingWarning(ctx, s, def, area.Path)
	if err != nil {
		return err
	}
	if warn != "" {
		fmt.Fprintln(a.out, warn)
	}
	// A round that cannot finish by its deadline is said before the
	// response starts, while points can still be added.
	warnings, err := service.TestingCapacityWarnings(ctx, s, def, area)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(a.out, w)
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	id, existing, err := service.StartResponse(ctx, c, a.cfg.TaskQueue, in, fmt.Sprintf("%s v%d · %s", rb.Name, rb.Version, area.Name))
	if err != nil {
		return err
	}
	if existing {
		fmt.Fprintf(a.out, "The response to %s is already running: %s (a second trigger does not start another).\n", in.Incident, id)
	} else {
		fmt.Fprintf(a.out, "Opened %s: runbook %s version %d over %s (%s).\n", id, rb.Name, rb.Version, area.Name, area.Path)
	}
	fmt.Fprintf(a.out, "Follow it: muster watch %s   (Web UI: MusterIncident = '%s')\n", in.Incident, in.Incident)
	return nil
}

// staffingWarning says when a runbook's seals will need more checkpoint
// staff over a day than the registry of the area holds, with the figures;
// it is empty when they need no more, or the runbook seals nothing.
func staffingWarning(ctx context.Context, s *store.Store, def *runbook.Definition, path string) (string, error) {
	per, shifts, ok := workflows.SealStaffing(def)
	if !ok {
		return "", nil
	}
	have, err := s.StaffingOf(ctx, path)
	if err != nil {
		return "", err
	}
	need := workflows.StaffingNeed{Gates: have.Gates, PerCheckpoint: per, Shifts: shifts, Registry: have.Staff}
	if !need.Short() {
		return "", nil
	}
	return fmt.Sprintf("Staffing: %s. Seals read understaffed while gates stand open; they draw on the pool before every round, and the district command is told.", need), nil
}

func parseRunbookRef(ref string) (string, int, error) {
	name, v, ok := strings.Cut(ref, "@")
	if strings.TrimSpace(name) == "" {
		return "", 0, errors.New("--runbook is required: a runbook name such as community-outbreak-level-1 (list them with `muster runbook list`)")
	}
	if !ok {
		return name, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("--runbook %s: the version after @ must be a number from 1", ref)
	}
	return name, n, nil
}

// responseID returns the response workflow behind an incident or response
// ID, when there is one.
func responseID(ctx context.Context, c client.Client, arg string) (string, bool) {
	id := arg
	if !strings.HasPrefix(arg, "response/") {
		id = workflows.ResponseWorkflowID(arg)
	}
	if strings.Count(id, "/") != 1 {
		return "", false
	}
	desc, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil || desc.WorkflowType.Name != workflows.ResponseName {
		return "", false
	}
	return id, true
}

func queryResponse(ctx context.Context, c client.Client, id string) (workflows.ResponseProgress, error) {
	return queryProgress[workflows.ResponseProgress](ctx, c, id, "is a worker running? `make demo` starts one, or run muster-worker")
}

// queryProgress asks a workflow for its progress; hint says what to check
// when it does not answer.
func queryProgress[T any](ctx context.Context, c client.Client, id, hint string) (T, error) {
	var p T
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
	if err != nil {
		return p, fmt.Errorf("progress of %s: %v (%s)", id, err, hint)
	}
	if err := v.Get(&p); err != nil {
		return p, fmt.Errorf("progress of %s: %w", id, err)
	}
	return p, nil
}

// renderResponse writes the response's tree with a bar per step.
func renderResponse(w io.Writer, p workflows.ResponseProgress) {
	fmt.Fprintf(w, "%s · %s v%d · level %d · %s (%s) · %s\n", workflows.ResponseWorkflowID(p.Incident), p.Runbook, p.Version, p.Level, p.Area.Name, p.Area.Path, p.State)
	if len(p.Added) > 0 {
		var names []string
		for _, ar := range p.Added {
			names = append(names, ar.Path)
		}
		fmt.Fprintf(w, "  added areas: %s\n", strings.Join(names, ", "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tAREA\tSTATE\t\tDETAIL")
	var walk func(n *workflows.Node, depth int)
	walk = func(n *workflows.Node, depth int) {
		if n.Path != "" {
			state := n.State
			if n.Held && n.State != workflows.StateUnderstaffed {
				state = "holding"
			}
			if n.Paused {
				state += " (paused)"
			}
			if n.Overdue && state != workflows.StateOverdue {
				state += " (overdue)"
			}
			area := ""
			if n.Area != nil {
				area = n.Area.Name
			}
			detail := n.Detail
			if n.State == workflows.StateStalled {
				detail = fmt.Sprintf("%s failed %d×: %s — `muster step retry|skip|abort %s %s`", n.Inner, n.Stalls, n.LastError, p.Incident, n.Path)
			}
			fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\t%s\n", strings.Repeat("  ", depth), n.Path, area, state, nodeBar(n), detail)
			depth++
		}
		for _, c := range n.Children {
			walk(c, depth)
		}
	}
	if p.Root != nil {
		walk(p.Root, 0)
	}
	tw.Flush()
	if p.LiftedBy != "" {
		fmt.Fprintf(w, "  Lifted by %s: %s\n", p.LiftedBy, p.LiftReason)
	}
}

// nodeBar shows how many of a node's steps have ended.
func nodeBar(n *workflows.Node) string {
	total, ended := 0, 0
	var count func(m *workflows.Node)
	count = func(m *workflows.Node) {
		if _, ok := workflows.Kinds[m.Type]; ok {
			total++
			if m.State == workflows.StateDone || m.State == workflows.StateSkipped || m.State == workflows.StateAborted || m.State == workflows.StateFailed || m.State == workflows.StateCancelled || m.Held {
				ended++
			}
		}
		for _, c := range m.Children {
			count(c)
		}
	}
	count(n)
	if total == 0 {
		return bar(n.State)
	}
	full := ended * 10 / total
	mark := "#"
	if n.State == workflows.StateStalled || n.State == workflows.StateFailed {
		mark = "!"
	}
	return "[" + strings.Repeat(mark, full) + strings.Repeat(".", 10-full) + "]"
}

// watchSnapshot is one line of `watch --output json`.
type watchSnapshot struct {
	At       time.Time                  `json:"at"`
	Progress workflows.ResponseProgress `json:"progress"`
}

// stepsFinished counts the response's steps that have ended and how many
// it has.
func stepsFinished(p workflows.ResponseProgress) (done, total int) {
	for _, n := range p.Leaves() {
		total++
		switch n.State {
		case workflows.StateDone, workflows.StateFailed, workflows.StateSkipped, workflows.StateAborted, workflows.StateCancelled:
			done++
		}
	}
	return done, total
}

func (a *app) watchCommand() *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a response (or a seal) live until it ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			id, ok := responseID(ctx, c, args[0])
			if !ok {
				return fmt.Errorf("no response %q: give an incident with a response (see `muster list`), or use `muster status` for seals", args[0])
			}
			var b *progressBar
			defer func() { b.Finish() }()
			for {
				p, err := queryResponse(ctx, c, id)
				if err != nil {
					return err
				}
				if a.output == "json" {
					// One compact JSON object a line, so a program reads
					// each snapshot as it comes.
					if err := json.NewEncoder(a.out).Encode(watchSnapshot{At: time.Now().UTC(), Progress: p}); err != nil {
						return err
					}
				} else {
					b.Clear()
					fmt.Fprintf(a.out, "\n%s\n", time.Now().Format("15:04:05"))
					renderResponse(a.out, p)
					done, total := stepsFinished(p)
					if b == nil {
						b = a.newBar(int64(total), "steps finished")
					}
					b.Progress(done, total)
				}
				if p.State == workflows.ResponseClosed || p.State == workflows.ResponseFailed && !p.FinishedAt.IsZero() {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&every, "every", 3*time.Second, "time between refreshes")
	return cmd
}

func (a *app) escalateCommand() *cobra.Command {
	var in workflows.EscalateInput
	cmd := &cobra.Command{
		Use:     "escalate INCIDENT --level N --reason TEXT",
		Short:   "Change a response's level (1 highest to 4)",
		Example: `  muster escalate inc-0403 --level 1 --reason "cases found in a second compound"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.responseUpdate(cmd.Context(), args[0], workflows.UpdateEscalate, in,
				fmt.Sprintf("Response %s is now at level %d.", args[0], in.Level))
		},
	}
	cmd.Flags().IntVar(&in.Level, "level", 0, "the new level, 1 (highest) to 4")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&in.By, "by", "command-center", "who decides")
	return cmd
}

func (a *app) addAreaCommand() *cobra.Command {
	var in workflows.AddAreaInput
	cmd := &cobra.Command{
		Use:     "add-area INCIDENT --area CODE --reason TEXT",
		Short:   "Widen a response to another area: its for_each steps take in the new area's compounds",
		Example: `  muster add-area inc-0403 --area COMMUNITY --reason "cases next door"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.responseUpdate(cmd.Context(), args[0], workflows.UpdateAddArea, in,
				fmt.Sprintf("Area %s added to response %s.", in.Area, args[0]))
		},
	}
	cmd.Flags().StringVar(&in.Area, "area", "", "code of the area to add")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&in.By, "by", "command-center", "who decides")
	return cmd
}

// responseUpdate sends a validated update to an incident's response.
func (a *app) responseUpdate(ctx context.Context, arg, name string, in any, done string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	id, ok := responseID(ctx, c, arg)
	if !ok {
		return fmt.Errorf("no response for %q: check the incident with `muster list`", arg)
	}
	if err := update(ctx, c, id, name, in); err != nil {
		return err
	}
	fmt.Fprintln(a.out, done)
	return nil
}

// stepActionCommands are the operator's actions on a step of a response.
func (a *app) stepActionCommands() []*cobra.Command {
	type action struct {
		use, short, update string
		reason             bool
	}
	var cmds []*cobra.Command
	for _, act := range []action{
		{"skip", "Give up a step (stalled, running or awaiting a decision) with a reason; the runbook goes on", workflows.UpdateSkip, true},
		{"abort", "Stop a step with a reason; the steps after it in its sequence do not run", workflows.UpdateAbort, true},
		{"pause", "Pause a step: it (or its next round or area) does not start until resumed", workflows.UpdatePause, false},
		{"resume", "Resume a paused step", workflows.UpdateResume, false},
	} {
		var in workflows.StepAction
		cmd := &cobra.Command{
			Use:   act.use + " INCIDENT STEP",
			Short: act.short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				in.Step = args[1]
				return a.responseUpdate(cmd.Context(), args[0], act.update, in, fmt.Sprintf("%s: %s of %s.", act.use, args[1], args[0]))
			},
		}
		if act.reason {
			cmd.Flags().StringVar(&in.Reason, "reason", "", "why (required, kept in the event log)")
		} else {
			cmd.Flags().StringVar(&in.Reason, "reason", "", "why (kept in the event log)")
		}
		cmd.Flags().StringVar(&in.By, "by", "command-center", "who acts")
		cmds = append(cmds, cmd)
	}
	var d workflows.Decision
	var locale string
	decide := &cobra.Command{
		Use:   "decide INCIDENT STEP approve|reject",
		Short: "Answer an approval step, or a seal's request for staff from outside the district",
		Example: `  muster step decide inc-0403 approve-lift approve --reason "two rounds negative"
  muster step decide inc-0403 seal/COMPOUND approve --reason "borrow from the next district"`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLocale(locale); err != nil {
				return err
			}
			d.Step, d.Decision = args[1], args[2]
			done := fmt.Sprintf("%s: %s of %s.", d.Decision, args[1], args[0])
			if q := a.question(cmd.Context(), args[0], d.Step, locale); q != "" {
				done = fmt.Sprintf("%s: %s of %s — %s", d.Decision, args[1], args[0], q)
			}
			return a.responseUpdate(cmd.Context(), args[0], workflows.UpdateDecide, d, done)
		},
	}
	decide.Flags().StringVar(&locale, "locale", "", "language of the question shown: en or zh-CN (default: the incident's)")
	decide.Flags().StringVar(&d.Reason, "reason", "", "why")
	decide.Flags().StringVar(&d.By, "by", "command-center", "who decides")
	return append(cmds, decide)
}

// showProgress is the RunE of a command that shows one step's progress:
// it queries the workflow ID given (hint says what to check when it does
// not answer) and prints the progress as JSON (-o json) or with render.
func showProgress[P any](a *app, hint string, render func(w io.Writer, id string, p P)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cmd.Context())
		if err != nil {
			return err
		}
		p, err := queryProgress[P](cmd.Context(), c, args[0], hint)
		if err != nil {
			return err
		}
		if a.output == "json" {
			return printJSON(a.out, p)
		}
		render(a.out, args[0], p)
		return nil
	}
}

// question is the question of an approval awaiting a decision, in locale
// (the incident's when empty), or empty when the step asks none or the
// response does not answer: the decision goes ahead without it.
func (a *app) question(ctx context.Context, incident, step, locale string) string {
	c, err := a.client(ctx)
	if err != nil {
		return ""
	}
	id, ok := responseID(ctx, c, incident)
	if !ok {
		return ""
	}
	p, err := queryResponse(ctx, c, id)
	if err != nil {
		return ""
	}
	return askedIn(p, step, locale)
}

// askedIn is the question a step of a response asks, in locale, or in the
// response's own language when locale is empty.
func askedIn(p workflows.ResponseProgress, step, locale string) string {
	n := p.Find(step)
	if n == nil || n.Ask == nil {
		return ""
	}
	if locale == "" {
		locale = p.Locale
	}
	return n.Ask.In(locale)
}

// checkLocale refuses a --locale Muster does not speak; empty is the
// incident's.
func checkLocale(locale string) error {
	if locale != "" && !i18n.Valid(locale) {
		return fmt.Errorf("--locale %q: use %s", locale, strings.Join(i18n.Locales, " or "))
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
