package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/workflows"
)

func (a *app) testingCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testing",
		Short: "Follow and steer testing rounds (mass-testing steps)",
	}
	status := &cobra.Command{
		Use:     "status WORKFLOW_ID",
		Short:   "Show a testing round: per-point progress, cohorts, home visits, projected finish",
		Example: `  muster testing status response/inc-0403/test`,
		Args:    cobra.ExactArgs(1),
		RunE:    showProgress(a, "is it a testing round? find it with `muster status INCIDENT`", renderTesting),
	}
	var add workflows.AddPointInput
	addPoint := &cobra.Command{
		Use:   "add-point WORKFLOW_ID SITE",
		Short: "Open another sampling point in a running round (what a behind-schedule notice recommends)",
		Long: `Open another sampling point in a running testing round: the site (a
sampling point of the scenario) takes over compounds from the busiest point.
WORKFLOW_ID is the round's workflow ID, as the behind-schedule notice names it.`,
		Example: `  muster testing add-point response/inc-0403/test SITE --reason "behind schedule"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			add.Site = args[1]
			if err := update(cmd.Context(), c, args[0], workflows.UpdateAddPoint, add); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Opening sampling point %s in %s.\n", args[1], args[0])
			return nil
		},
	}
	addPoint.Flags().StringVar(&add.Reason, "reason", "", "why")
	addPoint.Flags().StringVar(&add.By, "by", "command-center", "who decides")
	cmd.AddCommand(status, addPoint)
	return cmd
}

func renderTesting(w io.Writer, id string, p workflows.TestingProgress) {
	clock := func(t time.Time) string {
		return p.OpensAt.Add(time.Duration(float64(t.Sub(p.OpensAt)) * p.TimeScale)).Local().Format("15:04")
	}
	fmt.Fprintf(w, "%s · %s round %d · %s · %d / %d sampled", id, p.Area, p.Round, p.State, p.Sampled, p.Expected)
	if p.Positives > 0 {
		fmt.Fprintf(w, " · %d POSITIVE", p.Positives)
	}
	fmt.Fprintln(w)
	done := p.State == workflows.StateDone
	line := "  deadline " + clock(p.Deadline)
	switch {
	case done && p.MinCoverage > 0 && !p.Clean:
		line += fmt.Sprintf(" · closed NOT CLEAN: %.1f%% sampled (min %.0f%%)", p.Coverage*100, p.MinCoverage*100)
	case done && p.MinCoverage > 0:
		line += fmt.Sprintf(" · closed clean: %.1f%% sampled", p.Coverage*100)
	case done:
		line += " · closed"
	default:
		// Projections and warnings describe a round still running; once it
		// has closed only its final state is shown.
		if !p.Projected.IsZero() {
			line += " · projected finish " + clock(p.Projected)
		}
		if p.Behind {
			line += " · BEHIND SCHEDULE (`muster testing add-point " + id + " SITE`)"
		}
		if p.Short != "" {
			line += " · PLAN SHORT: " + p.Short
		}
	}
	fmt.Fprintln(w, line)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  POINT\tSAMPLED\tEXPECTED\tPER HOUR\tCAPACITY\tPLANNED\tPROJECTED\t")
	for _, pt := range p.Points {
		full := 0
		if pt.Expected > 0 {
			full = min(pt.Sampled*10/pt.Expected, 10)
		}
		planned, projected := "-", "-"
		if !pt.Planned.IsZero() {
			planned = clock(pt.Planned)
		}
		if !pt.Projected.IsZero() && !done {
			projected = clock(pt.Projected)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.0f\t%d\t%s\t%s\t[%s%s]\n", pt.Code, pt.Sampled, pt.Expected, pt.PerHour, pt.Capacity, planned, projected,
			strings.Repeat("#", full), strings.Repeat(".", 10-full))
	}
	tw.Flush()
	for _, s := range p.Slots {
		cohort := s.Cohort
		if s.SiteName != "" {
			cohort += " of " + s.SiteName
		}
		fmt.Fprintf(w, "  %s: called %s–%s (%d)\n", cohort, clock(s.From), clock(s.To), s.Expected)
	}
	fmt.Fprintf(w, "  home visits: %d sampled, %d missed, %d pending\n", p.Visits.Sampled, p.Visits.Missed, p.Visits.Pending)
	if p.State == workflows.StateDone {
		fmt.Fprintf(w, "  closed: %d missing — the call-back list: muster samples missing %s --area CODE --round %d\n", p.Missing, p.Incident, p.Round)
	}
}
