package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// migrationNames returns the names of the embedded migrations in order.
func migrationNames(t *testing.T) []string {
	t.Helper()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatalf("Migrations() error = %v", err)
	}
	if len(ms) == 0 {
		t.Fatal("Migrations() = none, want at least 0001")
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return names
}

// open connects a store to url and closes it when the test ends.
func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// count runs a query returning one integer.
func count(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// appliedVersions reads schema_migrations.
func appliedVersions(t *testing.T, s *store.Store) []string {
	t.Helper()
	var names []string
	if err := s.DB().SelectContext(context.Background(), &names, `SELECT name FROM schema_migrations ORDER BY version`); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return names
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	want := migrationNames(t)
	s := open(t, pgtest.EmptyURL(t))

	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion() on a fresh database = %d, %v, want 0, nil", v, err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate() error = %v", err)
	}
	if !reflect.DeepEqual(applied, want) {
		t.Errorf("Migrate() = %v, want %v", applied, want)
	}
	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second Migrate() error = %v", err)
	}
	if len(again) != 0 {
		t.Errorf("second Migrate() = %v, want nothing applied", again)
	}
	if got := appliedVersions(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
	ms, _ := store.Migrations()
	if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
		t.Errorf("SchemaVersion() = %d, %v, want %d, nil", v, err, ms[len(ms)-1].Version)
	}
	for _, table := range []string{"areas", "gates", "roads", "sites", "staff", "responses", "step_events",
		"checkpoints", "checkpoint_staff", "road_closures", "notices", "disinfection_tasks", "compliance_checks"} {
		if n := count(t, s, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`, table); n != 1 {
			t.Errorf("table %s exists %d times after Migrate(), want 1", table, n)
		}
	}
}

// TestMigrateConcurrent starts several workers on one fresh database at once,
// as a deployment does; the advisory lock lets exactly one apply each file.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	want := migrationNames(t)
	url := pgtest.EmptyURL(t)
	const workers = 4
	stores := make([]*store.Store, workers)
	for i := range stores {
		stores[i] = open(t, url)
	}

	applied := make([][]string, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()

	var all []string
	for i := range stores {
		if errs[i] != nil {
			t.Errorf("Migrate() in worker %d error = %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	if !reflect.DeepEqual(all, want) {
		t.Errorf("Migrate() in %d workers applied %v in all, want each of %v once", workers, all, want)
	}
	if got := appliedVersions(t, stores[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
}

// reference returns the rows of the bundled reference scenario.
func reference(t *testing.T) scenario.Rows {
	t.Helper()
	f, err := scenario.Reference()
	if err != nil {
		t.Fatalf("scenario.Reference() error = %v", err)
	}
	return f.Rows()
}

// loaded returns a store with the given scenario rows loaded. The rows are
// loaded once per test process into a template that each test copies.
func loaded(t *testing.T, r scenario.Rows) *store.Store {
	t.Helper()
	key := fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, "%#v", r)))
	return pgtest.Seeded(t, key, func(ctx context.Context, s *store.Store) error {
		if _, err := s.LoadScenario(ctx, r); err != nil {
			return fmt.Errorf("LoadScenario(%s): %w", r.Scenario, err)
		}
		return nil
	})
}

// parse reads a scenario written inline in a test.
func parse(t *testing.T, yaml string) scenario.Rows {
	t.Helper()
	f, err := scenario.Parse(t.Name(), []byte(yaml))
	if err != nil {
		t.Fatalf("scenario.Parse() error = %v", err)
	}
	return f.Rows()
}
