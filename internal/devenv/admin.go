package devenv

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// adminExec runs statements in order as the cluster's superuser at
// adminURL; what names them in an error.
func adminExec(ctx context.Context, adminURL, what string, stmts ...string) error {
	db, err := openPing(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// AllowConnections allows or refuses connections to database, as the
// cluster's superuser at adminURL; refusing also ends the connections open.
// The fault battery uses it to take Muster's database away from the
// workers and give it back.
func AllowConnections(ctx context.Context, adminURL, database string, allow bool) error {
	stmts := []string{fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", pq.QuoteIdentifier(database), allow)}
	if !allow {
		stmts = append(stmts, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = `+pq.QuoteLiteral(database))
	}
	return adminExec(ctx, adminURL, "connections to "+database, stmts...)
}

// OwnerAndApp gives database the two logins Muster runs under, each with
// the password given: owner (created with CREATEROLE, so that its
// migrations can create the group roles) becomes the database's owner and
// runs the migrations; app is the login the worker and the CLI use, granted
// muster_app by the migrations once it exists. It runs as the cluster's
// superuser at adminURL and may run again: existing roles get the new
// passwords.
func OwnerAndApp(ctx context.Context, adminURL, database, owner, ownerPassword, app, appPassword string) error {
	return adminExec(ctx, adminURL, "database logins",
		fmt.Sprintf(`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %[1]s) THEN
				CREATE ROLE %[2]s LOGIN CREATEROLE;
			END IF;
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %[3]s) THEN
				CREATE ROLE %[4]s LOGIN;
			END IF;
		END $$`, pq.QuoteLiteral(owner), pq.QuoteIdentifier(owner), pq.QuoteLiteral(app), pq.QuoteIdentifier(app)),
		`ALTER ROLE `+pq.QuoteIdentifier(owner)+` PASSWORD `+pq.QuoteLiteral(ownerPassword),
		`ALTER ROLE `+pq.QuoteIdentifier(app)+` PASSWORD `+pq.QuoteLiteral(appPassword),
		`ALTER DATABASE `+pq.QuoteIdentifier(database)+` OWNER TO `+pq.QuoteIdentifier(owner))
}

// GrantRole makes member a member of group, as the cluster's superuser at
// adminURL; granting it again changes nothing.
func GrantRole(ctx context.Context, adminURL, group, member string) error {
	return adminExec(ctx, adminURL, fmt.Sprintf("grant %s to %s", group, member),
		`GRANT `+pq.QuoteIdentifier(group)+` TO `+pq.QuoteIdentifier(member))
}
