// Package pgtest gives each test its own PostgreSQL database, so test runs
// never collide. It uses MUSTER_TEST_DATABASE_URL (an admin URL) when set,
// else the local server on 127.0.0.1:5432 when it answers, else a private
// cluster started from the machine's PostgreSQL binaries.
//
// A test's database is a copy of a template database that holds every
// embedded migration: copying a template takes a fraction of the time that
// running the migrations does. The template is named after a hash of the
// migrations, so test processes running at the same time (one per package)
// and test runs of different migrations share a template only when its
// schema is theirs.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/store"
)

// EnvAdminURL names the admin URL tests create their databases through.
const EnvAdminURL = "MUSTER_TEST_DATABASE_URL"

const localAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Database names. A template is templatePrefix and the migrations' hash; a
// template being built is buildPrefix and the hash, renamed to the
// template's name only once it is complete, so a test run that stops half
// way never leaves a half-migrated template behind.
const (
	testPrefix     = "muster_test_"
	templatePrefix = "muster_tpl_"
	buildPrefix    = "muster_tplbuild_"
	seedPrefix     = "muster_seed_"
)

// templateLock is the advisory lock key held while a process looks for,
// builds or tidies the templates, so processes starting together build each
// template once. It differs from the store's migration lock.
const templateLock = 0x6d7573746572_7470 // "muster" "tp"

// staleAfter is how long a template of other migrations stays unused
// before a run drops it; a template in use is touched by every run. A
// seeded template lives as long as its test process; one older than
// seedStaleAfter was left by a process that did not end normally.
const (
	staleAfter     = 24 * time.Hour
	seedStaleAfter = 6 * time.Hour
)

var (
	once     sync.Once
	adminURL string
	adminDB  *sql.DB
	private  *devenv.Postgres
	setupErr error

	templateOnce sync.Once
	templateName string
	templateErr  error

	seedsMu sync.Mutex
	seeds   = map[string]*seeded{}

	// afterAll holds what runs once the package's tests have run; inMain
	// says whether Main runs them.
	afterMu  sync.Mutex
	afterAll []func()
	inMain   bool
)

// seeded is a template of this process with a seed written into it.
type seeded struct {
	once sync.Once
	name string
	err  error
}

func admin() (string, error) {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		switch u := os.Getenv(EnvAdminURL); {
		case u != "":
			adminURL = u
		case devenv.Reachable(ctx, localAdminURL):
			adminURL = localAdminURL
		default:
			dir, err := os.MkdirTemp("", "muster-pgtest-")
			if err != nil {
				setupErr = err
				return
			}
			private, setupErr = devenv.StartPostgres(ctx, dir, 0, nil)
			if setupErr != nil {
				return
			}
			adminURL = private.URL("postgres")
		}
		adminDB, setupErr = sql.Open("postgres", adminURL)
		if setupErr == nil {
			// Creating and dropping databases is quick; a few connections
			// serve every parallel test of the process.
			adminDB.SetMaxOpenConns(4)
			setupErr = adminDB.PingContext(ctx)
		}
	})
	return adminURL, setupErr
}

// Main runs a package's tests and stops the private cluster, if one was
// started. Call it from TestMain.
func Main(m *testing.M) {
	afterMu.Lock()
	inMain = true
	afterMu.Unlock()
	code := m.Run()
	afterMu.Lock()
	fns := afterAll
	afterAll = nil
	afterMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	if adminDB != nil {
		for _, sd := range seeds {
			if sd.name != "" {
				if err := dropTemplate(context.Background(), adminDB, sd.name); err != nil {
					fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
				}
			}
		}
		adminDB.Close()
	}
	if private != nil {
		private.Stop()
		os.RemoveAll(private.Dir)
	}
	os.Exit(code)
}

// AfterAll registers fn to run once the package's tests have run, before
// Main exits, and reports whether it will: false when the package's
// TestMain does not call Main, and then fn is not kept.
func AfterAll(fn func()) bool {
	afterMu.Lock()
	defer afterMu.Unlock()
	if !inMain {
		return false
	}
	afterAll = append(afterAll, fn)
	return true
}

// URL creates a database for the test that holds every migration, dropped
// when the test ends, and returns its URL. Migrating it again applies
// nothing.
func URL(t testing.TB) string {
	t.Helper()
	a := mustAdmin(t)
	tpl, err := template()
	if err != nil {
		t.Fatalf("migrated template database: %v", err)
	}
	return create(t, a, tpl)
}

// EmptyURL creates an empty database for the test, without migrations,
// dropped when the test ends, and returns its URL: for tests of migrating.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return create(t, mustAdmin(t), "template1")
}

// New returns a store on a fresh, migrated database of the test's own.
func New(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Seeded returns a store on a database of the test's own that holds every
// migration and what seed wrote. Seed runs once per key in a test process,
// into a template that the process's tests copy and that is dropped when
// the process ends (Main): loading the same data again for every test costs
// far more than copying it. The key names what seed writes.
func Seeded(t testing.TB, key string, seed func(ctx context.Context, s *store.Store) error) *store.Store {
	t.Helper()
	a := mustAdmin(t)
	seedsMu.Lock()
	sd := seeds[key]
	if sd == nil {
		sd = &seeded{}
		seeds[key] = sd
	}
	seedsMu.Unlock()
	sd.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		sd.name, sd.err = buildSeed(ctx, seed)
	})
	if sd.err != nil {
		t.Fatalf("seeded template database %q: %v", key, sd.err)
	}
	s, err := store.Open(context.Background(), create(t, a, sd.name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// buildSeed copies the migrated template, runs seed in the copy and turns
// the copy into a template that accepts no connections.
func buildSeed(ctx context.Context, seed func(context.Context, *store.Store) error) (string, error) {
	tpl, err := template()
	if err != nil {
		return "", err
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := seedPrefix + hex.EncodeToString(b)
	q := pq.QuoteIdentifier(name)
	if err := createSeed(ctx, q, tpl); err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		adminDB.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)")
		return "", err
	}
	u, err := devenv.WithDatabase(adminURL, name)
	if err != nil {
		return fail(err)
	}
	s, err := store.Open(ctx, u)
	if err != nil {
		return fail(err)
	}
	err = seed(ctx, s)
	s.Close()
	if err != nil {
		return fail(fmt.Errorf("seed: %w", err))
	}
	if _, err := adminDB.ExecContext(ctx, "ALTER DATABASE "+q+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
		return fail(fmt.Errorf("seal %s: %w", name, err))
	}
	return name, nil
}

// createSeed creates the database a seed is written into, with the time in
// its comment, under the lock, so that no other process takes it for one
// left behind (one without a time) while it is being created.
func createSeed(ctx context.Context, q, tpl string) error {
	conn, err := adminDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, templateLock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLock)
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+q+" TEMPLATE "+pq.QuoteIdentifier(tpl)); err != nil {
		return fmt.Errorf("create %s: %w", q, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMENT ON DATABASE "+q+" IS "+pq.QuoteLiteral(time.Now().UTC().Format(time.RFC3339))); err != nil {
		conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+q)
		return fmt.Errorf("touch %s: %w", q, err)
	}
	return nil
}

// Name returns a short random suffix for IDs that must not collide between runs.
func Name(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b))
}

func mustAdmin(t testing.TB) string {
	t.Helper()
	a, err := admin()
	if err != nil {
		t.Fatalf("no PostgreSQL for tests: %v (set %s to an admin URL)", err, EnvAdminURL)
	}
	return a
}

// create copies the template into a database of the test's own.
func create(t testing.TB, admin, tpl string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := testPrefix + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := adminDB.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(tpl)); err != nil {
		t.Fatalf("create test database from %s: %v", tpl, err)
	}
	t.Cleanup(func() {
		if _, err := adminDB.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := devenv.WithDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// template returns the name of the template database of this build's
// migrations, building it when no process has yet.
func template() (string, error) {
	templateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		templateName, templateErr = ensureTemplate(ctx)
	})
	return templateName, templateErr
}

// migrationsHash identifies the embedded migrations: their names and text.
func migrationsHash() (string, error) {
	ms, err := store.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Name, m.SQL)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func ensureTemplate(ctx context.Context) (string, error) {
	hash, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := templatePrefix + hash
	// An advisory lock belongs to a connection: hold one for its whole span.
	conn, err := adminDB.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, templateLock); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLock)

	// Tidying first also drops what a run that stopped while building
	// this very template left behind. A failure to tidy fails no test.
	if err := dropStale(ctx, conn, name); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up %s: %w", name, err)
	}
	if !exists {
		if err := buildTemplate(ctx, conn, hash); err != nil {
			return "", err
		}
	}
	// The comment says when a run last used the template, so that runs of
	// other migrations can tell a template nobody uses any more.
	if _, err := conn.ExecContext(ctx, "COMMENT ON DATABASE "+pq.QuoteIdentifier(name)+" IS "+pq.QuoteLiteral(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return "", fmt.Errorf("touch %s: %w", name, err)
	}
	return name, nil
}

// buildTemplate migrates a new database and turns it into the template.
// The template accepts no connections: CREATE DATABASE … TEMPLATE fails
// while anyone is connected to the template, and nothing connects to it
// after it is built.
func buildTemplate(ctx context.Context, conn *sql.Conn, hash string) error {
	build := buildPrefix + hash
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(build)); err != nil {
		return fmt.Errorf("create %s: %w", build, err)
	}
	u, err := devenv.WithDatabase(adminURL, build)
	if err != nil {
		return err
	}
	s, err := store.Open(ctx, u)
	if err != nil {
		return err
	}
	_, err = s.Migrate(ctx)
	s.Close()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", build, err)
	}
	// The store's connections are closed; PostgreSQL waits a few seconds
	// for their server processes to end before it renames the database.
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(build)+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
		return fmt.Errorf("seal %s: %w", build, err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(build)+" RENAME TO "+pq.QuoteIdentifier(templatePrefix+hash)); err != nil {
		return fmt.Errorf("rename %s: %w", build, err)
	}
	return nil
}

// dropStale drops what runs left behind: templates being built (only the
// holder of the lock builds, so any it finds were abandoned), templates of
// other migrations unused for a day and seeded templates of processes that
// did not end normally.
func dropStale(ctx context.Context, conn *sql.Conn, keep string) error {
	rows, err := conn.QueryContext(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE (datname LIKE 'muster\_tpl\_%' OR datname LIKE 'muster\_tplbuild\_%' OR datname LIKE 'muster\_seed\_%')
		AND datname <> $1`, keep)
	if err != nil {
		return fmt.Errorf("list templates: %w", err)
	}
	var stale []string
	for rows.Next() {
		var name, used string
		if err := rows.Scan(&name, &used); err != nil {
			rows.Close()
			return fmt.Errorf("list templates: %w", err)
		}
		last, err := time.Parse(time.RFC3339, used)
		maxAge := staleAfter
		if strings.HasPrefix(name, seedPrefix) {
			maxAge = seedStaleAfter
		}
		if strings.HasPrefix(name, buildPrefix) || err != nil || time.Since(last) > maxAge {
			stale = append(stale, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list templates: %w", err)
	}
	var errs []error
	for _, name := range stale {
		errs = append(errs, dropTemplate(ctx, conn, name))
	}
	return errors.Join(errs...)
}

// dropTemplate drops a template database; PostgreSQL drops no template.
func dropTemplate(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, name string) error {
	q := pq.QuoteIdentifier(name)
	if _, err := db.ExecContext(ctx, "ALTER DATABASE "+q+" WITH IS_TEMPLATE false"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// LoginAs creates a login role of the test's own, granted the given group
// roles (such as muster_app or muster_callback, which the migrations
// create), and returns dbURL with that login as its user. The login is
// dropped when the test ends.
func LoginAs(t testing.TB, dbURL string, roles ...string) string {
	t.Helper()
	a, err := admin()
	if err != nil {
		t.Fatalf("no PostgreSQL for tests: %v (set %s to an admin URL)", err, EnvAdminURL)
	}
	login := strings.ReplaceAll(Name("muster_login"), "-", "_")
	db, err := sql.Open("postgres", a)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	password := Name("pw")
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, login, password)); err != nil {
		t.Fatalf("create login %s: %v", login, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("postgres", a)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP ROLE IF EXISTS ` + login); err != nil {
			t.Logf("drop login %s: %v", login, err)
		}
	})
	for _, r := range roles {
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`GRANT %s TO %s`, pq.QuoteIdentifier(r), login)); err != nil {
			t.Fatalf("grant %s to %s: %v", r, login, err)
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("database URL: %v", err)
	}
	u.User = url.UserPassword(login, password)
	return u.String()
}
