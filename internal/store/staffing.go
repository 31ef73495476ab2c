package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// Staffing is what an area can put at checkpoints: the gates of its
// compounds and the staff of its registry who may stand at one (staff of
// the area, of the areas under it and of the areas above it, as a seal
// draws on them).
type Staffing struct {
	Gates int `db:"gates"`
	Staff int `db:"staff"`
}

// StaffingOf counts the gates and the checkpoint staff of the area at
// path, for the command center to compare with what a runbook will need.
func (s *Store) StaffingOf(ctx context.Context, path string) (Staffing, error) {
	var out Staffing
	if err := s.db.GetContext(ctx, &out, `SELECT
		    (SELECT count(*) FROM gates g JOIN areas a ON a.id = g.area_id
		     WHERE a.path = $1 OR a.path LIKE $1 || '/%') AS gates,
		    (SELECT count(*) FROM staff st JOIN areas sa ON sa.id = st.area_id
		     WHERE (sa.path = ANY($2) OR sa.path LIKE $1 || '/%') AND st.role = ANY($3)) AS staff`,
		path, pq.Array(domain.PathPrefixes(path)), pq.Array(CheckpointRoles)); err != nil {
		return Staffing{}, fmt.Errorf("staffing of %s: %w", path, err)
	}
	return out, nil
}

// RelieveShift ends the duty of every person standing at the open
// checkpoints of an area's seal who was booked for a shift before shift,
// and returns how many were relieved. Staff booked for shift itself stay,
// so a repeated call relieves nobody.
func (s *Store) RelieveShift(ctx context.Context, incident string, areaID int64, shift int, e domain.Event) (int, error) {
	var n int64
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE checkpoint_staff cs SET released_at = now()
			FROM checkpoints c
			WHERE c.id = cs.checkpoint_id AND c.incident = $1 AND c.area_id = $2 AND c.closed_at IS NULL
			  AND cs.released_at IS NULL AND cs.shift < $3`, incident, areaID, shift)
		if err != nil {
			return fmt.Errorf("relieve shift %d of area %d: %w", shift-1, areaID, err)
		}
		n, _ = r.RowsAffected()
		return appendEvent(ctx, tx, e)
	})
	return int(n), err
}
