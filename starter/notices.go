package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func (a *app) noticesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notices",
		Short: "See and steer the delivery of notices",
		Long: `Every notice a step writes is delivered by the workers' notice dispatcher
through the channels the district's routes file names (MUSTER_NOTICE_ROUTES):
generic webhooks, WeCom and DingTalk group robots, email, SMS. Each delivery is
pending, sent, delivered (the channel confirmed) or undelivered (refused by
the receiver, waiting for a person). See docs/notices.md.`,
	}
	cmd.AddCommand(a.noticesListCommand(), a.noticesResendCommand())
	return cmd
}

func (a *app) noticesListCommand() *cobra.Command {
	var f store.NoticeFilter
	cmd := &cobra.Command{
		Use:   "list --incident ID [--state STATE]",
		Short: "List an incident's notice deliveries, optionally in one state",
		Example: `  muster notices list --incident xd-0403
  muster notices list --incident xd-0403 --state undelivered --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(f.Incident) == "" {
				return errors.New("--incident is required: the incident whose notices to list")
			}
			if f.State != "" && !store.ValidDeliveryState(f.State) {
				return fmt.Errorf("--state %q: want pending, sent, delivered or undelivered", f.State)
			}
			s, err := a.store(ctx)
			if err != nil {
				return err
			}
			ds, err := s.ListDeliveries(ctx, f)
			if err != nil {
				return err
			}
			counts, err := s.NoticeCounts(ctx, f.Incident)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if ds == nil {
					ds = []store.NoticeDelivery{}
				}
				return printJSON(a.out, map[string]any{"incident": f.Incident, "counts": counts, "deliveries": ds})
			}
			tw := tabwriter.NewWriter(a.out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNOTICE\tKIND\tAUDIENCE\tCHANNEL\tSTATE\tATTEMPTS\tREASON")
			for _, d := range ds {
				ch := d.Channel
				if d.Target != "" {
					ch += "/" + d.Target
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.NoticeID, d.Kind, d.Audience, ch, d.State, d.Attempts, d.Reason)
			}
			tw.Flush()
			renderNoticeCounts(a.out, f.Incident, counts)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.Incident, "incident", "", "incident ID (required)")
	cmd.Flags().StringVar(&f.State, "state", "", "only deliveries in this state: pending, sent, delivered or undelivered")
	cmd.Flags().IntVar(&f.Limit, "limit", 1000, "most deliveries to list")
	return cmd
}

func (a *app) noticesResendCommand() *cobra.Command {
	var by, reason string
	cmd := &cobra.Command{
		Use:   "resend ID",
		Short: "Send an undelivered notice delivery again (after its route is fixed)",
		Long: `Put an undelivered delivery (ID from 'muster notices list') back in the
queue. It goes out with the same idempotency key, so a receiver that took it
after all does not act on it twice. Fix the route in the routes file first:
the dispatcher reads the file again when it changes.`,
		Example: `  muster notices resend 42 --by duty-officer --reason "hook URL corrected"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("ID %q: want a delivery ID (a positive number from `muster notices list`)", args[0])
			}
			s, err := a.store(ctx)
			if err != nil {
				return err
			}
			d, err := s.ResendDelivery(ctx, id, by, reason)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return printJSON(a.out, d)
			}
			fmt.Fprintf(a.out, "Delivery %d of notice %d (%s) is pending again; follow it with `muster notices list --incident %s`\n", d.ID, d.NoticeID, d.Channel, d.Incident)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "operator", "who resends, for the event log")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the event log")
	return cmd
}

// renderNoticeCounts prints a response's notices per state, and where to
// look when some are undelivered.
func renderNoticeCounts(w io.Writer, incident string, c map[string]int) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "Notices: %d pending · %d sent · %d delivered · %d undelivered\n",
		c[domain.DeliveryPending], c[domain.DeliverySent], c[domain.DeliveryDelivered], c[domain.DeliveryUndelivered])
	if c[domain.DeliveryUndelivered] > 0 {
		fmt.Fprintf(w, "  undelivered notices are stalled: `muster notices list --incident %s --state undelivered`, then `muster notices resend ID`\n", incident)
	}
}

// progressWithNotices is a response's progress with its notices per state.
type progressWithNotices struct {
	workflows.ResponseProgress
	Notices map[string]int `json:",omitempty"`
}

// noticeCounts reads a response's notice counts; without a database it
// returns nil and the progress shows none.
func (a *app) noticeCounts(ctx context.Context, incident string) map[string]int {
	s, err := a.store(ctx)
	if err != nil {
		return nil
	}
	c, err := s.NoticeCounts(ctx, incident)
	if err != nil {
		return nil
	}
	return c
}
