package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/pgtest"
)

// TestOnlyMigrateMigrates runs a command on a fresh database: it refuses,
// naming `muster migrate`, and changes nothing. After `muster migrate`,
// run as the owner, the application role's login loads a scenario without
// any DDL right.
func TestOnlyMigrateMigrates(t *testing.T) {
	dbURL := pgtest.EmptyURL(t)
	t.Setenv("DATABASE_URL", dbURL)
	_, err := runCLI(t, "areas")
	if err == nil || !strings.Contains(err.Error(), "run `muster migrate`") {
		t.Fatalf("muster areas on a fresh database = %v, want an error naming `muster migrate`", err)
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("tables after muster areas = %d, %v, want 0 (no migration)", tables, err)
	}

	if out, err := runCLI(t, "migrate"); err != nil || !strings.Contains(out, "0017_database_roles.sql") {
		t.Fatalf("muster migrate = %q, %v, want the migrations applied", out, err)
	}
	file := filepath.Join(t.TempDir(), "small.yaml")
	if err := os.WriteFile(file, []byte(`name: small
areas:
  - code: c
    name: C
    level: community
    areas:
      - {code: k1, name: K1, level: compound, population: 2, gates: [{code: main, entrance: true}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", pgtest.LoginAs(t, dbURL, "muster_app"))
	if out, err := runCLI(t, "scenario", "load", file); err != nil {
		t.Fatalf("muster scenario load as muster_app = %q, %v", out, err)
	}
	if out, err := runCLI(t, "areas"); err != nil || !strings.Contains(out, "k1") {
		t.Errorf("muster areas as muster_app = %q, %v, want the loaded compound", out, err)
	}
}
