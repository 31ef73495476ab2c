package pgtest

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/store"
)

func TestMain(m *testing.M) { Main(m) }

func schemaVersion(t *testing.T, url string) int {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestURLHoldsEveryMigration(t *testing.T) {
	t.Parallel()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if v := schemaVersion(t, URL(t)); v != ms[len(ms)-1].Version {
		t.Errorf("SchemaVersion() of URL() = %d, want %d", v, ms[len(ms)-1].Version)
	}
	if v := schemaVersion(t, EmptyURL(t)); v != 0 {
		t.Errorf("SchemaVersion() of EmptyURL() = %d, want 0", v)
	}
}

// TestTemplateTakesNoConnections checks that nobody can connect to the
// template: a connection to it would make every copy fail.
func TestTemplateTakesNoConnections(t *testing.T) {
	t.Parallel()
	URL(t)
	tpl, err := template()
	if err != nil {
		t.Fatal(err)
	}
	u, err := devenv.WithDatabase(adminURL, tpl)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err == nil {
		t.Errorf("connecting to the template %s succeeded, want a refusal", tpl)
	}
}

// TestSeededRunsOnceAndCopies checks that a seed runs once per key and that
// each test gets a copy of its own.
func TestSeededRunsOnceAndCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var runs atomic.Int32
	seed := func(ctx context.Context, s *store.Store) error {
		runs.Add(1)
		_, err := s.DB().ExecContext(ctx, `CREATE TABLE seeded (n int); INSERT INTO seeded VALUES (1)`)
		return err
	}
	first := Seeded(t, "pgtest", seed)
	second := Seeded(t, "pgtest", seed)
	if n := runs.Load(); n != 1 {
		t.Errorf("seed ran %d times for two copies, want once", n)
	}
	if _, err := first.DB().ExecContext(ctx, `INSERT INTO seeded VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*store.Store{"first": first, "second": second} {
		var n int
		if err := s.DB().GetContext(ctx, &n, `SELECT count(*) FROM seeded`); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"first": 2, "second": 1}[name]
		if n != want {
			t.Errorf("rows in the %s copy = %d, want %d", name, n, want)
		}
	}
}
