// Package devenv starts the throwaway services a developer's machine needs to
// run Muster without Docker: a private PostgreSQL cluster from the machine's
// PostgreSQL binaries and Temporal's dev server from the pinned temporal CLI.
// The demo and the tests use it; production points at real services.
package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// PostgresBinDir finds a directory holding initdb and pg_ctl: the one
// pg_config reports, else the newest /usr/lib/postgresql/*/bin, else PATH.
func PostgresBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasPostgresTools(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasPostgresTools(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); hasPostgresTools(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (initdb, pg_ctl): install PostgreSQL (e.g. the postgresql package) or set DATABASE_URL to a running PostgreSQL")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func hasPostgresTools(dir string) bool {
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			return false
		}
	}
	return true
}

// Postgres is a private PostgreSQL cluster listening on 127.0.0.1.
type Postgres struct {
	Dir  string
	Port int
	bin  string
	// runAs is set when running as root: initdb refuses root, so the
	// cluster belongs to the postgres system user.
	runAs string
	log   io.Writer
}

// URL returns a connection URL for a database of the cluster.
func (p *Postgres) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, database)
}

// StartPostgres initialises a cluster in dir (unless one is there) and starts
// it on the given port (0 picks a free one). Output of the tools goes to log.
func StartPostgres(ctx context.Context, dir string, port int, log io.Writer) (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	p := &Postgres{Dir: dir, Port: port, bin: bin, log: log}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root, and initdb refuses root: create a 'postgres' system user, run as an ordinary user, or set DATABASE_URL")
		}
		p.runAs = "postgres"
	}
	if p.Port == 0 {
		if p.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres data folder: %w", err)
	}
	if p.runAs != "" {
		if out, err := exec.CommandContext(ctx, "chown", "-R", p.runAs, dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s: %v: %s", dir, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		if err := p.tool(ctx, "initdb", "-D", dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", p.Port)
	if err := p.tool(ctx, "pg_ctl", "-D", dir, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		return nil, fmt.Errorf("start PostgreSQL (log in %s): %w", filepath.Join(dir, "server.log"), err)
	}
	return p, nil
}

// Stop shuts the cluster down.
func (p *Postgres) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.tool(ctx, "pg_ctl", "-D", p.Dir, "-m", "fast", "-w", "stop")
}

func (p *Postgres) tool(ctx context.Context, name string, args ...string) error {
	path := filepath.Join(p.bin, name)
	var cmd *exec.Cmd
	if p.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", p.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, p.log)
	cmd.Stderr = io.MultiWriter(&out, p.log)
	// Run from a folder every user can read, so runuser does not complain
	// about the caller's working directory.
	cmd.Dir = os.TempDir()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(lastLines(out.String(), 5)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CreateDatabase creates a database through an admin connection URL unless
// it exists.
func CreateDatabase(ctx context.Context, adminURL, name string) error {
	db, err := openPing(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		var pe *pq.Error
		if errors.As(err, &pe) && pe.Code == "42P04" { // created meanwhile
			return nil
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops a database, closing its connections first.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	db, err := openPing(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
	return err
}

// WithDatabase returns the URL with its database name replaced.
func WithDatabase(rawURL, name string) (string, error) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return "", fmt.Errorf("%q is not a postgres:// URL", rawURL)
	}
	rest := rawURL[i+3:]
	q := ""
	if j := strings.IndexByte(rest, '?'); j >= 0 {
		rest, q = rest[:j], rest[j:]
	}
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rawURL[:i+3] + rest + "/" + name + q, nil
}

// GrantSchemaOwner lets a login that may not create roles run Muster's
// migrations: it creates the group roles the migrations would create
// (muster_owner, muster_app, muster_callback; see
// internal/store/migrations/0017_database_roles.sql) unless they exist,
// and grants muster_owner to the login. It runs through an admin URL.
func GrantSchemaOwner(ctx context.Context, adminURL, login string) error {
	db, err := openPing(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, r := range []string{"muster_owner", "muster_app", "muster_callback"} {
		_, err := db.ExecContext(ctx, `DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = `+pq.QuoteLiteral(r)+`) THEN
				CREATE ROLE `+pq.QuoteIdentifier(r)+` NOLOGIN;
			END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`)
		if err != nil {
			return fmt.Errorf("create role %s: %w", r, err)
		}
	}
	if _, err := db.ExecContext(ctx, `GRANT muster_owner TO `+pq.QuoteIdentifier(login)); err != nil {
		return fmt.Errorf("grant muster_owner to %s: %w", login, err)
	}
	return nil
}

// GrantSchemaApp makes a login Muster's application login: it grants
// muster_app (records, no DDL, no direct read of contacts) to it, through
// an admin URL. The role exists once GrantSchemaOwner or the migrations
// have run.
func GrantSchemaApp(ctx context.Context, adminURL, login string) error {
	db, err := openPing(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `GRANT muster_app TO `+pq.QuoteIdentifier(login)); err != nil {
		return fmt.Errorf("grant muster_app to %s: %w", login, err)
	}
	return nil
}
