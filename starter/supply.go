package main

// muster supply: the field's and the command center's side of staff
// supply (docs/supply.md).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func (a *app) supplyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "supply",
		Short: "Staff and supplies: assignments, acknowledgements, volunteers, stock, deliveries, passes",
		Long: `Staff supply in the field and at the command center (docs/supply.md).
A staff-supply step assigns people to posts and sends each a mobilization
notice naming the assignment; they acknowledge it with 'supply ack'.
Suppliers report stock with 'supply report-stock' and confirm restock
deliveries with 'supply deliver'; checkpoints verify passes with
'supply pass verify'.`,
	}
	cmd.AddCommand(a.supplyStatusCommand(), a.supplyAssignmentsCommand(), a.supplyAckCommand(), a.supplySignupCommand(),
		a.supplyReportStockCommand(), a.supplyStockCommand(), a.supplyShipmentsCommand(), a.supplyDeliverCommand(), a.supplyPassCommand())
	return cmd
}

func (a *app) supplyStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "status WORKFLOW_ID",
		Short:   "Show a staff-supply step: staff assigned and acknowledged, days of supply per area, orders",
		Example: `  muster supply status response/inc-0403/supply`,
		Args:    cobra.ExactArgs(1),
		RunE:    showProgress(a, "is it a staff-supply step? find it with `muster status INCIDENT`", renderSupply),
	}
}

func renderSupply(w io.Writer, id string, p workflows.SupplyProgress) {
	m := p.Staff
	fmt.Fprintf(w, "%s · %s · %s\n", id, p.Area, p.State)
	fmt.Fprintf(w, "Staff: %d of %d assigned at %d posts · %d acknowledged · %d waiting · %d reassigned · %d short · %d passes\n",
		m.Assigned, m.Needed, m.Posts, m.Acknowledged, m.Pending, m.Lapsed, m.Shortfall, m.Passes)
	if v := p.Volunteers; v != nil {
		fmt.Fprintf(w, "Volunteers: %d of %d signed up\n", v.SignedUp, v.Quota)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AREA\tCOMMODITY\tSTOCK t\tNEED t/DAY\tDAYS\tRESTOCK")
	for _, l := range p.Levels {
		days := "-"
		if l.NeedPerDay > 0 {
			days = fmt.Sprintf("%.1f", l.Days)
			if l.Low {
				days += " LOW"
			}
		}
		order := ""
		if o := l.Order; o != nil {
			order = fmt.Sprintf("#%d %g t from %s, %s", o.ID, o.Tonnes, o.Site, o.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.2f\t%s\t%s\n", l.Area, l.Commodity, l.Stock, l.NeedPerDay, days, order)
	}
	tw.Flush()
	fmt.Fprintf(w, "Restock orders: %d · delivered %d · late %d · escalations %d\n", p.Orders, p.Delivered, p.Late, len(p.Escalations))
}

func (a *app) supplyAssignmentsCommand() *cobra.Command {
	var staff string
	cmd := &cobra.Command{
		Use:     "assignments INCIDENT",
		Short:   "List an incident's staff assignments (of one person with --staff)",
		Example: `  muster supply assignments inc-0403 --staff teacher-007`,
		Args:    cobra.ExactArgs(1),
		RunE: listRows(a, func(ctx context.Context, st *store.Store, args []string) ([]domain.Assignment, error) {
			return st.Assignments(ctx, args[0], staff)
		}, "ID\tSTAFF\tPOST\tSTATE\tACK BY\tSHIFT", func(x domain.Assignment) string {
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s–%s", x.ID, x.Staff, x.Post, x.State, x.AckBy.Local().Format("15:04:05"),
				x.From.Local().Format("01-02 15:04"), x.To.Local().Format("01-02 15:04"))
		}),
	}
	cmd.Flags().StringVar(&staff, "staff", "", "only this person's (a staff code)")
	return cmd
}

func (a *app) supplyAckCommand() *cobra.Command {
	var staff string
	cmd := &cobra.Command{
		Use:   "ack ASSIGNMENT --staff CODE",
		Short: "Acknowledge your assignment (the number in your mobilization notice)",
		Long: `Acknowledge an assignment before its deadline; an assignment nobody
acknowledges in time goes to someone else. Only the person assigned can
acknowledge it. While the step runs, the acknowledgement is a validated
update of its workflow.`,
		Example: `  muster supply ack 1234 --staff teacher-007`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("assignment %q: want the assignment's number from your notice", args[0])
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			as, err := api.Acknowledge(cmd.Context(), st, c, id, staff)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Assignment %d (%s at %s) acknowledged.\n", as.ID, as.Staff, as.Post)
			return nil
		},
	}
	cmd.Flags().StringVar(&staff, "staff", "", "your staff code (required)")
	_ = cmd.MarkFlagRequired("staff")
	return cmd
}

func (a *app) supplySignupCommand() *cobra.Command {
	var u store.SignUp
	cmd := &cobra.Command{
		Use:     "signup INCIDENT --area AREA --key ID --name NAME",
		Short:   "Sign up a volunteer for an incident's volunteer drive (until its quota or deadline)",
		Example: `  muster supply signup inc-0403 --area CAMPUS --key form-0001 --name "Wang Fang" --skill registration`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			u.Incident = args[0]
			res, err := st.SignUpVolunteer(cmd.Context(), u, time.Now())
			if err != nil {
				return err
			}
			if a.output == "json" {
				return printJSON(a.out, res)
			}
			fmt.Fprintf(a.out, "Signed up as %s (%d of %d).\n", res.Staff, res.SignedUp, res.Quota)
			return nil
		},
	}
	cmd.Flags().StringVar(&u.Area, "area", "", "the drive's area code (required)")
	cmd.Flags().StringVar(&u.Key, "key", "", "the sign-up's ID, e.g. a form submission (required; sent twice, it counts once)")
	cmd.Flags().StringVar(&u.Name, "name", "", "the volunteer's name (required)")
	cmd.Flags().StringSliceVar(&u.Skills, "skill", nil, "a skill code (repeatable)")
	for _, f := range []string{"area", "key", "name"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func (a *app) supplyReportStockCommand() *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "report-stock SITE COMMODITY TONNES [SITE COMMODITY TONNES ...]",
		Short: "Report suppliers' stock in tonnes; a bad row refuses the whole report",
		Long: `Report the stock of suppliers (supermarkets and markets of the scenario),
one SITE COMMODITY TONNES triple per row. Commodities: ` + strings.Join(scenario.Commodities, ", ") + `, and those the loaded scenarios add.
An unknown supplier or commodity, a negative figure or one above 100,000 t
refuses the report; nothing is recorded.`,
		Example: `  muster supply report-stock meiteihao-kangning vegetables 4.5 meiteihao-kangning milk 2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args)%3 != 0 {
				return fmt.Errorf("give SITE COMMODITY TONNES triples (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var rows []store.StockRow
			for i := 0; i < len(args); i += 3 {
				t, err := strconv.ParseFloat(args[i+2], 64)
				if err != nil {
					return fmt.Errorf("rows[%d].tonnes: %q is not a number", i/3, args[i+2])
				}
				rows = append(rows, store.StockRow{Site: args[i], Commodity: args[i+1], Tonnes: t})
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			n, err := st.ReportStock(cmd.Context(), a.district, rows, by)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Recorded %d stock levels.\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who reports")
	return cmd
}

func (a *app) supplyStockCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "stock AREA",
		Short:   "Show the stock of the suppliers serving an area",
		Example: `  muster supply stock COMMUNITY`,
		Args:    cobra.ExactArgs(1),
		RunE: listRows(a, func(ctx context.Context, st *store.Store, args []string) ([]store.StockRow, error) {
			rows, err := st.Stock(ctx, a.district, args[0])
			if errors.Is(err, domain.ErrNotFound) {
				return nil, fmt.Errorf("area %q: %w (list them with `muster areas`)", args[0], err)
			}
			return rows, err
		}, "SUPPLIER\tCOMMODITY\tTONNES", func(r store.StockRow) string {
			return fmt.Sprintf("%s\t%s\t%.3f", r.Site, r.Commodity, r.Tonnes)
		}),
	}
}

func (a *app) supplyShipmentsCommand() *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use:     "shipments INCIDENT",
		Short:   "List an incident's restock shipments",
		Example: `  muster supply shipments inc-0403 --open`,
		Args:    cobra.ExactArgs(1),
		RunE: listRows(a, func(ctx context.Context, st *store.Store, args []string) ([]domain.Shipment, error) {
			return st.Shipments(ctx, args[0], open)
		}, "ID\tAREA\tSUPPLIER\tCOMMODITY\tTONNES\tSTATE\tDUE", func(s domain.Shipment) string {
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%g\t%s\t%s", s.ID, s.Area, s.Site, s.Commodity, s.Tonnes, s.State, s.DueAt.Local().Format("01-02 15:04:05"))
		}),
	}
	cmd.Flags().BoolVar(&open, "open", false, "only shipments not yet delivered")
	return cmd
}

func (a *app) supplyDeliverCommand() *cobra.Command {
	var d store.Delivery
	cmd := &cobra.Command{
		Use:     "deliver SHIPMENT --tonnes T",
		Short:   "Confirm a restock shipment's delivery; the supplier's stock grows by what arrived",
		Example: `  muster supply deliver 12 --tonnes 16.5 --by meiteihao-kangning`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("shipment %q: want the shipment's number (see `muster supply shipments INCIDENT`)", args[0])
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			d.Shipment = id
			sh, err := st.ConfirmDelivery(cmd.Context(), d, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Shipment %d: %g t of %s delivered to %s.\n", sh.ID, d.Tonnes, sh.Commodity, sh.Site)
			return nil
		},
	}
	cmd.Flags().Float64Var(&d.Tonnes, "tonnes", 0, "tonnes delivered (required)")
	cmd.Flags().StringVar(&d.By, "by", "", "who confirms")
	_ = cmd.MarkFlagRequired("tonnes")
	return cmd
}

func (a *app) supplyPassCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pass",
		Short: "Issue, list and verify passes",
	}
	cmd.AddCommand(a.passIssueCommand(), a.passVerifyCommand(), a.passListCommand())
	return cmd
}

func (a *app) passIssueCommand() *cobra.Command {
	var v store.VehiclePass
	var from, to string
	issue := &cobra.Command{
		Use:     "issue INCIDENT --plate PLATE --area AREA --from TIME --to TIME",
		Short:   "Issue a pass to a vehicle for an area and a window (at most 31 days)",
		Example: `  muster supply pass issue inc-0403 --plate JIN-A12345 --area COMMUNITY --from 2022-04-03T08:00:00+08:00 --to 2022-04-04T08:00:00+08:00`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if v.From, err = time.Parse(time.RFC3339, from); err != nil {
				return fmt.Errorf("--from %q: want an RFC 3339 time", from)
			}
			if v.To, err = time.Parse(time.RFC3339, to); err != nil {
				return fmt.Errorf("--to %q: want an RFC 3339 time", to)
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			v.Incident = args[0]
			p, err := st.IssueVehiclePass(cmd.Context(), v)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return printJSON(a.out, p)
			}
			fmt.Fprintf(a.out, "Pass %s for %s in %s, %s to %s.\n", p.Code, p.Holder, p.Area, p.From.Local().Format(time.RFC3339), p.To.Local().Format(time.RFC3339))
			return nil
		},
	}
	issue.Flags().StringVar(&v.Plate, "plate", "", "the vehicle's plate (required)")
	issue.Flags().StringVar(&v.Area, "area", "", "the area it may move in (required)")
	issue.Flags().StringVar(&from, "from", "", "start of the window, RFC 3339 (required)")
	issue.Flags().StringVar(&to, "to", "", "end of the window, RFC 3339 (required)")
	issue.Flags().StringVar(&v.For, "for", "", "what the pass is for; issuing again for it returns the same pass")
	for _, f := range []string{"plate", "area", "from", "to"} {
		_ = issue.MarkFlagRequired(f)
	}
	return issue
}

func (a *app) passVerifyCommand() *cobra.Command {
	var at, area string
	verify := &cobra.Command{
		Use:     "verify CODE",
		Short:   "Verify a pass: valid, expired, not-yet-valid, revoked or wrong-area (exit status 3 unless valid)",
		Example: `  muster supply pass verify PS-3F2A9C01B7D4 --area COMPOUND`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			when := time.Now()
			if at != "" {
				var err error
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at %q: want an RFC 3339 time", at)
				}
			}
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			c, err := st.VerifyPass(cmd.Context(), args[0], when, area)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if err := printJSON(a.out, c); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.out, "%s: %s — %s %s, %s\n", c.Code, strings.ToUpper(c.Status), c.HolderKind, c.Holder, c.Detail)
			}
			if c.Status != store.PassValid {
				return errPassNotValid(c.Status)
			}
			return nil
		},
	}
	verify.Flags().StringVar(&at, "at", "", "the time to check, RFC 3339 (default now)")
	verify.Flags().StringVar(&area, "area", "", "the area the holder wants to enter")
	return verify
}

func (a *app) passListCommand() *cobra.Command {
	var incident string
	list := &cobra.Command{
		Use:   "list --incident ID",
		Short: "List an incident's passes",
		Args:  cobra.NoArgs,
		RunE: listRows(a, func(ctx context.Context, st *store.Store, args []string) ([]store.Pass, error) {
			return st.PassesOf(ctx, incident)
		}, "CODE\tHOLDER\tAREA\tFROM\tTO\tREVOKED", func(p store.Pass) string {
			rev := ""
			if p.RevokedAt != nil {
				rev = p.RevokedAt.Local().Format("01-02 15:04") + " " + *p.RevokedReason
			}
			return fmt.Sprintf("%s\t%s %s\t%s\t%s\t%s\t%s", p.Code, p.HolderKind, p.Holder, p.Area,
				p.From.Local().Format("01-02 15:04"), p.To.Local().Format("01-02 15:04"), rev)
		}),
	}
	list.Flags().StringVar(&incident, "incident", "", "the incident (required)")
	_ = list.MarkFlagRequired("incident")
	return list
}

// errPassNotValid makes `supply pass verify` exit with status 3 for a pass
// that does not let its holder through.
type errPassNotValid string

func (e errPassNotValid) Error() string { return "pass not valid: " + string(e) }

// listRows is the RunE of a command that lists rows from the store: rows
// reads them, and they print as JSON (-o json) or as a table of header and
// one line a row, its cells separated by tabs.
func listRows[T any](a *app, rows func(ctx context.Context, st *store.Store, args []string) ([]T, error), header string, line func(T) string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		st, err := a.store(cmd.Context())
		if err != nil {
			return err
		}
		rs, err := rows(cmd.Context(), st, args)
		if err != nil {
			return err
		}
		if a.output == "json" {
			return printJSON(a.out, rs)
		}
		tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, r := range rs {
			fmt.Fprintln(tw, line(r))
		}
		return tw.Flush()
	}
}
