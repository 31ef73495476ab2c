// API credentials: who may call the HTTP API, in which role and scope.

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// Credential is an API client's identity: its name (the actor recorded
// for what it does), its role and its scope (a station's sampling points,
// an inspector's sites). The token is never stored, only its digest.
type Credential struct {
	ID    int64          `db:"id" json:"id"`
	Name  string         `db:"name" json:"name"`
	Role  string         `db:"role" json:"role"`
	Scope pq.StringArray `db:"scope" json:"scope"`
	// District, when set, is the only district whose incidents the
	// credential acts on; its scope's codes are that district's.
	District  string     `db:"district" json:"district,omitempty"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	CreatedBy string     `db:"created_by" json:"created_by"`
	RevokedAt *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
	RevokedBy *string    `db:"revoked_by" json:"revoked_by,omitempty"`
}

// credentialsLog is the event log's workflow ID for credential changes,
// which belong to no incident.
const credentialsLog = "credentials"

const credentialColumns = `id, name, role, scope, coalesce(district, '') AS district, created_at, created_by, revoked_at, revoked_by`

// CreateCredential records a credential with the digest of its token, and
// logs who made it. A name already held by a live credential is
// ErrConflict; a bad name or role is ErrInvalid.
func (s *Store) CreateCredential(ctx context.Context, c Credential, tokenSHA256 []byte, by string) (Credential, error) {
	var out Credential
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &out, `INSERT INTO api_credentials (name, role, scope, token_sha256, created_by, district)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')) RETURNING `+credentialColumns,
			c.Name, c.Role, pq.StringArray(append([]string{}, c.Scope...)), tokenSHA256, by, c.District)
		switch {
		case sqlState(err) == "23505":
			return fmt.Errorf("credential %q already exists: revoke it first: %w", c.Name, domain.ErrConflict)
		case sqlState(err) == "23514":
			return fmt.Errorf("credential %q (role %q): a name is lower-case letters, digits, '.', '_' and '-', up to 64: %w", c.Name, c.Role, domain.ErrInvalid)
		case err != nil:
			return fmt.Errorf("create credential %s: %w", c.Name, err)
		}
		return appendEvent(ctx, tx, domain.Event{Incident: credentialsLog, WorkflowID: credentialsLog, Step: "credential/" + out.Name,
			State: "created", Reason: "role " + out.Role, Actor: by, Seq: fmt.Sprint(out.ID)})
	})
	return out, err
}

// RevokeCredential revokes the live credential of that name and logs who
// did; an unknown or already revoked name is ErrNotFound.
func (s *Store) RevokeCredential(ctx context.Context, name, by string) (Credential, error) {
	var out Credential
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &out, `UPDATE api_credentials SET revoked_at = now(), revoked_by = $2
			WHERE name = $1 AND revoked_at IS NULL RETURNING `+credentialColumns, name, by)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("credential %q: no live credential of that name: %w", name, domain.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke credential %s: %w", name, err)
		}
		return appendEvent(ctx, tx, domain.Event{Incident: credentialsLog, WorkflowID: credentialsLog, Step: "credential/" + out.Name,
			State: "revoked", Reason: "role " + out.Role, Actor: by, Seq: fmt.Sprint(out.ID)})
	})
	return out, err
}

// Credentials lists the credentials, live ones only unless all is set,
// by name.
func (s *Store) Credentials(ctx context.Context, all bool) ([]Credential, error) {
	out := []Credential{}
	q := `SELECT ` + credentialColumns + ` FROM api_credentials`
	if !all {
		q += ` WHERE revoked_at IS NULL`
	}
	if err := s.db.SelectContext(ctx, &out, q+` ORDER BY name, id`); err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return out, nil
}

// CredentialByToken returns the live credential whose token has that
// digest; ErrNotFound otherwise (unknown or revoked).
func (s *Store) CredentialByToken(ctx context.Context, tokenSHA256 []byte) (Credential, error) {
	var out Credential
	err := s.db.GetContext(ctx, &out, `SELECT `+credentialColumns+` FROM api_credentials
		WHERE token_sha256 = $1 AND revoked_at IS NULL`, tokenSHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return out, domain.ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("look up credential: %w", err)
	}
	return out, nil
}
