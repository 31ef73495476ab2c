package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/samples"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// errNothingAccepted is returned when an upload brought no good row; the
// muster exits with status 2 so a station's script can tell "fix the file"
// from "could not send it" (status 1).
type errNothingAccepted struct{ rejected int }

func (e errNothingAccepted) Error() string {
	return fmt.Sprintf("no row was accepted: %d rejected (see the list above); fix them and upload the file again", e.rejected)
}

// exitCode is the process's exit status for an error: 2 when an upload
// brought no good row, 1 otherwise.
func exitCode(err error) int {
	var n errNothingAccepted
	if errors.As(err, &n) {
		return 2
	}
	var p errPassNotValid
	if errors.As(err, &p) {
		return 3
	}
	return 1
}

func (a *app) samplesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "samples",
		Short: "Upload batches of samples from sampling stations and list residents still missing",
	}
	cmd.AddCommand(a.samplesUploadCommand(), a.samplesMissingCommand())
	return cmd
}

// uploadOptions are the flags of samples upload.
type uploadOptions struct {
	incident, batch string
	max             int
	retryFor        time.Duration
}

// samplesUploadCommand is samples upload; its help documents the file
// format and the exit statuses.
func (a *app) samplesUploadCommand() *cobra.Command {
	var o uploadOptions
	upload := &cobra.Command{
		Use:   "upload FILE.csv --incident ID",
		Short: "Upload a batch of samples (CSV); bad rows are listed, good rows kept",
		Long: `Upload a batch of samples taken at sampling points or at home, or of results
from a lab. FILE.csv has a header line naming its columns (any order):

  tube,resident,point,taken_at,result

point is the sampling point's site code (empty for a home visit); taken_at
is RFC 3339 (2022-04-03T17:05:00+08:00) or "2022-04-03 17:05" in local time
(TZ); result is negative, positive or empty, and may be left out.

Every row is checked against the registry and the incident's open rounds.
Rows that fail are listed with their line and reason; the others are
recorded. Sending the same file again adds nothing (its rows are reported
as already recorded), and a later file with results for known tubes records
the results. A file that is not a batch (a missing column, a line with the
wrong number of fields, more than --max rows) is refused whole.

While PostgreSQL is unavailable the upload is retried with backoff for up
to --retry-for, saying so on the way.

Exit status: 0 when the batch was taken, even if some rows were rejected
(they are listed); 2 when rows were rejected and none was accepted or
already recorded (fix the file); 1 when the file was refused or could not
be sent.`,
		Example: `  muster samples upload point-3-1900.csv --incident inc-0403
  muster samples upload lab-results.csv --incident inc-0403 --batch lab-0404-01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.uploadSamples(cmd.Context(), args[0], o)
		},
	}
	upload.Flags().StringVar(&o.incident, "incident", "", "the incident the samples belong to (required)")
	upload.Flags().StringVar(&o.batch, "batch", "", "the batch's ID (default: the sha256 of its rows, so a re-sent file is known)")
	upload.Flags().IntVar(&o.max, "max", store.DefaultMaxBatch, "the most rows one file may hold")
	upload.Flags().DurationVar(&o.retryFor, "retry-for", 5*time.Minute, "how long to retry while the database is unavailable before giving up (exit status 1)")

	return upload
}

// uploadSamples reads a station's file and sends its rows, retrying while
// PostgreSQL is unavailable, then prints what was recorded.
func (a *app) uploadSamples(ctx context.Context, file string, o uploadOptions) error {
	if err := workflows.ValidIncident(o.incident); err != nil {
		return fmt.Errorf("--incident: %w", err)
	}
	if o.max < 0 {
		return fmt.Errorf("--max %d: want a number of rows above 0", o.max)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, unread, err := samples.Read(f, file, o.max)
	if err != nil {
		return fmt.Errorf("%w; nothing was sent", err)
	}
	var res store.IngestResult
	if len(rows) > 0 {
		// The batch is keyed (its ID or its rows' digest), so
		// sending it again after a lost reply records it once.
		b := a.newBar(-1, fmt.Sprintf("uploading %d rows", len(rows)))
		err := a.retry(ctx, o.retryFor, fmt.Sprintf("upload %s (%d rows)", file, len(rows)), func(ctx context.Context) error {
			b.Clear()
			s, err := a.store(ctx)
			if err != nil {
				return err
			}
			res, err = s.IngestSamples(ctx, store.IngestBatch{ID: o.batch, Incident: o.incident, Rows: rows, Max: o.max})
			return err
		})
		b.Finish()
		if err != nil {
			return err
		}
	} else {
		res.BatchID = o.batch
	}
	res = samples.Merge(res, unread)
	if err := a.printIngest(res); err != nil {
		return err
	}
	if samples.NothingAccepted(res) {
		return errNothingAccepted{len(res.Rejected)}
	}
	return nil
}

func (a *app) samplesMissingCommand() *cobra.Command {
	var (
		area     string
		round    int
		contacts bool
		reason   string
	)
	missing := &cobra.Command{
		Use:   "missing INCIDENT --area CODE --round N",
		Short: "List the residents of a round without a sample, for call-backs",
		Long: `List the residents of a testing round who have no sample: the list written
when the round closed, or while it runs, those not sampled yet. Residents
are shown by their pseudonymous code, compound, building and cohort.

--contacts adds their names and phone numbers for an authorised call-back
list. That is personal data: the command says so on standard error, and the
list must not be shared beyond the people calling back.`,
		Example: `  muster samples missing inc-0403 --area COMMUNITY --round 1
  muster samples missing inc-0403 --area COMMUNITY --round 1 --contacts -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := workflows.ValidIncident(args[0]); err != nil {
				return err
			}
			if area == "" || round < 1 {
				return errors.New("name the round: --area CODE --round N (rounds count from 1)")
			}
			s, err := a.store(ctx)
			if err != nil {
				return err
			}
			r, err := s.RoundByKey(ctx, args[0], area, round)
			if errors.Is(err, domain.ErrNotFound) {
				return fmt.Errorf("incident %s has no round %d over %s", args[0], round, area)
			}
			if err != nil {
				return err
			}
			if reason == "" {
				reason = fmt.Sprintf("call-back list of incident %s, %s round %d", args[0], area, round)
			}
			if contacts {
				fmt.Fprintln(a.errOut, "This list holds residents' names and phone numbers: personal data for the authorised call-back team only.")
			}
			list, err := readMissing(ctx, s, r.ID, contacts, reason)
			if err != nil {
				return err
			}
			return a.printMissing(r, list, contacts)
		},
	}
	missing.Flags().StringVar(&area, "area", "", "the round's area code or path (required)")
	missing.Flags().IntVar(&round, "round", 0, "the round's number (required)")
	missing.Flags().BoolVar(&contacts, "contacts", false, "add names and phone numbers (personal data) for an authorised call-back list; needs a login granted muster_callback, and every read is logged")
	missing.Flags().StringVar(&reason, "reason", "", "why the contacts are read, kept in the database's read log (default: the call-back list of the round)")
	return missing
}

// readMissing reads a round's missing list page by page, with names and
// phone numbers when contacts is set (each read logged with reason).
func readMissing(ctx context.Context, s *store.Store, round int64, contacts bool, reason string) ([]store.MissingContact, error) {
	var err error
	var list []store.MissingContact
	for after := int64(0); ; {
		var page []store.MissingContact
		if contacts {
			page, err = s.MissingContacts(ctx, round, after, store.MaxMissingPage, reason)
		} else {
			var plain []store.MissingResident
			plain, err = s.Missing(ctx, round, after, store.MaxMissingPage)
			for _, m := range plain {
				page = append(page, store.MissingContact{MissingResident: m})
			}
		}
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		list = append(list, page...)
		after = page[len(page)-1].ID
	}
	return list, nil
}

func (a *app) printIngest(res store.IngestResult) error {
	if a.output == "json" {
		return json.NewEncoder(a.out).Encode(res)
	}
	fmt.Fprintf(a.out, "Batch %s: %d rows: %d accepted, %d already recorded, %d results recorded, %d rejected.\n",
		res.BatchID, res.Rows, res.Accepted, res.AlreadyRecorded, res.ResultsUpdated, len(res.Rejected))
	if len(res.Rejected) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tTUBE\tREASON")
	for _, r := range res.Rejected {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", r.Line, r.Tube, r.Reason)
	}
	return tw.Flush()
}

func (a *app) printMissing(r store.RoundInfo, list []store.MissingContact, contacts bool) error {
	if a.output == "json" {
		type entry struct {
			Code      string `json:"code"`
			Area      string `json:"area"`
			Building  string `json:"building"`
			Cohort    string `json:"cohort"`
			HomeVisit bool   `json:"home_visit"`
			Name      string `json:"name,omitempty"`
			Phone     string `json:"phone,omitempty"`
		}
		out := make([]entry, len(list))
		for i, m := range list {
			out[i] = entry{Code: m.Code, Area: m.AreaCode, Building: m.Building, Cohort: m.Cohort, HomeVisit: m.HomeVisit, Name: m.Name, Phone: m.Phone}
		}
		return json.NewEncoder(a.out).Encode(out)
	}
	state := "still open: residents without a sample so far"
	if !r.Open() {
		state = "closed " + r.ClosedAt.Format("2006-01-02 15:04")
	}
	fmt.Fprintf(a.out, "Round %d of %s over %s (%s): %d missing.\n", r.Round, r.Incident, r.AreaCode, state, len(list))
	if len(list) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	header := "RESIDENT\tAREA\tBUILDING\tCOHORT\tHOME VISIT"
	if contacts {
		header += "\tNAME\tPHONE"
	}
	fmt.Fprintln(tw, header)
	for _, m := range list {
		home := ""
		if m.HomeVisit {
			home = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", m.Code, m.AreaCode, m.Building, m.Cohort, home)
		if contacts {
			fmt.Fprintf(tw, "\t%s\t%s", m.Name, m.Phone)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
