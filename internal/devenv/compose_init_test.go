package devenv_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/store"
)

// The logins docker-compose.yml uses, as its init script creates them.
const (
	initScript    = "cluster/postgres-init.sql"
	migratorLogin = "muster:muster"               // the migrate service: granted muster_owner
	workerLogin   = "muster_worker:muster_worker" // the workers: granted muster_app
	temporalLogin = "temporal:temporal"           // Temporal's services
)

// TestComposeInitScript runs docker-compose.yml's init script on a fresh
// private cluster as the postgres image does (psql, stop at the first
// error), migrates as the migrate service's login and checks what the
// workers' login may do. Roles are cluster-wide, so the cluster is the
// test's own: the script runs unchanged.
func TestComposeInitScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "muster-compose-init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := devenv.StartPostgres(ctx, dir, 0, nil)
	if err != nil {
		t.Fatalf("StartPostgres() = %v", err)
	}
	t.Cleanup(func() { pg.Stop() })

	bin, err := devenv.PostgresBinDir()
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(initScript)
	if err != nil {
		t.Fatal(err)
	}
	psql := exec.CommandContext(ctx, filepath.Join(bin, "psql"), "-v", "ON_ERROR_STOP=1", "-X", "-q",
		"-d", pg.URL("postgres"), "-f", script)
	if out, err := psql.CombinedOutput(); err != nil {
		t.Fatalf("psql -f %s: %v\n%s", initScript, err, out)
	}
	as := func(login, database string) string {
		return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", login, pg.Port, database)
	}

	migrator, err := store.Open(ctx, as(migratorLogin, "muster"))
	if err != nil {
		t.Fatalf("open as the migrator: %v", err)
	}
	defer migrator.Close()
	applied, err := migrator.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate() as the migrator = %v", err)
	}
	if len(applied) == 0 {
		t.Fatal("Migrate() applied nothing on a new database")
	}

	worker, err := store.Open(ctx, as(workerLogin, "muster"))
	if err != nil {
		t.Fatalf("open as the worker: %v", err)
	}
	defer worker.Close()
	// The worker's check at start (MUSTER_MIGRATE=false): nothing pending.
	if applied, err := worker.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Errorf("Migrate() as the worker after the migrator = %v, %v; want nothing to do", applied, err)
	}
	db := worker.DB()
	if _, err := db.ExecContext(ctx, `INSERT INTO areas (code, path, level, name, scenario) VALUES ('xd', 'xd', 'district', 'Xiadu', 'compose')`); err != nil {
		t.Errorf("insert a record as the worker: %v", err)
	}
	var name string
	if err := db.QueryRowContext(ctx, `SELECT name FROM areas WHERE code = 'xd'`).Scan(&name); err != nil || name != "Xiadu" {
		t.Errorf("read a record as the worker = %q, %v; want Xiadu", name, err)
	}
	denied := func(who, url, query string) {
		t.Helper()
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatalf("open as %s: %v", who, err)
		}
		defer s.Close()
		_, err = s.DB().ExecContext(ctx, query)
		var pe *pq.Error
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s: %s = %v, want permission denied (42501)", who, query, err)
		}
	}
	denied("worker", as(workerLogin, "muster"), `CREATE TABLE stolen (v text)`)
	denied("worker", as(workerLogin, "muster"), `SELECT * FROM resident_contacts`)
	denied("worker", as(workerLogin, "muster"), `SELECT * FROM muster_read_contacts(ARRAY[1::bigint], 'curious')`)
	// Temporal's login is a stranger to Muster's records.
	denied("temporal", as(temporalLogin, "muster"), `SELECT * FROM areas`)

	// No login the services use is a superuser or may create roles.
	for _, login := range []string{"muster", "muster_worker", "temporal"} {
		var super, createRole bool
		if err := migrator.DB().QueryRowContext(ctx, `SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1`, login).Scan(&super, &createRole); err != nil {
			t.Errorf("look up login %s: %v", login, err)
		} else if super || createRole {
			t.Errorf("login %s: superuser %v, createrole %v; want neither", login, super, createRole)
		}
	}
}
