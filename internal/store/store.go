// Package store keeps Muster's records in PostgreSQL: the area tree, the rows
// each step writes and the step event log. Every exported method that writes
// does so in one transaction, and every write is keyed so that repeating it
// changes nothing. Methods that only read may take several statements outside
// a transaction (SealPlan reads the compound, then its gates, roads and free
// staff): what they return is advice that the writes after them check again.
// The store maps rows to the types of internal/domain and the driver's errors
// to the domain's errors (pgerrors.go); nothing else reaches the database.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/dsn"
)

// Store is Muster's PostgreSQL store.
type Store struct {
	db pool
}

// Open connects to PostgreSQL and checks the connection. The error says what
// to do when the database cannot be reached.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	s, err := Connect(databaseURL)
	if err != nil {
		return nil, err
	}
	db := s.db.DB
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		var pe *pq.Error
		if errors.As(err, &pe) && pe.Code == "3D000" {
			return nil, fmt.Errorf("%v at %s: create it (e.g. `createdb -h HOST -U USER NAME`) or point DATABASE_URL at an existing database", dsn.Scrub(pe.Message, databaseURL), dsn.Describe(databaseURL))
		}
		// The error still wraps the driver's, for errors.Is, but its text
		// has no password.
		return nil, &scrubbedError{msg: fmt.Sprintf("cannot reach PostgreSQL at %s: %s (start PostgreSQL or set DATABASE_URL to a reachable database)", dsn.Describe(databaseURL), dsn.Scrub(err.Error(), databaseURL)), err: err}
	}
	return s, nil
}

// scrubbedError is a driver's error whose message was cleaned of the
// connection string's secrets.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// Connect returns a store for databaseURL without reaching the database:
// connections are made when a call needs one, so a process can start while
// PostgreSQL is down and its calls succeed once it is back.
func Connect(databaseURL string) (*Store, error) {
	db, err := sqlx.Open("postgres", databaseURL)
	if err != nil {
		// The driver's message may quote the string, password and all.
		return nil, fmt.Errorf("DATABASE_URL is not a PostgreSQL URL or key=value string (%s)", dsn.Describe(databaseURL))
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{db: pool{db}}, nil
}

// DB exposes the connection pool to tests, which check rows directly;
// production code outside the store goes through its methods (a test in
// internal/layers checks it).
func (s *Store) DB() *sqlx.DB { return s.db.DB }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key held while migrating, so several
// workers starting together do not race.
const migrationLock = 0x6d7573746572 // "muster"

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		b, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

// Migrate applies the migrations not yet applied, each in its own
// transaction, and returns the names it applied. Running it again applies
// nothing.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	// The version table is created only when missing: CREATE … IF NOT
	// EXISTS needs the right to create even when the table is there, and a
	// login without DDL rights may still ask whether anything is pending.
	var exists bool
	if err := conn.GetContext(ctx, &exists, `SELECT to_regclass('schema_migrations') IS NOT NULL`); err != nil {
		return nil, fmt.Errorf("migrate: version table: %w", err)
	}
	if !exists {
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return nil, fmt.Errorf("migrate: version table: %w", err)
		}
	}
	var applied []string
	for _, m := range ms {
		var done bool
		if err := conn.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version); err != nil {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		if done {
			continue
		}
		asOwner, err := migrateAsOwner(ctx, conn)
		if err != nil {
			return applied, err
		}
		if err := applyMigration(ctx, conn, m, asOwner); err != nil {
			return applied, err
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// rolesMigration is the migration that creates the database roles and
// hands the schema to muster_owner.
const rolesMigration = 17

// migrateAsOwner says whether migrations run as muster_owner: once the
// roles migration is applied in this database and the migrating login may
// act as the owner, so that what later migrations create is the owner's and
// gets the application's grants by default privileges.
func migrateAsOwner(ctx context.Context, conn *sqlx.Conn) (bool, error) {
	var ok bool
	err := conn.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)
		AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'muster_owner')
		AND pg_has_role(current_user, 'muster_owner', 'MEMBER')`, rolesMigration)
	if err != nil {
		return false, fmt.Errorf("migrate: check owner role: %w", err)
	}
	return ok, nil
}

func applyMigration(ctx context.Context, conn *sqlx.Conn, m Migration, asOwner bool) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if asOwner {
		if _, err := tx.ExecContext(ctx, `SET LOCAL ROLE muster_owner`); err != nil {
			return fmt.Errorf("migrate %s: act as muster_owner: %w", m.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		if isInsufficientPrivilege(err) && !strings.Contains(err.Error(), "muster_owner") {
			return fmt.Errorf("migrate %s: %w (migrate as the schema's owner: a login granted muster_owner, or the database's owner with CREATEROLE for the first migration)", m.Name, err)
		}
		return fmt.Errorf("migrate %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return fmt.Errorf("migrate %s: record version: %w", m.Name, err)
	}
	return tx.Commit()
}

// SchemaVersion returns the highest applied migration, or 0.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.GetContext(ctx, &v, `SELECT coalesce(max(version), 0) FROM schema_migrations`)
	if isUndefinedTable(err) {
		return 0, nil
	}
	return v, err
}

// ErrSchemaBehind is returned by CheckSchema when the database needs
// migrating.
var ErrSchemaBehind = errors.New("database schema is behind")

// CheckSchema returns an error wrapping ErrSchemaBehind, naming the command
// to run, when migrations this build has are not applied. Commands other
// than `muster migrate` and the worker check instead of migrating, so their
// logins need no DDL rights.
func (s *Store) CheckSchema(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	var have []int
	err = s.db.SelectContext(ctx, &have, `SELECT version FROM schema_migrations`)
	if err != nil && !isUndefinedTable(err) {
		return fmt.Errorf("check schema: %w", err)
	}
	done := make(map[int]bool, len(have))
	for _, v := range have {
		done[v] = true
	}
	var pending []string
	for _, m := range ms {
		if !done[m.Version] {
			pending = append(pending, m.Name)
		}
	}
	switch {
	case len(pending) == 0:
		return nil
	case len(have) == 0:
		return fmt.Errorf("%w: the database has no Muster schema yet: run `muster migrate` as the schema's owner first", ErrSchemaBehind)
	case len(pending) <= 3:
		return fmt.Errorf("%w: %s not applied: run `muster migrate` as the schema's owner first", ErrSchemaBehind, strings.Join(pending, ", "))
	default:
		return fmt.Errorf("%w: %d migrations not applied: run `muster migrate` as the schema's owner first", ErrSchemaBehind, len(pending))
	}
}

// withConnTx runs fn in a transaction on a connection of its own, for
// statements that need the driver's connection too (COPY in text format),
// and commits it when fn succeeds. Its errors are the domain's (translate).
func (s *Store) withConnTx(ctx context.Context, fn func(conn *sqlx.Conn, tx *sqlx.Tx) error) error {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(conn, tx); err != nil {
		return translate(err)
	}
	return translate(tx.Commit())
}

// withTx runs fn in a transaction and commits it when fn succeeds. Its
// errors are the domain's (translate).
func (s *Store) withTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return translate(err)
	}
	return translate(tx.Commit())
}
