package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

type demoOptions struct {
	dataDir      string
	incident     string
	community    string
	scenario     string
	runbook      string
	timeScale    float64
	hold         time.Duration
	temporalPort int
	uiPort       int
	codecPort    int
	exit         bool
}

func (a *app) demoCommand() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole stack on this machine and play Longbao's level-1 response (about a minute)",
		Long: `demo starts everything Muster needs on this machine and plays the reference
response: Temporal's dev server with its Web UI, PostgreSQL (DATABASE_URL if
set, otherwise a private cluster started from the machine's PostgreSQL
binaries), a worker, the reference scenario and the built-in runbooks. It
then opens the response to a new incident with the community-outbreak-level-1
runbook over Longbao community, with a time scale, so a 7-hour testing round
lasts about 9 seconds: residents are told, the six compounds are sealed, the
schools are told, testing rounds run until two in a row find no positive case
(the demo plays the sampling stations, each at its own capacity per hour
from the scenario, and the grid workers), checkpoint rounds run until two are clean, and
the runbook asks whether to lift the seals. The demo approves after --hold,
as the command center would, the seals are lifted, and it prints what was
recorded. It keeps the UI up until Ctrl-C, which stops everything it started.

State is kept under --data-dir (Temporal's SQLite file, the private cluster,
logs), so executions of earlier runs stay visible in the UI.

Payloads are encrypted with the keys in MUSTER_CODEC_KEY_FILE or
MUSTER_CODEC_KEYS, or else with a key the demo makes in --data-dir/codec.keys
on its first run and reuses after. The demo serves the codec on
127.0.0.1:--codec-port for the Web UI, which it starts with
--ui-codec-endpoint, so the UI shows inputs and results decrypted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.scenario != "" && !cmd.Flags().Changed("area") && !cmd.Flags().Changed("community") {
				return fmt.Errorf("--scenario needs --area: the code of one of its areas (list them with `muster areas` once it is loaded)")
			}
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
	f.StringVar(&o.community, "area", "longbao", "the area the response covers (a code of the scenario's district)")
	f.StringVar(&o.community, "community", "longbao", "the same as --area")
	f.StringVar(&o.scenario, "scenario", "", "a scenario file to load and run instead of the built-in reference district (give --area too)")
	f.StringVar(&o.runbook, "runbook", "community-outbreak-level-1", "the runbook to run")
	f.Float64Var(&o.timeScale, "time-scale", 2880, "speed-up of workflow durations (2880: a 7-hour testing round in about 9 seconds)")
	f.DurationVar(&o.hold, "hold", 10*time.Second, "how long the demo waits before approving the lift, as the command center")
	f.IntVar(&o.temporalPort, "temporal-port", 7233, "port of the Temporal dev server")
	f.IntVar(&o.uiPort, "ui-port", config.DefaultUIPort, "port of the Temporal Web UI")
	f.IntVar(&o.codecPort, "codec-port", config.DefaultUIPort+1, "port of the codec server the Web UI decodes payloads with (on 127.0.0.1)")
	f.BoolVar(&o.exit, "exit", false, "stop everything once the seals are lifted instead of waiting for Ctrl-C")
	return cmd
}

// demoScenario reads the scenario the demo plays: the file given, or the
// built-in reference district.
func demoScenario(file string) (*scenario.File, error) {
	if file == "" {
		return scenario.Reference()
	}
	return scenario.ReadFile(file)
}

func (a *app) say(format string, args ...any) {
	fmt.Fprintf(a.out, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// demo runs the whole demo: a codec key, PostgreSQL, the Temporal dev
// server, the worker, the reference scenario and a response, with the field
// and the suppliers simulated, until the response closes and is reported.
// long: the services start in order, each stopped by a defer in this frame; a split needs a teardown list first.
func (a *app) demo(ctx context.Context, o demoOptions) error {
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	for _, p := range []int{o.temporalPort, o.uiPort, o.codecPort} {
		if !portFree(p) {
			return fmt.Errorf("port %d is in use: stop the other Temporal server (or earlier demo), or pick other ports with --temporal-port, --ui-port and --codec-port", p)
		}
	}
	// The scenario is read first: a bad file stops the demo before it
	// starts anything, and the notice routes are its district's.
	ref, err := demoScenario(o.scenario)
	if err != nil {
		return err
	}
	rows := ref.Rows()
	cd, keyFile, created, err := a.demoCodec(dataDir)
	if err != nil {
		return err
	}
	switch {
	case keyFile == "":
		a.say("Payloads are encrypted with codec key %s (from %s or %s).", cd.CurrentKeyID(), codec.EnvKeyFile, codec.EnvKeys)
	case created:
		a.say("Made a payload codec key in %s; later runs reuse it.", keyFile)
	default:
		a.say("Payloads are encrypted with codec key %s from %s.", cd.CurrentKeyID(), keyFile)
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
	codecEndpoint, stopCodec, err := serveDemoCodec(ctx, cd, o.codecPort, o.uiPort, a.cfg.Temporal.Namespace, a.cfg.CodecOrigins,
		slog.New(slog.NewTextHandler(tlog, nil)))
	if err != nil {
		return err
	}
	defer stopCodec()
	a.say("Starting Temporal dev server (%s) with the Web UI on port %d…", bin, o.uiPort)
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{
		Bin: bin, HostPort: fmt.Sprintf("127.0.0.1:%d", o.temporalPort), Namespace: a.cfg.Temporal.Namespace,
		UIPort: o.uiPort, UICodecEndpoint: codecEndpoint, DBFile: filepath.Join(dataDir, "temporal.db"),
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
	// Migrations ran as the owner when the demo owns the cluster; with
	// DATABASE_URL, the worker migrates as that user, as a worker does.
	open := service.OpenStore
	if os.Getenv(config.EnvDatabaseURL) == "" {
		open = func(ctx context.Context, url string, _ *slog.Logger) (*store.Store, error) {
			return service.ConnectStore(ctx, url)
		}
	}
	st, err := open(ctx, dbURL, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	copts := a.cfg.Temporal
	copts.HostPort = srv.FrontendHostPort()
	codec.Apply(&copts, cd)
	cliEnv := fmt.Sprintf("DATABASE_URL=%s TEMPORAL_ADDRESS=%s", demoURLHint(dbURL), copts.HostPort)
	if keyFile != "" {
		cliEnv += fmt.Sprintf(" %s='%s'", codec.EnvKeyFile, keyFile)
	}
	metricsURL := "off (MUSTER_METRICS_ADDR=off)"
	var served *metrics.Metrics
	if a.cfg.MetricsAddr != "" {
		m, err := metrics.New()
		if err != nil {
			return err
		}
		defer m.Close(context.WithoutCancel(ctx))
		// A busy port costs the demo its metrics, not its run.
		if err := m.Serve(ctx, a.cfg.MetricsAddr, logger); err != nil {
			a.say("No metrics: %v.", err)
			metricsURL = "none: " + a.cfg.MetricsAddr + " is in use"
		} else {
			copts.MetricsHandler = m.Handler
			metricsURL = "http://" + a.cfg.MetricsAddr + "/metrics"
			served = m
		}
	}
	// The reference district's notices go out in its own language, as
	// they always have in the demo; another district's in its scenario's.
	locale := ref.Locale
	if o.scenario == "" {
		locale = "zh-CN"
	}
	notices, err := a.startDemoNotices(ctx, dataDir, st, logger, served, rows.Areas[0].Code, locale)
	if err != nil {
		return err
	}
	defer notices.close()
	c, err := service.Dial(ctx, copts, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := service.RegisterSearchAttributes(ctx, c, copts.Namespace); err != nil {
		return err
	}
	service.LogCodec(logger, cd)
	w := service.NewWorker(c, a.cfg.TaskQueue, st)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer func() {
		a.say("Stopping the worker.")
		w.Stop()
	}()
	a.say("Worker polling task queue %q (log: %s).", a.cfg.TaskQueue, wlog.Name())

	if _, err := st.LoadScenario(ctx, rows); err != nil {
		return err
	}
	a.say("Loaded scenario %s: %d areas, %d staff, %d sites, %d residents.", ref.Name, len(rows.Areas), len(rows.Staff), len(rows.Sites), rows.Residents())

	if err := service.PublishBuiltins(ctx, st); err != nil {
		return err
	}
	// The area is the loaded scenario's, whichever other districts the
	// database holds with the same code; its path names it alone.
	district := a.district
	if district == "" {
		district = rows.Areas[0].Path
	}
	area, err := st.AreaIn(ctx, district, o.community)
	if err != nil {
		return fmt.Errorf("--area %s: %w", o.community, err)
	}
	in := workflows.ResponseInput{Incident: o.incident, Runbook: o.runbook, Area: area.Path, TimeScale: o.timeScale, RequestedBy: "demo"}
	id, _, err := service.StartResponse(ctx, c, a.cfg.TaskQueue, in, fmt.Sprintf("%s · %s", o.runbook, area.Name))
	if err != nil {
		return err
	}
	ui := fmt.Sprintf("http://localhost:%d", o.uiPort)
	fmt.Fprintf(a.out, `
  Incident %s: runbook %s over %s (%s).
  Web UI:   %s/namespaces/%s/workflows
            filter: MusterIncident = '%s'   (or MusterAreaPath = '%s', MusterStepState = 'stalled')
            open %s for the response's summary, its step table (current details) and search attributes;
            each step is a child workflow under it: the seals are %s/seal/<compound>
            payloads are encrypted (key %s); the UI decodes them through the codec server on 127.0.0.1:%d
  CLI:      %s bin/muster watch %s
  Metrics:  %s   (muster_round_sampled, muster_step_stalled_total, muster_notice_deliveries, temporal_*)
  Notices:  %s bin/muster notices list --incident %s   (delivered to the local receivers above)

`, o.incident, o.runbook, area.Name, area.Path, ui, copts.Namespace, o.incident, path.Dir(area.Path), id, id,
		cd.CurrentKeyID(), o.codecPort, cliEnv, o.incident, metricsURL, cliEnv, o.incident)

	// The field: sampling stations and grid workers report into every
	// testing round the response opens, each point at its own capacity.
	a.st = st
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	go func() {
		if err := a.simulate(simCtx, simOptions{incident: o.incident, pace: 1, timeScale: o.timeScale, noShow: 0.005, homeMiss: 0.3,
			seed: 1, batch: 5000, tick: 500 * time.Millisecond, follow: true}); err != nil && simCtx.Err() == nil {
			a.say("Field simulation stopped: %v", err)
		}
	}()
	// Staff acknowledge their mobilization notices, suppliers deliver.
	go func() {
		if err := a.simulateSupply(simCtx, c, st, supplySim{incident: o.incident, tick: 500 * time.Millisecond, skipEvery: 8, deliverAfter: 2}); err != nil && simCtx.Err() == nil {
			a.say("Supply simulation stopped: %v", err)
		}
	}()
	if err := a.demoWatch(ctx, c, id, o); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var final workflows.ResponseProgress
	if err := c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		return fmt.Errorf("waiting for %s to close: %w", id, err)
	}
	fmt.Fprintln(a.out)
	renderResponse(a.out, final)
	if err := a.demoReport(ctx, c, st, o.incident); err != nil {
		return err
	}
	files, err := writeReport(ctx, st, o.incident, reportOptions{out: filepath.Join(o.dataDir, "reports"), format: "both", timeScale: o.timeScale})
	if err != nil {
		return fmt.Errorf("after-action report: %w", err)
	}
	fmt.Fprintf(a.out, "  After-action report: %s\n", strings.Join(files, " and "))
	notices.report(ctx, a, st, o.incident)

	if o.exit {
		return nil
	}
	fmt.Fprintf(a.out, "\n  Everything is still running: browse %s. Press Ctrl-C to stop.\n", ui)
	<-ctx.Done()
	fmt.Fprintln(a.out)
	return nil
}

// demoURLHint is the DATABASE_URL to show in the demo's hint: the private
// cluster's URL, which holds no secret, or "$DATABASE_URL" for one the
// user gave, which may.
func demoURLHint(dbURL string) string {
	if os.Getenv(config.EnvDatabaseURL) != "" {
		return `"$DATABASE_URL"`
	}
	return "'" + dbURL + "'"
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
	ownerURL, appURL, err := demoRoles(ctx, pg.URL(config.DatabaseName))
	if err != nil {
		stop()
		return "", nil, err
	}
	a.say("Migrated as %s (the schema's owner); the worker and the CLI log in as muster_worker (muster_app: no DDL, no read of contacts).", config.RedactedDatabaseURL(ownerURL))
	return appURL, stop, nil
}

// demoRoles gives the private cluster Muster's database logins, each with a
// password of its own made on every run: muster_migrator owns the database
// and runs the migrations (which create the group roles), muster_worker is
// granted muster_app once they exist. The cluster's superuser only sets
// them up. It returns the migrator's URL and the URL the worker and the CLI
// use.
func demoRoles(ctx context.Context, adminURL string) (ownerURL, appURL string, err error) {
	migratorPW, workerPW := randomPassword(), randomPassword()
	if err := devenv.OwnerAndApp(ctx, adminURL, config.DatabaseName, "muster_migrator", migratorPW, "muster_worker", workerPW); err != nil {
		return "", "", fmt.Errorf("demo database roles: %w", err)
	}
	withUser := func(user, pw string) (string, error) {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", err
		}
		u.User = url.UserPassword(user, pw)
		return u.String(), nil
	}
	if ownerURL, err = withUser("muster_migrator", migratorPW); err != nil {
		return "", "", err
	}
	// The owner migrates first so that muster_app exists to be granted.
	owner, err := store.Open(ctx, ownerURL)
	if err != nil {
		return "", "", err
	}
	defer owner.Close()
	if _, err := owner.Migrate(ctx); err != nil {
		return "", "", err
	}
	if err := devenv.GrantRole(ctx, adminURL, "muster_app", "muster_worker"); err != nil {
		return "", "", fmt.Errorf("demo database roles: %w", err)
	}
	if appURL, err = withUser("muster_worker", workerPW); err != nil {
		return "", "", err
	}
	return ownerURL, appURL, nil
}

func randomPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// demoWatch prints a progress line every two seconds. When the runbook asks
// whether to lift the seals, it answers after o.hold as the command center
// would, and returns once the response is closing.
func (a *app) demoWatch(ctx context.Context, c client.Client, id string, o demoOptions) error {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var askedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		p, err := queryResponse(ctx, c, id)
		if err != nil {
			return err
		}
		a.say("%s", demoLine(p))
		switch {
		case p.State == workflows.ResponseClosed || p.State == workflows.ResponseLifting:
			return nil
		case p.Root != nil && p.Root.State != "" && p.Root.State != workflows.StateRunning && p.Root.State != workflows.StatePending:
			// The runbook ended without lifting (a rejected approval):
			// the command center lifts the response.
			a.say("The runbook ended with the seals held; lifting the response: muster lift %s --reason ...", o.incident)
			return update(ctx, c, id, workflows.UpdateLift, workflows.LiftInput{Reason: "demo: runbook ended", By: "demo"})
		}
		ask := p.Find("approve-lift")
		if ask == nil || ask.State != workflows.StateAwaitingDecision {
			continue
		}
		if askedAt.IsZero() {
			askedAt = time.Now()
			a.say("The runbook asks the command center: lift the seals? The demo approves in %s, as you would with:", o.hold)
			a.say("  muster step decide %s approve-lift approve --reason \"two clean rounds\"", o.incident)
		}
		if time.Since(askedAt) >= o.hold {
			if err := update(ctx, c, id, workflows.UpdateDecide, workflows.Decision{Step: "approve-lift", Decision: "approve", By: "demo", Reason: "two clean rounds"}); err != nil {
				return err
			}
			a.say("Approved; the lift step lifts every seal.")
		}
	}
}

// demoLine sums up a response in one line.
func demoLine(p workflows.ResponseProgress) string {
	counts := map[string]int{}
	seals, holding := 0, 0
	for _, n := range p.Leaves() {
		counts[n.State]++
		if n.Type == workflows.KindSeal {
			seals++
			if n.Held {
				holding++
			}
		}
	}
	line := fmt.Sprintf("%s · steps: %d done, %d running", p.State, counts[workflows.StateDone], counts[workflows.StateRunning])
	if seals > 0 {
		line += fmt.Sprintf(" · seals: %d of %d holding", holding, seals)
	}
	if r := p.Find("testing"); r != nil && r.Round > 0 {
		line += fmt.Sprintf(" · testing rounds: %d", r.Round)
		if test := p.Find(fmt.Sprintf("testing/%d/test", r.Round)); test != nil && test.Detail != "" {
			line += " (" + test.Detail + ")"
		}
	}
	if r := p.Find("rounds"); r != nil && r.Round > 0 {
		line += fmt.Sprintf(" · checkpoint rounds: %d", r.Round)
	}
	for _, s := range []string{workflows.StateStalled, workflows.StateOverdue, workflows.StateAwaitingDecision} {
		if counts[s] > 0 {
			line += fmt.Sprintf(" · %d %s", counts[s], s)
		}
	}
	return line
}

// demoReport prints the rows the response wrote and what the visibility
// API reports.
func (a *app) demoReport(ctx context.Context, c client.Client, st *store.Store, incident string) error {
	r, err := st.SealRecords(ctx, incident, 0)
	if err != nil {
		return err
	}
	events, err := st.Events(ctx, incident, "")
	if err != nil {
		return err
	}
	execs, err := listExecutions(ctx, c, workflows.SAIncident.GetName()+" = "+quote(incident))
	if err != nil {
		return err
	}
	types := map[string]int{}
	for _, e := range execs {
		types[e.Status]++
	}
	fmt.Fprintf(a.out, "\n  Recorded in PostgreSQL: %d checkpoints, %d staff assignments, %d road closures, %d disinfection tasks, %d compliance checks (%d failed), %d notices, %d events in the log.\n",
		r.Checkpoints, r.StaffAssigned, r.RoadClosures, r.DisinfectionTasks, r.ComplianceChecks, r.ComplianceFailed, r.Notices, len(events))
	if line, err := supplyReport(ctx, st, incident); err == nil {
		fmt.Fprintf(a.out, "  %s\n", line)
	}
	fmt.Fprintf(a.out, "  Visibility: %d executions with MusterIncident = '%s' (%d completed).\n", len(execs), incident, types["completed"])
	fmt.Fprintf(a.out, "  Event log: muster events %s\n", incident)
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
