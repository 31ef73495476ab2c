package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

// openAs opens a store on dbURL and closes it when the test ends.
func openAs(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantDenied checks that a statement fails for lack of privilege.
func wantDenied(t *testing.T, s *store.Store, who, query string) {
	t.Helper()
	_, err := s.DB().ExecContext(context.Background(), query)
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("%s: %s = %v, want permission denied (42501)", who, query, err)
	}
}

// TestDatabaseRoles runs Muster's work as the application role, then checks
// what each role may not do, that contacts are sealed in their table and
// that a call-back read goes through the audited function and is logged
// with the reader.
func TestDatabaseRoles(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.EmptyURL(t)
	owner := openAs(t, dbURL)
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	appURL := pgtest.LoginAs(t, dbURL, "muster_app")
	app := openAs(t, appURL)
	// The application role loads residents with their contacts and opens
	// a round: its everyday work needs none of what it is refused below.
	if _, err := app.LoadScenario(ctx, reference(t)); err != nil {
		t.Fatalf("LoadScenario() as muster_app = %v", err)
	}
	plan := openRound(t, app, "xd-roles", "longbao", 1)
	// The load's statistics were refreshed although the role owns no table.
	if n := count(t, owner, `SELECT count(*) FROM pg_class WHERE relname IN ('residents', 'resident_contacts') AND reltuples > 0`); n != 2 {
		t.Errorf("tables analysed after a load as muster_app = %d, want 2", n)
	}

	t.Run("application role has no DDL", func(t *testing.T) {
		wantDenied(t, app, "muster_app", `CREATE TABLE stolen (v text)`)
		wantDenied(t, app, "muster_app", `ALTER TABLE residents ADD COLUMN v text`)
		wantDenied(t, app, "muster_app", `DROP TABLE samples`)
		if _, err := app.Migrate(ctx); err != nil {
			t.Errorf("Migrate() as muster_app with nothing pending = %v, want nothing to do", err)
		}
	})

	t.Run("application role cannot read contacts", func(t *testing.T) {
		wantDenied(t, app, "muster_app", `SELECT * FROM resident_contacts`)
		wantDenied(t, app, "muster_app", `SELECT sealed FROM resident_contacts`)
		wantDenied(t, app, "muster_app", `SELECT * FROM contact_key`)
		wantDenied(t, app, "muster_app", `SELECT * FROM muster_read_contacts(ARRAY[1::bigint], 'curious')`)
		_, err := app.MissingContacts(ctx, plan.RoundID, 0, 3, "curious")
		if err == nil || !strings.Contains(err.Error(), "muster_callback") {
			t.Errorf("MissingContacts() as muster_app = %v, want an error naming muster_callback", err)
		}
	})

	t.Run("contacts are sealed at rest", func(t *testing.T) {
		if n := count(t, owner, `SELECT count(*) FROM resident_contacts`); n != 38594 {
			t.Fatalf("contacts = %d, want 38,594", n)
		}
		if n := count(t, owner, `SELECT count(*) FROM information_schema.columns
			WHERE table_name = 'resident_contacts' AND data_type NOT IN ('bigint', 'bytea')`); n != 0 {
			t.Errorf("resident_contacts has %d columns other than its ID and sealed bytes, want 0", n)
		}
		for _, clear := range []string{"(fake)", "000-"} {
			if n := count(t, owner, `SELECT count(*) FROM resident_contacts c
				WHERE position(convert_to($1, 'UTF8') IN c.sealed) > 0 OR position(convert_to($1, 'UTF8') IN c.digest) > 0`, clear); n != 0 {
				t.Errorf("contacts holding %q in clear = %d, want 0", clear, n)
			}
		}
	})

	t.Run("call-back read is logged with the reader", func(t *testing.T) {
		cbURL := pgtest.LoginAs(t, dbURL, "muster_callback")
		u, _ := url.Parse(cbURL)
		reader := u.User.Username()
		cb := openAs(t, cbURL)
		wantDenied(t, cb, "muster_callback", `SELECT * FROM resident_contacts`)
		wantDenied(t, cb, "muster_callback", `DELETE FROM contact_reads`)
		if _, err := cb.MissingContacts(ctx, plan.RoundID, 0, 3, " "); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("MissingContacts(no reason) = %v, want ErrInvalid", err)
		}
		contacts, err := cb.MissingContacts(ctx, plan.RoundID, 0, 3, "night call-back")
		if err != nil || len(contacts) != 3 {
			t.Fatalf("MissingContacts() as muster_callback = %d, %v, want 3", len(contacts), err)
		}
		for i, c := range contacts {
			if !strings.HasSuffix(c.Name, "(fake)") || !strings.HasPrefix(c.Phone, "000-") {
				t.Errorf("MissingContacts()[%d] = %s without its name and phone", i, c.Code)
			}
			if n := count(t, owner, `SELECT count(*) FROM contact_reads
				WHERE reader = $1 AND resident_id = $2 AND reason = 'night call-back' AND read_at > now() - interval '1 minute'`, reader, c.ID); n != 1 {
				t.Errorf("reads of %s logged for %s = %d, want 1", c.Code, reader, n)
			}
		}
		if n := count(t, owner, `SELECT count(*) FROM contact_reads`); n != 3 {
			t.Errorf("contact reads = %d, want 3", n)
		}
	})
}

// TestRolesMigrationConcurrent migrates fresh databases on one server at
// once: the roles are the server's, shared by every database, so a role
// that exists already or is being created by another migration is no
// error.
func TestRolesMigrationConcurrent(t *testing.T) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	stores := make([]*store.Store, len(errs))
	for i := range stores {
		stores[i] = openAs(t, pgtest.EmptyURL(t))
	}
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate(database %d) = %v", i, err)
		}
	}
}

// TestMigrateWithoutRoleRights migrates as the database's owner that may
// neither create roles nor act as muster_owner: the error says what to
// grant, and the roles migration leaves nothing behind.
func TestMigrateWithoutRoleRights(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.EmptyURL(t)
	admin := openAs(t, dbURL)
	loginURL := pgtest.LoginAs(t, dbURL)
	u, _ := url.Parse(loginURL)
	if _, err := admin.DB().ExecContext(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(strings.TrimPrefix(u.Path, "/"))+` OWNER TO `+pq.QuoteIdentifier(u.User.Username())); err != nil {
		t.Fatal(err)
	}
	// The database's owner gives it back before it is dropped.
	t.Cleanup(func() {
		admin.DB().ExecContext(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(strings.TrimPrefix(u.Path, "/"))+` OWNER TO CURRENT_USER`)
		admin.DB().ExecContext(ctx, `REASSIGN OWNED BY `+pq.QuoteIdentifier(u.User.Username())+` TO CURRENT_USER`)
	})
	login := openAs(t, loginURL)
	_, err := login.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "muster_owner") || !strings.Contains(err.Error(), "CREATEROLE") {
		t.Fatalf("Migrate() without role rights = %v, want an error naming muster_owner and CREATEROLE", err)
	}
	t.Logf("Migrate() without role rights = %v", err)
	if n := count(t, admin, `SELECT count(*) FROM schema_migrations WHERE version = 17`); n != 0 {
		t.Errorf("roles migration recorded = %d, want 0", n)
	}
	if n := count(t, admin, `SELECT count(*) FROM pg_tables WHERE tablename IN ('contact_key', 'contact_reads')`); n != 0 {
		t.Errorf("tables of the roles migration left behind = %d, want 0", n)
	}

	// Granted the owner's role, as the native cluster grants its Muster
	// login, the same login migrates.
	if err := devenv.GrantSchemaOwner(ctx, dbURL, u.User.Username()); err != nil {
		t.Fatalf("GrantSchemaOwner() = %v", err)
	}
	if _, err := login.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() after GrantSchemaOwner = %v", err)
	}
	if n := count(t, admin, `SELECT count(*) FROM schema_migrations WHERE version = 17`); n != 1 {
		t.Errorf("roles migration recorded = %d, want 1", n)
	}
}
