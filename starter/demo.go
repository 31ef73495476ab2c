package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/service"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

type demoOptions struct {
	dataDir      string
	incident     string
	community    string
	timeScale    float64
	hold         time.Duration
	temporalPort int
	uiPort       int
	exit         bool
}

func (a *app) demoCommand() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole stack on this machine and seal Longbao's compounds (about a minute)",
		Long: `demo starts everything Muster needs on this machine and plays the reference
response: Temporal's dev server with its Web UI, PostgreSQL (DATABASE_URL if
set, otherwise a private cluster started from the machine's PostgreSQL
binaries), a worker, the reference scenario, and the seal of Longbao
community's six compounds with a time scale, so two hours between compliance
rounds last ten seconds. After --hold it lifts the seals, prints what was
recorded, and keeps the UI up until Ctrl-C, which stops everything it started.

State is kept under --data-dir (Temporal's SQLite file, the private cluster,
logs), so executions of earlier runs stay visible in the UI.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.incident == "" {
				o.incident = "xd-" + time.Now().Format("0102-150405")
			}
			if err := workflows.ValidIncident(o.incident); err != nil {
				return fmt.Errorf("--incident: %w", err)
			}
			err := a.demo(cmd.Context(), o)
			if cmd.Context().Err() != nil {
				// Ctrl-C is how the demo is meant to end.
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", ".muster", "folder for the dev server's database, the private PostgreSQL cluster and logs")
	f.StringVar(&o.incident, "incident", "", "incident ID (default: xd-MMDD-hhmmss, new on every run)")
	f.StringVar(&o.community, "community", "longbao", "seal every compound of this area")
	f.Float64Var(&o.timeScale, "time-scale", 720, "speed-up of workflow durations (720: two hours in ten seconds)")
	f.DurationVar(&o.hold, "hold", 45*time.Second, "how long the compounds stay sealed before the demo lifts them")
	f.IntVar(&o.temporalPort, "temporal-port", 7233, "port of the Temporal dev server")
	f.IntVar(&o.uiPort, "ui-port", config.DefaultUIPort, "port of the Temporal Web UI")
	f.BoolVar(&o.exit, "exit", false, "stop everything once the seals are lifted instead of waiting for Ctrl-C")
	return cmd
}

func (a *app) say(format string, args ...any) {
	fmt.Fprintf(a.out, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (a *app) demo(ctx context.Context, o demoOptions) error {
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	for _, p := range []int{o.temporalPort, o.uiPort} {
		if !portFree(p) {
			return fmt.Errorf("port %d is in use: stop the other Temporal server (or earlier demo), or pick other ports with --temporal-port and --ui-port", p)
		}
	}

	dbURL, stopPG, err := a.demoPostgres(ctx, dataDir)
	if err != nil {
		return err
	}
	defer stopPG()

	bin, err := devenv.TemporalBinary()
	if err != nil {
		return err
	}
	tlog, err := os.Create(filepath.Join(dataDir, "temporal.log"))
	if err != nil {
		return err
	}
	defer tlog.Close()
	a.say("Starting Temporal dev server (%s) with the Web UI on port %d…", bin, o.uiPort)
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{
		Bin: bin, HostPort: fmt.Sprintf("127.0.0.1:%d", o.temporalPort), Namespace: a.cfg.Temporal.Namespace,
		UIPort: o.uiPort, DBFile: filepath.Join(dataDir, "temporal.db"),
		SearchAttributes: workflows.SearchAttributes, Output: tlog,
	})
	if err != nil {
		return fmt.Errorf("%w (its log: %s)", err, tlog.Name())
	}
	defer func() {
		a.say("Stopping the Temporal dev server.")
		srv.Stop()
	}()

	wlog, err := os.Create(filepath.Join(dataDir, "worker.log"))
	if err != nil {
		return err
	}
	defer wlog.Close()
	logger := slog.New(slog.NewTextHandler(wlog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := service.OpenStore(ctx, dbURL, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	copts := a.cfg.Temporal
	copts.HostPort = srv.FrontendHostPort()
	c, err := service.Dial(ctx, copts, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := service.RegisterSearchAttributes(ctx, c, copts.Namespace); err != nil {
		return err
	}
	w := service.NewWorker(c, a.cfg.TaskQueue, st)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer func() {
		a.say("Stopping the worker.")
		w.Stop()
	}()
	a.say("Worker polling task queue %q (log: %s).", a.cfg.TaskQueue, wlog.Name())

	ref, err := scenario.Reference()
	if err != nil {
		return err
	}
	rows := ref.Rows()
	if _, err := st.LoadScenario(ctx, rows); err != nil {
		return err
	}
	a.say("Loaded scenario %s: %d areas, %d staff, %d sites, %d residents.", ref.Name, len(rows.Areas), len(rows.Staff), len(rows.Sites), rows.Residents())

	compounds, err := resolveCompounds(ctx, st, nil, o.community)
	if err != nil {
		return err
	}
	in := workflows.SealCompoundInput{Incident: o.incident, TimeScale: o.timeScale, RequestedBy: "demo"}
	for _, ar := range compounds {
		one := in
		one.Compound = ar.Code
		if _, _, err := service.StartSeal(ctx, c, a.cfg.TaskQueue, one, ar); err != nil {
			return err
		}
	}
	ui := fmt.Sprintf("http://localhost:%d", o.uiPort)
	fmt.Fprintf(a.out, `
  Incident %s: sealing %d compounds of %s.
  Web UI:   %s/namespaces/%s/workflows
            filter: MusterIncident = '%s'   (or MusterAreaPath = 'xiaodian/beiying')
            open a seal for its summary, current details (progress table) and search attributes
  CLI:      DATABASE_URL='%s' TEMPORAL_ADDRESS=%s bin/starter status %s

`, o.incident, len(compounds), o.community, ui, copts.Namespace, o.incident,
		config.RedactedDatabaseURL(dbURL), copts.HostPort, o.incident)

	if err := a.demoWatch(ctx, c, o, len(compounds)); err != nil {
		return err
	}

	for _, ar := range compounds {
		if err := update(ctx, c, workflows.SealWorkflowID(o.incident, ar.Code), workflows.UpdateLift,
			workflows.LiftInput{Reason: "demo: hold period over", By: "demo"}); err != nil {
			return err
		}
	}
	a.say("Lift sent to %d seals; waiting for them to reopen…", len(compounds))
	execs, err := targets(ctx, c, o.incident)
	if err != nil {
		return err
	}
	if err := a.awaitLifted(ctx, c, execs, 2*time.Minute); err != nil {
		return err
	}
	if err := a.demoReport(ctx, c, st, o.incident, compounds); err != nil {
		return err
	}

	if o.exit {
		return nil
	}
	fmt.Fprintf(a.out, "\n  Everything is still running: browse %s. Press Ctrl-C to stop.\n", ui)
	<-ctx.Done()
	fmt.Fprintln(a.out)
	return nil
}

// demoPostgres returns the database URL to use: DATABASE_URL when set,
// otherwise a private cluster under the data folder.
func (a *app) demoPostgres(ctx context.Context, dataDir string) (string, func(), error) {
	if os.Getenv(config.EnvDatabaseURL) != "" {
		a.say("Using PostgreSQL from DATABASE_URL (%s).", config.RedactedDatabaseURL(a.cfg.DatabaseURL))
		return a.cfg.DatabaseURL, func() {}, nil
	}
	dir := filepath.Join(dataDir, "pg")
	if os.Geteuid() == 0 {
		// The cluster runs as the postgres user, who may not be able to
		// reach a folder under root's home; keep it in the temp folder.
		sum := sha256.Sum256([]byte(dataDir))
		dir = filepath.Join(os.TempDir(), "muster-demo-pg-"+hex.EncodeToString(sum[:4]))
	}
	a.say("DATABASE_URL is not set: starting a private PostgreSQL cluster in %s…", dir)
	pg, err := devenv.StartPostgres(ctx, dir, 0, nil)
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		a.say("Stopping the private PostgreSQL cluster.")
		pg.Stop()
	}
	if err := devenv.CreateDatabase(ctx, pg.URL("postgres"), config.DatabaseName); err != nil {
		stop()
		return "", nil, err
	}
	return pg.URL(config.DatabaseName), stop, nil
}

// demoWatch prints a progress line every two seconds until every compound
// has been sealed for o.hold.
func (a *app) demoWatch(ctx context.Context, c client.Client, o demoOptions, n int) error {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var allSealedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		execs, err := targets(ctx, c, o.incident)
		if isNoExecutions(err) {
			continue // visibility catches up within a moment
		}
		if err != nil {
			return err
		}
		ps, err := queryAll(ctx, c, execs)
		if err != nil {
			return err
		}
		sealed, gates, staff, roads, rounds, passed, checked, stalled := 0, 0, 0, 0, 0, 0, 0, 0
		for _, p := range ps {
			if p.Phase == workflows.PhaseSealed {
				sealed++
			}
			for _, cp := range p.Checkpoints {
				gates++
				staff += cp.Staff
			}
			roads += p.RoadsClosed
			rounds += p.ComplianceRounds
			passed += p.LastCompliance.Passed
			checked += p.LastCompliance.Checked
			for _, st := range p.Steps {
				if st.State == workflows.StateStalled {
					stalled++
				}
			}
		}
		line := fmt.Sprintf("%d/%d sealed · %d checkpoints · %d staff on duty · %d road closures · %d compliance rounds (last: %d/%d passed)",
			sealed, n, gates, staff, roads, rounds, passed, checked)
		if stalled > 0 {
			line += fmt.Sprintf(" · %d STALLED (see `starter status %s`)", stalled, o.incident)
		}
		a.say("%s", line)
		if sealed == n && len(ps) == n {
			if allSealedAt.IsZero() {
				allSealedAt = time.Now()
			}
			if time.Since(allSealedAt) >= o.hold {
				return nil
			}
		}
	}
}

// demoReport prints the seals' final state, the rows they wrote and what the
// visibility API reports.
func (a *app) demoReport(ctx context.Context, c client.Client, st *store.Store, incident string, compounds []store.Area) error {
	execs, err := targets(ctx, c, incident)
	if err != nil {
		return err
	}
	ps, err := queryAll(ctx, c, execs)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.out)
	if err := renderSeals(a.out, execs, ps); err != nil {
		return err
	}
	var total store.SealRecords
	for _, ar := range compounds {
		r, err := st.SealRecords(ctx, incident, ar.ID)
		if err != nil {
			return err
		}
		total.Checkpoints += r.Checkpoints
		total.StaffAssigned += r.StaffAssigned
		total.RoadClosures += r.RoadClosures
		total.DisinfectionTasks += r.DisinfectionTasks
		total.ComplianceChecks += r.ComplianceChecks
		total.ComplianceFailed += r.ComplianceFailed
		total.Notices += r.Notices
	}
	evs, err := st.Events(ctx, incident, "")
	if err != nil {
		return err
	}
	done := 0
	for _, e := range execs {
		if e.StepState == workflows.StateDone {
			done++
		}
	}
	fmt.Fprintf(a.out, "\n  Recorded in PostgreSQL: %d checkpoints, %d staff assignments, %d road closures, %d disinfection tasks, %d compliance checks (%d failed), %d notices, %d events in the log.\n",
		total.Checkpoints, total.StaffAssigned, total.RoadClosures, total.DisinfectionTasks, total.ComplianceChecks, total.ComplianceFailed, total.Notices, len(evs))
	fmt.Fprintf(a.out, "  Visibility: %d executions with MusterIncident = '%s', %d with MusterStepState = 'done'.\n", len(execs), incident, done)
	fmt.Fprintf(a.out, "  Event log: starter events %s\n", incident)
	return nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
