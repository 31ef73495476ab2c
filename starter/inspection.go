package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func (a *app) inspectionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspection",
		Short: "Report inspected sites and follow findings to rectification (inspection-follow-up steps)",
		Long: `Inspection follow-up: inspectors report each site of the current round, with
findings or none; each finding is followed by its own workflow
(response/<incident>/finding/<id>) until the unit reports it rectified and
the assigned inspector re-inspects it. See docs/inspection.md.`,
	}
	cmd.AddCommand(a.inspectionReportCommand(), a.reportSiteCommand(), a.rectifyCommand(), a.reinspectCommand())
	return cmd
}

func (a *app) inspectionReportCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "report INCIDENT",
		Short:   "Found / rectified / overdue / escalated per sub-district and unit, shared problems and the open list",
		Example: "  muster inspection report inc-0403\n  muster inspection report inc-0403 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := workflows.ValidIncident(args[0]); err != nil {
				return err
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			r, err := st.InspectionReport(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if r.Rounds == 0 && r.Total.Found == 0 {
				return fmt.Errorf("incident %q has no inspection (its runbook needs an inspection-follow-up step, e.g. discipline-inspection)", args[0])
			}
			if a.output == "json" {
				return printJSON(a.out, r)
			}
			renderInspection(a.out, r)
			return nil
		},
	}
}

func renderInspection(w io.Writer, r store.InspectionReport) {
	t := r.Total
	fmt.Fprintf(w, "Inspection of incident %s · %d rounds · %d of %d sites reported\n", r.Incident, r.Rounds, r.SitesReported, r.Sites)
	fmt.Fprintf(w, "  %d findings: %d rectified, ", t.Found, t.Rectified)
	if t.Withdrawn > 0 {
		fmt.Fprintf(w, "%d withdrawn, ", t.Withdrawn)
	}
	fmt.Fprintf(w, "%d open, %d overdue, %d escalated to a talk\n", t.Open, t.Overdue, t.Escalated)
	table := func(title string, rows []domain.Tally) {
		if len(rows) == 0 {
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  %s\tFOUND\tRECTIFIED\tOPEN\tOVERDUE\tESCALATED\t\n", title)
		for _, x := range rows {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t\n", x.Key, x.Found, x.Rectified, x.Open, x.Overdue, x.Escalated)
		}
		tw.Flush()
	}
	table("SUB-DISTRICT", r.BySubDistrict)
	table("UNIT", r.ByUnit)
	for _, g := range r.Groups {
		fmt.Fprintf(w, "  shared: %s at %d sites of %s (%s), %d open — address the unit once\n", g.Category, len(g.Sites), g.Unit, strings.Join(g.Sites, ", "), g.Open)
	}
	for _, tk := range r.Talks {
		fmt.Fprintf(w, "  talk: %s, %s — finding %d (%s)\n", tk.Person, tk.UnitName, tk.FindingID, tk.Reason)
	}
	if len(r.Open) == 0 {
		// A finding withdrawn when the response ended was not
		// rectified: only a report whose every finding was closed says so.
		switch {
		case t.Found > 0 && t.Rectified == t.Found:
			fmt.Fprintln(w, "  all findings rectified")
		case t.Found > 0:
			fmt.Fprintf(w, "  no finding open: %d rectified, %d withdrawn unrectified when the response ended\n", t.Rectified, t.Withdrawn)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  OPEN\tSITE\tUNIT\tCATEGORY\tSEVERITY\tSTATE\tDEADLINE\tINSPECTOR\t")
	for _, f := range r.Open {
		deadline, state := "", f.State
		if f.DeadlineAt != nil {
			deadline = f.DeadlineAt.Local().Format("Jan 2 15:04")
		}
		if f.Overdue {
			state += " OVERDUE"
		}
		fmt.Fprintf(tw, "  #%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.ID, f.Site, f.Unit, f.Category, f.Severity, state, deadline, f.Inspector)
	}
	tw.Flush()
}

// parseFinding reads --finding "category=mask-checks,severity=high,unit=...,description=...".
// The description comes last and may contain commas.
func parseFinding(i int, s string) (domain.NewFinding, error) {
	var f domain.NewFinding
	rest := s
	for rest != "" {
		kv := rest
		if !strings.HasPrefix(rest, "description=") {
			kv, rest, _ = strings.Cut(rest, ",")
		} else {
			rest = ""
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("--finding %d %q: want key=value pairs (category, severity, unit, description)", i+1, s)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "category":
			f.Category = v
		case "severity":
			f.Severity = v
		case "unit":
			f.Unit = v
		case "description":
			f.Description = v
		default:
			return f, fmt.Errorf("--finding %d: unknown key %q (keys: category, severity, unit, description)", i+1, k)
		}
	}
	return f, nil
}

func (a *app) reportSiteCommand() *cobra.Command {
	var in workflows.ReportSiteInput
	var findings []string
	var none bool
	cmd := &cobra.Command{
		Use:   "report-site INCIDENT SITE",
		Short: "Report one site's inspection: its findings (--finding, repeatable), or --none",
		Long: `Report one site of the incident's current inspection round. Each --finding
is "category=C,severity=low|medium|high[,unit=U],description=TEXT" (the
description last; unit defaults to the site's sub-district office). A site
reported twice is a no-op: the first report stands.`,
		Example: `  muster inspection report-site inc-0403 SITE --inspector inspector-01 \
    --finding "category=mask-checks,severity=high,description=masks not checked at the door"
  muster inspection report-site inc-0403 SUB-DISTRICT --none`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := workflows.ValidIncident(args[0]); err != nil {
				return err
			}
			if none == (len(findings) > 0) {
				return fmt.Errorf("give the findings (--finding, repeatable) or --none, not both or neither")
			}
			in.Site = args[1]
			for i, s := range findings {
				f, err := parseFinding(i, s)
				if err != nil {
					return err
				}
				in.Findings = append(in.Findings, f)
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := api.ReportSite(cmd.Context(), c, st, args[0], in)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return printJSON(a.out, res)
			}
			switch {
			case res.Duplicate:
				fmt.Fprintf(a.out, "%s was already reported in round %d; nothing changed (findings %v).\n", res.Site, res.Round, res.Findings)
			case len(res.Findings) == 0:
				fmt.Fprintf(a.out, "%s reported in round %d: no findings.\n", res.Site, res.Round)
			default:
				fmt.Fprintf(a.out, "%s reported in round %d: findings %v, each followed until rectified (muster inspection report %s).\n", res.Site, res.Round, res.Findings, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&in.Inspector, "inspector", "", "who inspected (default the site's assigned inspector)")
	cmd.Flags().StringArrayVar(&findings, "finding", nil, `a finding: "category=C,severity=S[,unit=U],description=TEXT" (repeatable)`)
	cmd.Flags().BoolVar(&none, "none", false, "the site has no findings")
	return cmd
}

func findingArg(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("finding %q: want a finding number such as 12 (muster inspection report INCIDENT lists them)", s)
	}
	return id, nil
}

// findingArgs reads the INCIDENT and FINDING arguments of an action on a
// finding.
func findingArgs(args []string) (string, int64, error) {
	if err := workflows.ValidIncident(args[0]); err != nil {
		return "", 0, err
	}
	id, err := findingArg(args[1])
	return args[0], id, err
}

// actOnFinding connects to the store and Temporal, runs act and prints the
// finding as act left it, saying what was done.
func (a *app) actOnFinding(ctx context.Context, done string, act func(ctx context.Context, c client.Client, st *store.Store) (workflows.FindingStatus, error)) error {
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	s, err := act(ctx, c, st)
	if err != nil {
		return err
	}
	return a.printFinding(s, done)
}

func (a *app) printFinding(s workflows.FindingStatus, what string) error {
	if a.output == "json" {
		return printJSON(a.out, s)
	}
	fmt.Fprintf(a.out, "Finding %d %s: now %s", s.ID, what, s.State)
	if s.State == domain.FindingReopened {
		fmt.Fprintf(a.out, ", rectify again by %s", s.DeadlineAt.Local().Format("Jan 2 15:04"))
	}
	fmt.Fprintln(a.out, ".")
	return nil
}

func (a *app) rectifyCommand() *cobra.Command {
	var in workflows.RectifyInput
	cmd := &cobra.Command{
		Use:     "rectify INCIDENT FINDING",
		Short:   "Report a finding rectified; its assigned inspector then re-inspects it",
		Example: `  muster inspection rectify inc-0403 12 --by OFFICE --note "door staff back on duty"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			inc, id, err := findingArgs(args)
			if err != nil {
				return err
			}
			return a.actOnFinding(cmd.Context(), "reported rectified", func(ctx context.Context, c client.Client, st *store.Store) (workflows.FindingStatus, error) {
				return api.Rectify(ctx, c, st, inc, id, in)
			})
		},
	}
	cmd.Flags().StringVar(&in.By, "by", "", "who reports (default the unit responsible)")
	cmd.Flags().StringVar(&in.Note, "note", "", "what was done")
	return cmd
}

func (a *app) reinspectCommand() *cobra.Command {
	var in workflows.ReinspectInput
	var pass, fail bool
	cmd := &cobra.Command{
		Use:     "reinspect INCIDENT FINDING --by INSPECTOR --pass|--fail",
		Short:   "Re-inspect a rectified finding (the assigned inspector only): --pass closes it, --fail reopens it",
		Example: `  muster inspection reinspect inc-0403 12 --by inspector-01 --pass`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			inc, id, err := findingArgs(args)
			if err != nil {
				return err
			}
			if pass == fail {
				return fmt.Errorf("say --pass or --fail")
			}
			in.Passed = pass
			return a.actOnFinding(cmd.Context(), "re-inspected", func(ctx context.Context, c client.Client, st *store.Store) (workflows.FindingStatus, error) {
				return api.Reinspect(ctx, c, st, inc, id, in)
			})
		},
	}
	cmd.Flags().StringVar(&in.By, "by", "", "the inspector re-inspecting (required; only the assigned inspector may)")
	cmd.Flags().BoolVar(&pass, "pass", false, "the rectification holds: close the finding")
	cmd.Flags().BoolVar(&fail, "fail", false, "the rectification does not hold: reopen the finding with a new deadline")
	cmd.Flags().StringVar(&in.Note, "note", "", "what was seen")
	return cmd
}
