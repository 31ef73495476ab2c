// cluster up: the steps that start the native cluster, and the waits
// between them until each part serves.

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
)

// clusterUp starts the cluster in o.dataDir step by step (databases,
// Temporal's services and namespace, the Web UI, the workers); whatever
// fails stops what was started.
func (a *app) clusterUp(ctx context.Context, o clusterOptions) (devenv.ClusterState, error) {
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return devenv.ClusterState{}, err
	}
	bins, err := checkClusterUp(ctx, o, dir)
	if err != nil {
		return devenv.ClusterState{}, err
	}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return devenv.ClusterState{}, err
	}
	st := devenv.ClusterState{Dir: dir, Namespace: a.cfg.Temporal.Namespace, TaskQueue: a.cfg.TaskQueue, StartedAt: time.Now()}
	// Whatever fails from here on stops what was started.
	ok := false
	defer func() {
		if !ok {
			a.say("Start failed: stopping what was started (logs stay in %s).", logs)
			SaveOrLog(a, st)
			a.clusterDown(context.WithoutCancel(ctx), dir)
		}
	}()
	setupLog, err := os.OpenFile(filepath.Join(logs, "setup.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return st, err
	}
	defer setupLog.Close()
	cs := &clusterStart{a: a, o: o, st: &st, dir: dir, bins: bins, logs: logs, setupLog: setupLog}
	if err := cs.databases(ctx); err != nil {
		return st, err
	}
	nc, err := cs.temporal(ctx)
	if err != nil {
		return st, err
	}
	defer nc.Close()
	if err := cs.ui(); err != nil {
		return st, err
	}
	if err := cs.workers(); err != nil {
		return st, err
	}
	SaveOrLog(a, st)
	if err := waitForUI(ctx, st.UIURL, st.Processes); err != nil {
		return st, err
	}
	if err := waitForPollers(ctx, nc, st.Namespace, st.TaskQueue, o.workers, st.Processes); err != nil {
		return st, err
	}
	ok = true
	cs.print()
	return st, nil
}

// checkClusterUp refuses to start over a running cluster, without its
// binaries or on ports in use, and returns the binaries' paths. It stops a
// private PostgreSQL an earlier run left running.
func checkClusterUp(ctx context.Context, o clusterOptions, dir string) (map[string]string, error) {
	if o.workers < 1 {
		return nil, fmt.Errorf("--workers %d: want at least 1", o.workers)
	}
	if old, err := devenv.LoadClusterState(dir); err == nil {
		for _, p := range old.Processes {
			if p.Alive() {
				return nil, fmt.Errorf("the cluster in %s is running (%s, pid %d): run `muster cluster down --data-dir %s` first", dir, p.Name, p.PID, o.dataDir)
			}
		}
		// An earlier run that ended without `down` may have left its
		// private PostgreSQL running.
		if old.PostgresDir != "" {
			devenv.StopPostgresDir(ctx, old.PostgresDir)
		}
	}
	bins := map[string]string{}
	for _, b := range []string{devenv.TemporalServerBin, devenv.TemporalSQLToolBin, devenv.TemporalUIBin, devenv.MusterWorkerBin} {
		p, err := filepath.Abs(filepath.Join(o.binDir, b))
		if err == nil {
			_, err = os.Stat(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make cluster`, which builds it", b, o.binDir)
		}
		bins[b] = p
	}
	for _, p := range []int{o.temporalPort, o.uiPort} {
		if !portFree(p) {
			return nil, fmt.Errorf("port %d is in use: stop what uses it (a demo or dev server?) or pick others with --temporal-port and --ui-port", p)
		}
	}
	return bins, nil
}

// clusterStart is what the steps of clusterUp share.
type clusterStart struct {
	a        *app
	o        clusterOptions
	st       *devenv.ClusterState
	dir      string
	bins     map[string]string
	logs     string
	setupLog *os.File
	// Set by databases for Temporal's services.
	pgHost     string
	pgPort     int
	temporalPW string
}

// databases prepares PostgreSQL (a private cluster unless an admin URL is
// given): the roles and databases of Temporal and Muster, Temporal's schema
// and Muster's migrations, applied once as the owner.
func (cs *clusterStart) databases(ctx context.Context) error {
	dir, setupLog := cs.dir, cs.setupLog
	adminURL := cs.o.adminURL
	if adminURL == "" && os.Getenv(config.EnvDatabaseURL) != "" {
		adminURL = os.Getenv(config.EnvDatabaseURL)
		cs.a.say("Using DATABASE_URL as the admin URL: its role must be able to create roles and databases (unset it for a private PostgreSQL).")
	}
	if adminURL == "" {
		pgDir := filepath.Join(dir, "postgres")
		if os.Geteuid() == 0 {
			// The cluster runs as the postgres user, who may not reach a
			// folder under root's home; keep it in the temp folder.
			sum := sha256.Sum256([]byte(dir))
			pgDir = filepath.Join(os.TempDir(), "muster-cluster-pg-"+hex.EncodeToString(sum[:4]))
		}
		cs.a.say("Starting a private PostgreSQL cluster in %s…", pgDir)
		pg, err := devenv.StartPostgres(ctx, pgDir, 0, setupLog)
		if err != nil {
			return err
		}
		cs.st.PostgresDir = pgDir
		adminURL = pg.URL("postgres")
	} else {
		cs.a.say("Using PostgreSQL at %s.", config.RedactedDatabaseURL(adminURL))
	}
	au, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("--admin-url: %w", err)
	}
	pgHost, pgPort := au.Hostname(), 5432
	if p := au.Port(); p != "" {
		pgPort, _ = strconv.Atoi(p)
	}

	temporalPW, musterPW, appPW, err := cs.roles(ctx, adminURL)
	if err != nil {
		return err
	}
	schemaDir, err := devenv.TemporalSchemaDir(ctx)
	if err != nil {
		return err
	}
	for _, db := range []struct{ name, dir string }{
		{devenv.TemporalDatabase, "temporal"}, {devenv.TemporalVisibilityDatabase, "visibility"},
	} {
		if err := devenv.SetupTemporalSchema(ctx, cs.bins[devenv.TemporalSQLToolBin], pgHost, pgPort, devenv.TemporalRole, temporalPW,
			db.name, filepath.Join(schemaDir, db.dir, "versioned"), setupLog); err != nil {
			return fmt.Errorf("%w (log: %s)", err, setupLog.Name())
		}
	}
	mu := *au
	mu.User = url.UserPassword(devenv.MusterRole, musterPW)
	mu.Path = "/" + config.DatabaseName
	cs.st.MigrateDatabaseURL = mu.String()
	mu.User = url.UserPassword(devenv.MusterAppLogin, appPW)
	cs.st.DatabaseURL = mu.String()
	// Migrate once, as the owner; the workers then start without
	// migrating (MUSTER_MIGRATE=false), which their login could not do.
	ms, err := service.OpenStore(ctx, cs.st.MigrateDatabaseURL, nil)
	if err != nil {
		return fmt.Errorf("the Muster database as role %s: %w", devenv.MusterRole, err)
	}
	ms.Close()
	cs.pgHost, cs.pgPort, cs.temporalPW = pgHost, pgPort, temporalPW
	return nil
}

// roles creates (or updates) the roles and databases of Temporal and
// Muster with new passwords, and returns the passwords of Temporal's role,
// Muster's owner and Muster's application login.
func (cs *clusterStart) roles(ctx context.Context, adminURL string) (temporalPW, musterPW, appPW string, err error) {
	cs.a.say("Preparing roles and databases: %s (Temporal), %s and %s (Muster)…", devenv.TemporalRole, devenv.MusterRole, devenv.MusterAppLogin)
	temporalPW, musterPW, appPW = devenv.RandomPassword(), devenv.RandomPassword(), devenv.RandomPassword()
	if err := devenv.EnsureRole(ctx, adminURL, devenv.TemporalRole, temporalPW, devenv.TemporalDatabase, devenv.TemporalVisibilityDatabase); err != nil {
		return "", "", "", err
	}
	if err := devenv.EnsureRole(ctx, adminURL, devenv.MusterRole, musterPW, config.DatabaseName); err != nil {
		return "", "", "", err
	}
	// Muster's login may not create roles: it gets the schema owner's role
	// that its migrations need.
	if err := devenv.GrantSchemaOwner(ctx, adminURL, devenv.MusterRole); err != nil {
		return "", "", "", err
	}
	// The workers and the CLI log in as the application login: records
	// only, no DDL, no direct read of contacts.
	if err := devenv.EnsureRole(ctx, adminURL, devenv.MusterAppLogin, appPW); err != nil {
		return "", "", "", err
	}
	if err := devenv.GrantSchemaApp(ctx, adminURL, devenv.MusterAppLogin); err != nil {
		return "", "", "", err
	}
	return temporalPW, musterPW, appPW, nil
}

// temporal starts Temporal's services one at a time, creates the
// namespace with Muster's search attributes and returns a client of it.
func (cs *clusterStart) temporal(ctx context.Context) (client.Client, error) {
	dir, logs, pgHost, pgPort, temporalPW := cs.dir, cs.logs, cs.pgHost, cs.pgPort, cs.temporalPW
	ports, err := devenv.ServerPortsFrom(cs.o.temporalPort)
	if err != nil {
		return nil, err
	}
	tdir := filepath.Join(dir, "temporal")
	if err := os.MkdirAll(filepath.Join(tdir, "config"), 0o755); err != nil {
		return nil, err
	}
	dynamic := filepath.Join(tdir, "dynamicconfig.yaml")
	if err := os.WriteFile(dynamic, devenv.DynamicConfig, 0o644); err != nil {
		return nil, err
	}
	for _, svc := range devenv.TemporalServices {
		metricsPort, err := devenv.FreePort()
		if err != nil {
			return nil, err
		}
		cfg, err := devenv.RenderTemporalConfig(devenv.TemporalConfig{
			Service: svc, LogLevel: "warn", HistoryShards: 4, PostgresAddr: fmt.Sprintf("%s:%d", pgHost, pgPort),
			User: devenv.TemporalRole, Password: temporalPW, Database: devenv.TemporalDatabase, VisibilityDatabase: devenv.TemporalVisibilityDatabase,
			MetricsPort: metricsPort, Ports: ports, DynamicConfig: dynamic,
		})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tdir, "config", svc+".yaml"), cfg, 0o600); err != nil {
			return nil, err
		}
		p, err := devenv.StartProcess("temporal-"+svc, filepath.Join(logs, "temporal-"+svc+".log"), nil, cs.bins[devenv.TemporalServerBin],
			"--root", tdir, "--config", "config", "--env", svc, "--allow-no-auth", "start", "--service", svc)
		if err != nil {
			return nil, err
		}
		cs.st.Processes = append(cs.st.Processes, p)
		// One at a time: on a new database the first service writes the
		// cluster's metadata, and services started together race to do it.
		// The system worker serves no gRPC clients; nothing waits for it.
		if svc != "worker" {
			if err := waitForPort(ctx, fmt.Sprintf("127.0.0.1:%d", ports.Of(svc)), p); err != nil {
				return nil, err
			}
		}
		cs.a.say("Started Temporal %s (pid %d, log %s).", svc, p.PID, p.Log)
	}
	SaveOrLog(cs.a, *cs.st)
	cs.st.FrontendAddr = fmt.Sprintf("127.0.0.1:%d", ports.Frontend)
	c, err := waitForFrontend(ctx, cs.st.FrontendAddr, cs.st.Processes)
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, c, cs.st.Namespace, cs.o.retention); err != nil {
		c.Close()
		return nil, err
	}
	nc, err := client.NewClientFromExisting(c, client.Options{Namespace: cs.st.Namespace})
	// The namespace's client shares c's connection, which stays open
	// until both are closed.
	c.Close()
	if err != nil {
		return nil, err
	}
	// A new namespace reaches the services' namespace caches within about
	// ten seconds; until then they say it is not found.
	for start := time.Now(); ; {
		err := service.RegisterSearchAttributes(ctx, nc, cs.st.Namespace)
		var nf *serviceerror.NamespaceNotFound
		if err == nil {
			break
		}
		if !errors.As(err, &nf) || time.Since(start) > time.Minute {
			nc.Close()
			return nil, err
		}
		time.Sleep(time.Second)
	}
	cs.a.say("Namespace %s ready with Muster's search attributes.", cs.st.Namespace)
	return nc, nil
}

// ui starts the Web UI.
func (cs *clusterStart) ui() error {
	dir, logs := cs.dir, cs.logs
	udir := filepath.Join(dir, "ui", "config")
	if err := os.MkdirAll(udir, 0o755); err != nil {
		return err
	}
	uiCfg := fmt.Sprintf("temporalGrpcAddress: %s\nport: %d\nenableUi: true\ndefaultNamespace: %s\nnotifyOnNewVersion: false\n", cs.st.FrontendAddr, cs.o.uiPort, cs.st.Namespace)
	if err := os.WriteFile(filepath.Join(udir, "cluster.yaml"), []byte(uiCfg), 0o644); err != nil {
		return err
	}
	p, err := devenv.StartProcess("temporal-ui", filepath.Join(logs, "temporal-ui.log"), nil, cs.bins[devenv.TemporalUIBin],
		"--root", filepath.Join(dir, "ui"), "--config", "config", "--env", "cluster", "start")
	if err != nil {
		return err
	}
	cs.st.Processes = append(cs.st.Processes, p)
	cs.st.UIURL = fmt.Sprintf("http://localhost:%d", cs.o.uiPort)

	return nil
}

// workers starts the Muster workers, which do not migrate.
func (cs *clusterStart) workers() error {
	logs := cs.logs
	for i := 1; i <= cs.o.workers; i++ {
		mport, err := devenv.FreePort()
		if err != nil {
			return err
		}
		env := []string{
			config.EnvDatabaseURL + "=" + cs.st.DatabaseURL,
			config.EnvMigrate + "=false",
			"TEMPORAL_ADDRESS=" + cs.st.FrontendAddr,
			"TEMPORAL_NAMESPACE=" + cs.st.Namespace,
			config.EnvTaskQueue + "=" + cs.st.TaskQueue,
			config.EnvMetricsAddr + fmt.Sprintf("=127.0.0.1:%d", mport),
		}
		name := fmt.Sprintf("muster-worker-%d", i)
		p, err := devenv.StartProcess(name, filepath.Join(logs, name+".log"), env, cs.bins[devenv.MusterWorkerBin])
		if err != nil {
			return err
		}
		cs.st.Processes = append(cs.st.Processes, p)
		cs.a.say("Started %s (pid %d, metrics on 127.0.0.1:%d).", name, p.PID, mport)
	}
	return nil
}

// print says where everything is.
func (cs *clusterStart) print() {
	a, st, o, logs, dir := cs.a, cs.st, cs.o, cs.logs, cs.dir
	fmt.Fprintf(a.out, `
  Cluster up: Temporal %s (frontend, history, matching, worker), Web UI %s, %d Muster workers.
  Web UI:    %s/namespaces/%s/workflows
  Temporal:  TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s
  Database:  %s (host:port/database)
  Logs:      %s
  Stop:      muster cluster down --data-dir %s

`, devenv.TemporalServerVersion, devenv.TemporalUIVersion, o.workers, st.UIURL, st.Namespace, st.FrontendAddr, st.Namespace,
		config.RedactedDatabaseURL(st.DatabaseURL), logs, o.dataDir)
	fmt.Fprintf(a.out, "  The full DATABASE_URL (login %s, for the workers and the CLI) and migrate_database_url (login %s, for `muster migrate`), with their passwords, are in %s (readable by you only).\n\n",
		devenv.MusterAppLogin, devenv.MusterRole, devenv.ClusterStateFile(dir))
}

// exited names the first process that is no longer running.
func exited(ps []devenv.ClusterProcess) error {
	for _, p := range ps {
		if !p.Alive() {
			return fmt.Errorf("%s exited: see %s", p.Name, p.Log)
		}
	}
	return nil
}

// waitForPort waits until addr accepts connections, or p exits.
func waitForPort(ctx context.Context, addr string, p devenv.ClusterProcess) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return fmt.Errorf("%s exited: see %s", p.Name, p.Log)
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not listen on %s after 2 minutes: see %s", p.Name, addr, p.Log)
}

func waitForFrontend(ctx context.Context, addr string, ps []devenv.ClusterProcess) (client.Client, error) {
	deadline := time.Now().Add(3 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		if err := exited(ps); err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.DialContext(dctx, client.Options{HostPort: addr, Namespace: "temporal-system", Logger: quiet{}})
		cancel()
		if err == nil {
			return c, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil, fmt.Errorf("the Temporal frontend at %s did not answer within 3 minutes: %v", addr, last)
}

func ensureNamespace(ctx context.Context, c client.Client, ns string, retention time.Duration) error {
	ws := c.WorkflowService()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		if err == nil {
			return nil
		}
		var nf *serviceerror.NamespaceNotFound
		if errors.As(err, &nf) {
			_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(retention)})
			var exists *serviceerror.NamespaceAlreadyExists
			if err == nil || errors.As(err, &exists) {
				continue
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		time.Sleep(time.Second)
	}
}

func waitForUI(ctx context.Context, u string, ps []devenv.ClusterProcess) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if err := exited(ps); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the Web UI at %s did not answer within a minute", u)
}

// waitForPollers waits until every worker polls the task queue.
func waitForPollers(ctx context.Context, c client.Client, namespace, taskQueue string, n int, ps []devenv.ClusterProcess) error {
	deadline := time.Now().Add(2 * time.Minute)
	got := 0
	for time.Now().Before(deadline) {
		if err := exited(ps); err != nil {
			return err
		}
		resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: namespace, TaskQueue: &taskqueue.TaskQueue{Name: taskQueue},
		})
		if err == nil {
			ids := map[string]bool{}
			for _, p := range resp.GetPollers() {
				ids[p.GetIdentity()] = true
			}
			if got = len(ids); got >= n {
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("%d of %d workers poll task queue %s after 2 minutes: see their logs", got, n, taskQueue)
}
