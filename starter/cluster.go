package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
)

type clusterOptions struct {
	dataDir      string
	binDir       string
	adminURL     string
	temporalPort int
	uiPort       int
	workers      int
	retention    time.Duration
}

func (a *app) clusterCommand() *cobra.Command {
	o := clusterOptions{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run the production topology on this machine: a Temporal cluster on PostgreSQL, its Web UI and several workers",
		Long: `cluster starts and stops the topology a command center runs in production,
natively on one machine: Temporal's frontend, history, matching and worker
services as separate processes on PostgreSQL, the Temporal Web UI, and
several Muster workers. Muster's database lives on the same PostgreSQL under
a role of its own, separate from Temporal's role and databases; neither is a
superuser.

PostgreSQL is --admin-url (a URL of a role that may create roles and
databases) if given, else DATABASE_URL if set, else a private cluster
started from the machine's PostgreSQL binaries in the data folder. The
binaries come from bin/ (` + "`make cluster`" + ` builds them). Logs and state are kept in --data-dir.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.dataDir, "data-dir", ".muster/cluster", "folder for the cluster's logs, configuration, state and private PostgreSQL")
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster and wait until it serves",
		Long: `up prepares PostgreSQL (roles, databases, Temporal's schemas with the server's
SQL tool, Muster's migrations), starts the four Temporal services, registers
the namespace and Muster's search attributes, starts the Web UI and the
workers, and prints how to reach them. It returns once everything answers;
the processes keep running until ` + "`muster cluster down`" + `.`,
		Example: `  muster cluster up
  muster cluster up --workers 4 --admin-url postgres://postgres@db.internal:5432/postgres`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.clusterUp(cmd.Context(), o)
			return err
		},
	}
	up.Flags().StringVar(&o.binDir, "bin", "bin", "folder holding temporal-server, temporal-sql-tool, temporal-ui-server and muster-worker")
	up.Flags().StringVar(&o.adminURL, "admin-url", "", "PostgreSQL URL of a role that may create roles and databases (default: DATABASE_URL if set, else a private cluster)")
	up.Flags().IntVar(&o.temporalPort, "temporal-port", 7233, "port of Temporal's frontend")
	up.Flags().IntVar(&o.uiPort, "ui-port", config.DefaultUIPort, "port of the Temporal Web UI")
	up.Flags().IntVar(&o.workers, "workers", devenv.ClusterWorkers, "number of Muster workers")
	up.Flags().DurationVar(&o.retention, "retention", 72*time.Hour, "how long closed workflows are kept in the namespace")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the cluster (and its private PostgreSQL)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.clusterDown(cmd.Context(), o.dataDir)
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's processes and whether its frontend answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.clusterStatus(cmd.Context(), o.dataDir)
		},
	}
	cmd.AddCommand(up, down, status)
	return cmd
}

// SaveOrLog writes the state file, saying so when it cannot.
func SaveOrLog(a *app, st devenv.ClusterState) {
	if err := devenv.SaveClusterState(st); err != nil {
		a.say("Cannot write %s: %v", devenv.ClusterStateFile(st.Dir), err)
	}
}

func (a *app) clusterDown(ctx context.Context, dataDir string) error {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	st, err := devenv.LoadClusterState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no cluster in %s (no %s)", dir, filepath.Base(devenv.ClusterStateFile(dir)))
	}
	if err != nil {
		return err
	}
	var errs []error
	// Workers and the UI first, then the frontend, and the services that
	// hold state last.
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		if !p.Alive() {
			continue
		}
		if err := devenv.StopProcess(p, 20*time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		a.say("Stopped %s (pid %d).", p.Name, p.PID)
	}
	if st.PostgresDir != "" {
		if err := devenv.StopPostgresDir(ctx, st.PostgresDir); err != nil {
			errs = append(errs, fmt.Errorf("stop PostgreSQL in %s: %w", st.PostgresDir, err))
		} else {
			a.say("Stopped the private PostgreSQL cluster (its data stays in %s).", st.PostgresDir)
		}
	}
	return errors.Join(errs...)
}

func (a *app) clusterStatus(ctx context.Context, dataDir string) error {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	st, err := devenv.LoadClusterState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no cluster in %s: start one with `make cluster` or `muster cluster up`", dir)
	}
	if err != nil {
		return err
	}
	frontend := "not answering"
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c, err := client.DialContext(dctx, client.Options{HostPort: st.FrontendAddr, Namespace: st.Namespace, Logger: quiet{}}); err == nil {
		frontend = "answering"
		c.Close()
	}
	if a.output == "json" {
		type process struct {
			Name  string `json:"name"`
			PID   int    `json:"pid"`
			State string `json:"state"`
			Log   string `json:"log"`
		}
		ps := []process{}
		for _, p := range st.Processes {
			ps = append(ps, process{p.Name, p.PID, processState(p.Alive()), p.Log})
		}
		return printJSON(a.out, map[string]any{"processes": ps, "frontend": st.FrontendAddr, "frontend_state": frontend,
			"web_ui": st.UIURL, "database": config.RedactedDatabaseURL(st.DatabaseURL)})
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tPID\tSTATE\tLOG")
	for _, p := range st.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Name, p.PID, processState(p.Alive()), p.Log)
	}
	tw.Flush()
	fmt.Fprintf(a.out, "Temporal frontend %s: %s. Web UI: %s. Database: %s.\n", st.FrontendAddr, frontend, st.UIURL, config.RedactedDatabaseURL(st.DatabaseURL))
	return nil
}

func processState(alive bool) string {
	if alive {
		return "running"
	}
	return "stopped"
}

// quiet drops the SDK client's own log lines while the cluster starts.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
