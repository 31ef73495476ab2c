package devenv

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/lib/pq"
)

// The pinned cluster: a patched Temporal server release and the Web UI
// server, both built from the Go module proxy by `make cluster`.
// docker-compose.yml uses images of the same versions; a test checks it.
const (
	TemporalServerModule  = "go.temporal.io/server"
	TemporalServerVersion = "v1.29.7"
	TemporalUIModule      = "github.com/temporalio/ui-server/v2"
	TemporalUIVersion     = "v2.42.1"
	// ClusterWorkers is how many Muster workers the cluster runs by default.
	ClusterWorkers = 2
)

// Binaries of the cluster, in the bin folder.
const (
	TemporalServerBin  = "temporal-server"
	TemporalSQLToolBin = "temporal-sql-tool"
	TemporalUIBin      = "temporal-ui-server"
	MusterWorkerBin    = "muster-worker"
)

// TemporalServices are the services of the Temporal server, each run as a
// process of its own, in the order they start.
var TemporalServices = []string{"history", "matching", "frontend", "worker"}

// Databases and roles of the cluster. Temporal and Muster each own theirs;
// no login is a superuser. MusterRole owns Muster's database and migrates
// it (granted muster_owner); the workers and the CLI log in as
// MusterAppLogin (granted muster_app), which can neither migrate nor read
// contacts, as in docker-compose.yml.
const (
	TemporalRole               = "temporal"
	TemporalDatabase           = "temporal"
	TemporalVisibilityDatabase = "temporal_visibility"
	MusterRole                 = "muster"
	MusterAppLogin             = "muster_worker"
)

//go:embed cluster/temporal.yaml
var temporalConfigTemplate string

// DynamicConfig is the Temporal dynamic configuration of the cluster
// (cluster/dynamicconfig.yaml, which docker-compose.yml mounts too).
//
//go:embed cluster/dynamicconfig.yaml
var DynamicConfig []byte

// ServerPorts are the ports of the four Temporal services.
type ServerPorts struct {
	Frontend, FrontendHTTP, FrontendMembership int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
}

// Of returns the gRPC port of a service.
func (p ServerPorts) Of(service string) int {
	switch service {
	case "history":
		return p.History
	case "matching":
		return p.Matching
	case "worker":
		return p.Worker
	}
	return p.Frontend
}

// ServerPortsFrom lays the services' ports out around the frontend's as
// the server's own development configuration does (7233: history 7234,
// matching 7235, worker 7239, HTTP 7243, membership 6933…6939). Temporal
// stores membership ports as smallint, so every port must stay below 32768.
// It fails when one of them is in use.
func ServerPortsFrom(frontend int) (ServerPorts, error) {
	p := ServerPorts{
		Frontend: frontend, FrontendHTTP: frontend + 10, FrontendMembership: frontend - 300,
		History: frontend + 1, HistoryMembership: frontend - 299,
		Matching: frontend + 2, MatchingMembership: frontend - 298,
		Worker: frontend + 6, WorkerMembership: frontend - 294,
	}
	if frontend < 1324 || frontend > 32000 {
		return p, fmt.Errorf("frontend port %d: want 1324 to 32000, so every service's port fits Temporal's membership table", frontend)
	}
	for _, port := range []int{p.Frontend, p.FrontendHTTP, p.FrontendMembership, p.History, p.HistoryMembership,
		p.Matching, p.MatchingMembership, p.Worker, p.WorkerMembership} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return p, fmt.Errorf("port %d, which the Temporal services need beside frontend port %d, is in use: pick another frontend port", port, frontend)
		}
		l.Close()
	}
	return p, nil
}

// TemporalConfig is what the server configuration template needs.
type TemporalConfig struct {
	Service            string
	LogLevel           string
	HistoryShards      int
	PostgresAddr       string
	User, Password     string
	Database           string
	VisibilityDatabase string
	MetricsPort        int
	Ports              ServerPorts
	DynamicConfig      string
}

// RenderTemporalConfig renders the server configuration of one service.
func RenderTemporalConfig(c TemporalConfig) ([]byte, error) {
	t, err := template.New("temporal.yaml").Option("missingkey=error").Parse(temporalConfigTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, c); err != nil {
		return nil, fmt.Errorf("render the %s configuration: %w", c.Service, err)
	}
	return b.Bytes(), nil
}

// ClusterProcess is a process the cluster started.
type ClusterProcess struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
}

// Alive reports whether the process still runs.
func (p ClusterProcess) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	return syscall.Kill(p.PID, 0) == nil
}

// ClusterState is what `cluster up` leaves in the data folder for `status`
// and `down`. It holds the roles' passwords, so it is readable by its owner
// only.
type ClusterState struct {
	Dir          string `json:"dir"`
	FrontendAddr string `json:"frontend"`
	UIURL        string `json:"ui"`
	Namespace    string `json:"namespace"`
	TaskQueue    string `json:"task_queue"`
	// DatabaseURL is the application login's, for the workers and the
	// CLI; MigrateDatabaseURL is the owner's, for `muster migrate`.
	DatabaseURL        string `json:"database_url"`
	MigrateDatabaseURL string `json:"migrate_database_url,omitempty"`
	// PostgresDir is the private PostgreSQL cluster's folder, when the
	// cluster started one.
	PostgresDir string           `json:"postgres_dir,omitempty"`
	Processes   []ClusterProcess `json:"processes"`
	StartedAt   time.Time        `json:"started_at"`
}

// ClusterStateFile is the state file's path in a cluster folder.
func ClusterStateFile(dir string) string { return filepath.Join(dir, "cluster.json") }

// SaveClusterState writes the state file.
func SaveClusterState(s ClusterState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(ClusterStateFile(s.Dir), b, 0o600)
}

// LoadClusterState reads the state file of a cluster folder.
func LoadClusterState(dir string) (ClusterState, error) {
	var s ClusterState
	b, err := os.ReadFile(ClusterStateFile(dir))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// StartProcess starts a long-running process detached from the caller's
// terminal (its own process group, so Ctrl-C on the command that started
// it does not stop it), with stdout and stderr appended to logPath.
func StartProcess(name, logPath string, env []string, bin string, args ...string) (ClusterProcess, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return ClusterProcess{}, err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n--- %s starting %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = filepath.Dir(logPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return ClusterProcess{}, fmt.Errorf("start %s: %w", name, err)
	}
	p := ClusterProcess{Name: name, PID: cmd.Process.Pid, Log: logPath}
	// Reap the child when it exits, so Alive does not see a zombie.
	go cmd.Wait()
	return p, nil
}

// StopProcess sends SIGTERM and waits up to grace for the process to end,
// then kills it.
func StopProcess(p ClusterProcess, grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.Alive() || zombie(p.PID) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	return nil
}

// zombie reports whether a process has exited but not been reaped (its
// parent, an earlier `cluster up`, may be gone).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// RandomPassword returns a password for a database role.
func RandomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// EnsureRole creates a login role that is not a superuser, or resets its
// password, and creates the databases it owns unless they exist.
func EnsureRole(ctx context.Context, adminURL, role, password string, databases ...string) error {
	db, err := openPing(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", role, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("%s ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s",
		verb, pq.QuoteIdentifier(role), pq.QuoteLiteral(password))); err != nil {
		return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), role, err)
	}
	for _, name := range databases {
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			return fmt.Errorf("look up database %s: %w", name, err)
		}
		if !exists {
			if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" OWNER "+pq.QuoteIdentifier(role)); err != nil {
				return fmt.Errorf("create database %s: %w", name, err)
			}
		}
	}
	return nil
}

// TemporalSchemaDir finds the server module's PostgreSQL schemas in the
// module cache (`go mod download` fetches them when missing).
func TemporalSchemaDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", TemporalServerModule+"@"+TemporalServerVersion).Output()
	if err != nil {
		return "", fmt.Errorf("find %s@%s in the module cache (go mod download): %w", TemporalServerModule, TemporalServerVersion, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", err
	}
	if m.Error != "" {
		return "", errors.New(m.Error)
	}
	dir := filepath.Join(m.Dir, "schema", "postgresql", "v12")
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// SetupTemporalSchema creates or updates the schema of one of Temporal's
// databases with the server's SQL tool: versioning tables first (once),
// then every versioned step up to the release's schema.
func SetupTemporalSchema(ctx context.Context, sqlTool, host string, port int, user, password, database, versionedDir string, log io.Writer) error {
	base := []string{"--plugin", "postgres12", "--ep", host, "-p", fmt.Sprint(port), "-u", user, "--pw", password, "--db", database}
	db, err := openPing(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", user, password, host, port, database))
	if err != nil {
		return err
	}
	var versioned bool
	err = db.QueryRowContext(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&versioned)
	db.Close()
	if err != nil {
		return fmt.Errorf("look at %s: %w", database, err)
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, sqlTool, append(base, args...)...)
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(&out, log)
		cmd.Stderr = io.MultiWriter(&out, log)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s on %s: %v: %s", filepath.Base(sqlTool), args[0], database, err, lastLines(out.String(), 5))
		}
		return nil
	}
	if !versioned {
		if err := run("setup-schema", "-v", "0.0"); err != nil {
			return err
		}
	}
	return run("update-schema", "-d", versionedDir)
}

// StopPostgresDir stops a private cluster started by StartPostgres in dir.
func StopPostgresDir(ctx context.Context, dir string) error {
	bin, err := PostgresBinDir()
	if err != nil {
		return err
	}
	p := &Postgres{Dir: dir, bin: bin, log: io.Discard}
	if os.Geteuid() == 0 {
		p.runAs = "postgres"
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		return nil // not running
	}
	return p.tool(ctx, "pg_ctl", "-D", dir, "-m", "fast", "-w", "stop")
}
