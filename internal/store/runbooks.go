package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

// RunbookVersion is one published version of a runbook definition.
type RunbookVersion struct {
	Name    string `db:"name" json:"name"`
	Version int    `db:"version" json:"version"`
	Title   string `db:"title" json:"title"`
	// Source is the YAML text as published.
	Source string `db:"source" json:"source"`
	// Digest is the sha256 of Source, in hex.
	Digest      string    `db:"digest" json:"digest"`
	PublishedAt time.Time `db:"published_at" json:"published_at"`
	PublishedBy string    `db:"published_by" json:"published_by"`
	// Versions is how many versions the runbook's name has.
	Versions int `db:"versions" json:"versions"`
}

// runbookLockClass is the first key of the per-name advisory locks taken
// while publishing ("runb"); the two-key form keeps them apart from the
// single-key migration lock.
const runbookLockClass = 0x72756e62

const runbookColumns = `r.name, r.version, r.title, r.source, r.digest, r.published_at, r.published_by,
	(SELECT count(*) FROM runbooks c WHERE c.name = r.name) AS versions`

// RunbookDigest returns the digest PublishRunbook stores for a source.
func RunbookDigest(source []byte) string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:])
}

// PublishRunbook stores source as the next version of the runbook name,
// unless that name already has a version with exactly this text: then it
// returns that version and created is false. The caller validates the
// source first. Concurrent publishes of one name are serialised by an
// advisory lock, so different texts get different, consecutive versions.
func (s *Store) PublishRunbook(ctx context.Context, name, title string, source []byte, by string) (version int, created bool, err error) {
	switch {
	case strings.TrimSpace(name) == "":
		return 0, false, errors.New("publish runbook: the name is empty")
	case strings.TrimSpace(by) == "":
		return 0, false, fmt.Errorf("publish runbook %s: say who publishes it", name)
	case !utf8.Valid(source):
		return 0, false, fmt.Errorf("publish runbook %s: the text is not UTF-8", name)
	}
	digest := RunbookDigest(source)
	err = s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, runbookLockClass, name); err != nil {
			return fmt.Errorf("publish runbook %s: lock: %w", name, err)
		}
		err := tx.GetContext(ctx, &version, `SELECT version FROM runbooks WHERE name = $1 AND digest = $2`, name, digest)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("publish runbook %s: %w", name, err)
		}
		if err := tx.GetContext(ctx, &version, `INSERT INTO runbooks (name, version, title, source, digest, published_by)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 FROM runbooks WHERE name = $1
			RETURNING version`, name, title, string(source), digest, by); err != nil {
			return fmt.Errorf("publish runbook %s: %w", name, err)
		}
		created = true
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return version, created, nil
}

// Runbook returns a published version of a runbook; version 0 is the
// latest. A name or version that was never published is ErrNotFound.
func (s *Store) Runbook(ctx context.Context, name string, version int) (RunbookVersion, error) {
	var r RunbookVersion
	var err error
	if version == 0 {
		err = s.db.GetContext(ctx, &r, `SELECT `+runbookColumns+` FROM runbooks r
			WHERE r.name = $1 ORDER BY r.version DESC LIMIT 1`, name)
	} else {
		err = s.db.GetContext(ctx, &r, `SELECT `+runbookColumns+` FROM runbooks r
			WHERE r.name = $1 AND r.version = $2`, name, version)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows) && version == 0:
		return RunbookVersion{}, fmt.Errorf("runbook %q is not published: %w", name, domain.ErrNotFound)
	case errors.Is(err, sql.ErrNoRows):
		return RunbookVersion{}, fmt.Errorf("runbook %q has no version %d: %w", name, version, domain.ErrNotFound)
	case err != nil:
		return RunbookVersion{}, fmt.Errorf("runbook %s: %w", name, err)
	}
	return r, nil
}

// Runbooks returns the latest version of every published runbook, by name;
// Versions says how many each has.
func (s *Store) Runbooks(ctx context.Context) ([]RunbookVersion, error) {
	var rs []RunbookVersion
	if err := s.db.SelectContext(ctx, &rs, `SELECT DISTINCT ON (r.name) `+runbookColumns+` FROM runbooks r
		ORDER BY r.name, r.version DESC`); err != nil {
		return nil, fmt.Errorf("runbooks: %w", err)
	}
	return rs, nil
}

// RunbookVersions returns every version of a runbook, oldest first; a name
// never published is ErrNotFound.
func (s *Store) RunbookVersions(ctx context.Context, name string) ([]RunbookVersion, error) {
	var rs []RunbookVersion
	if err := s.db.SelectContext(ctx, &rs, `SELECT `+runbookColumns+` FROM runbooks r
		WHERE r.name = $1 ORDER BY r.version`, name); err != nil {
		return nil, fmt.Errorf("runbook %s versions: %w", name, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("runbook %q is not published: %w", name, domain.ErrNotFound)
	}
	return rs, nil
}
