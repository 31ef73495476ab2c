// Package pgtest gives each test its own PostgreSQL database, so test runs
// never collide. It uses MUSTER_TEST_DATABASE_URL (an admin URL) when set,
// else the local server on 127.0.0.1:5432 when it answers, else a private
// cluster started from the machine's PostgreSQL binaries.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
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

var (
	once     sync.Once
	adminURL string
	private  *devenv.Postgres
	setupErr error
)

func admin() (string, error) {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if u := os.Getenv(EnvAdminURL); u != "" {
			adminURL = u
			return
		}
		if devenv.Reachable(ctx, localAdminURL) {
			adminURL = localAdminURL
			return
		}
		dir, err := os.MkdirTemp("", "muster-pgtest-")
		if err != nil {
			setupErr = err
			return
		}
		private, setupErr = devenv.StartPostgres(ctx, dir, 0, nil)
		if setupErr == nil {
			adminURL = private.URL("postgres")
		}
	})
	return adminURL, setupErr
}

// Main runs a package's tests and stops the private cluster, if one was
// started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if private != nil {
		private.Stop()
		os.RemoveAll(private.Dir)
	}
	os.Exit(code)
}

// URL creates an empty database for the test, dropped when it ends, and
// returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	a, err := admin()
	if err != nil {
		t.Fatalf("no PostgreSQL for tests: %v (set %s to an admin URL)", err, EnvAdminURL)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "muster_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := devenv.CreateDatabase(ctx, a, name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if err := devenv.DropDatabase(context.Background(), a, name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := devenv.WithDatabase(a, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// New returns a store on a fresh, migrated database of the test's own.
func New(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// Name returns a short random suffix for IDs that must not collide between runs.
func Name(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b))
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
