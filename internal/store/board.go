// Records the live board reads: a response's testing rounds and points,
// staff placed and acknowledged, findings open and overdue, compounds
// sealed, and one level of the area tree at a time with each area's state.

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

// BoardData is the figures of the board's summary of one incident.
type BoardData struct {
	Rounds []BoardRound `json:"rounds"`
	// StaffPlaced counts assignments in force (notified or acknowledged),
	// StaffAcknowledged those acknowledged.
	StaffPlaced       int `json:"staff_placed"`
	StaffAcknowledged int `json:"staff_acknowledged"`
	FindingsOpen      int `json:"findings_open"`
	FindingsOverdue   int `json:"findings_overdue"`
	// CompoundsSealed counts compounds with a checkpoint still open.
	CompoundsSealed int       `json:"compounds_sealed"`
	ReadAt          time.Time `json:"read_at"`
}

// BoardRound is a testing round's coverage.
type BoardRound struct {
	ID          int64        `db:"id" json:"-"`
	Area        string       `db:"area" json:"area"`
	AreaName    string       `db:"area_name" json:"area_name"`
	Round       int          `db:"round" json:"round"`
	OpensAt     time.Time    `db:"opens_at" json:"opens_at"`
	Deadline    time.Time    `db:"deadline" json:"deadline"`
	ClosedAt    *time.Time   `db:"closed_at" json:"closed_at,omitempty"`
	Population  int          `db:"population" json:"population"`
	Sampled     int          `db:"sampled" json:"sampled"`
	FirstSample *time.Time   `db:"first_sample" json:"first_sample,omitempty"`
	LastSample  *time.Time   `db:"last_sample" json:"last_sample,omitempty"`
	Points      []BoardPoint `json:"points"`
}

// BoardPoint is a sampling point's coverage in a round.
type BoardPoint struct {
	RoundID     int64      `db:"round_id" json:"-"`
	Site        string     `db:"site" json:"site"`
	Name        string     `db:"name" json:"name"`
	Capacity    int        `db:"capacity_per_hour" json:"capacity_per_hour"`
	Expected    int        `db:"expected" json:"expected"`
	Sampled     int        `db:"sampled" json:"sampled"`
	FirstSample *time.Time `db:"first_sample" json:"first_sample,omitempty"`
	LastSample  *time.Time `db:"last_sample" json:"last_sample,omitempty"`
}

// incidentRounds is the query of an incident's testing rounds ($1), in the
// order they opened, with their area, times, population and samples; more
// adds columns (after a comma) over testing_rounds r.
func incidentRounds(more string) string {
	return `SELECT r.id, a.code AS area, a.name AS area_name, r.round, r.opens_at, r.deadline, r.closed_at,
		       coalesce((SELECT sum(residents + home_visits) FROM round_cohorts c WHERE c.round_id = r.id), 0) AS population,
		       (SELECT count(*) FROM samples s WHERE s.round_id = r.id) AS sampled,
		       (SELECT min(taken_at) FROM samples s WHERE s.round_id = r.id) AS first_sample,
		       (SELECT max(taken_at) FROM samples s WHERE s.round_id = r.id) AS last_sample` + more + `
		FROM testing_rounds r JOIN areas a ON a.id = r.area_id
		WHERE r.incident = $1 ORDER BY r.opens_at, a.path, r.round`
}

// BoardData reads the board's figures of an incident in one snapshot.
func (s *Store) BoardData(ctx context.Context, incident string) (BoardData, error) {
	var d BoardData
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &d.ReadAt, `SELECT now()`); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &d.Rounds, incidentRounds(""), incident); err != nil {
			return fmt.Errorf("board rounds of %s: %w", incident, err)
		}
		var points []BoardPoint
		if err := tx.SelectContext(ctx, &points, `SELECT p.round_id, si.code AS site, si.name, p.capacity_per_hour,
			       p.carried + coalesce((SELECT sum(expected) FROM round_assignments ra WHERE ra.round_id = p.round_id AND ra.site_id = p.site_id), 0) AS expected,
			       count(s.tube) AS sampled, min(s.taken_at) AS first_sample, max(s.taken_at) AS last_sample
			FROM round_points p JOIN testing_rounds r ON r.id = p.round_id JOIN sites si ON si.id = p.site_id
			LEFT JOIN samples s ON s.round_id = p.round_id AND s.point_id = p.site_id
			WHERE r.incident = $1 GROUP BY p.round_id, p.site_id, si.code, si.name, p.capacity_per_hour, p.carried ORDER BY si.code`, incident); err != nil {
			return fmt.Errorf("board points of %s: %w", incident, err)
		}
		index := map[int64]int{}
		for i, r := range d.Rounds {
			index[r.ID] = i
			d.Rounds[i].Points = []BoardPoint{}
		}
		for _, p := range points {
			if i, ok := index[p.RoundID]; ok {
				d.Rounds[i].Points = append(d.Rounds[i].Points, p)
			}
		}
		if err := tx.QueryRowxContext(ctx, `SELECT count(*) FILTER (WHERE state IN ('notified', 'acknowledged')),
			       count(*) FILTER (WHERE state = 'acknowledged')
			FROM staff_assignments WHERE incident = $1`, incident).Scan(&d.StaffPlaced, &d.StaffAcknowledged); err != nil {
			return fmt.Errorf("board staff of %s: %w", incident, err)
		}
		if err := tx.QueryRowxContext(ctx, `SELECT count(*) FILTER (WHERE closed_at IS NULL AND state <> 'withdrawn'),
			       count(*) FILTER (WHERE closed_at IS NULL AND state <> 'withdrawn' AND (overdue OR deadline_at < now()))
			FROM findings WHERE incident = $1 OR followed_by = $1`, incident).Scan(&d.FindingsOpen, &d.FindingsOverdue); err != nil {
			return fmt.Errorf("board findings of %s: %w", incident, err)
		}
		if err := tx.GetContext(ctx, &d.CompoundsSealed, `SELECT count(DISTINCT area_id) FROM checkpoints WHERE incident = $1 AND closed_at IS NULL`, incident); err != nil {
			return fmt.Errorf("board checkpoints of %s: %w", incident, err)
		}
		return nil
	})
	return d, err
}

// BoardArea is one area of the tree with its state in an incident.
type BoardArea struct {
	Code       string `db:"code" json:"code"`
	Name       string `db:"name" json:"name"`
	Level      string `db:"level" json:"level"`
	Path       string `db:"path" json:"path"`
	Children   int    `db:"children" json:"children"`
	Population int    `db:"population" json:"population"`
	// Compounds counts the compounds under the area (itself, for one),
	// Sealed those with a checkpoint still open, Lifted those whose
	// checkpoints are all closed.
	Compounds int `db:"compounds" json:"compounds"`
	Sealed    int `db:"sealed" json:"sealed"`
	Lifted    int `db:"lifted" json:"lifted"`
	// Sampled counts the area's residents sampled at least once in the
	// incident's rounds.
	Sampled int `db:"sampled" json:"sampled"`
	// State sums the above up: sealed, testing, lifted or calm.
	State string `db:"-" json:"state"`
}

// AreaChildren returns the children of an area (the top areas when parent
// is empty) with their state in an incident: one level, so a district of
// thousands of communities is read a level at a time.
func (s *Store) AreaChildren(ctx context.Context, incident, parent string) ([]BoardArea, error) {
	var out []BoardArea
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		var parentID sql.NullInt64
		if parent != "" {
			if err := tx.GetContext(ctx, &parentID, `SELECT id FROM areas WHERE code = $1`, parent); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("area %s: %w", parent, domain.ErrAreaNotFound)
				}
				return fmt.Errorf("area %s: %w", parent, err)
			}
		}
		// Each child's figures cover its subtree (path prefix, indexed).
		// Samples count once per resident: a second round over the same
		// residents does not add to them.
		if err := tx.SelectContext(ctx, &out, `SELECT a.code, a.name, a.level, a.path,
			       (SELECT count(*) FROM areas c WHERE c.parent_id = a.id) AS children,
			       (SELECT coalesce(sum(population), 0) FROM areas c WHERE c.level = 'compound' AND (c.path = a.path OR c.path LIKE a.path || '/%')) AS population,
			       (SELECT count(*) FROM areas c WHERE c.level = 'compound' AND (c.path = a.path OR c.path LIKE a.path || '/%')) AS compounds,
			       (SELECT count(DISTINCT k.area_id) FROM checkpoints k JOIN areas c ON c.id = k.area_id
			         WHERE k.incident = $1 AND k.closed_at IS NULL AND (c.path = a.path OR c.path LIKE a.path || '/%')) AS sealed,
			       (SELECT count(DISTINCT k.area_id) FROM checkpoints k JOIN areas c ON c.id = k.area_id
			         WHERE k.incident = $1 AND (c.path = a.path OR c.path LIKE a.path || '/%')
			           AND NOT EXISTS (SELECT 1 FROM checkpoints o WHERE o.incident = $1 AND o.area_id = k.area_id AND o.closed_at IS NULL)) AS lifted,
			       (SELECT count(DISTINCT s.resident_id) FROM samples s JOIN testing_rounds r ON r.id = s.round_id
			         JOIN residents re ON re.id = s.resident_id JOIN areas c ON c.id = re.area_id
			         WHERE r.incident = $1 AND (c.path = a.path OR c.path LIKE a.path || '/%')) AS sampled
			FROM areas a WHERE a.parent_id IS NOT DISTINCT FROM $2 ORDER BY a.code`, incident, parentID); err != nil {
			return fmt.Errorf("children of %q: %w", parent, err)
		}
		var testing []string
		if err := tx.SelectContext(ctx, &testing, `SELECT a.path FROM testing_rounds r JOIN areas a ON a.id = r.area_id
			WHERE r.incident = $1 AND r.closed_at IS NULL`, incident); err != nil {
			return fmt.Errorf("open rounds of %s: %w", incident, err)
		}
		for i := range out {
			a := &out[i]
			switch {
			case a.Sealed > 0:
				a.State = "sealed"
			case overlaps(a.Path, testing):
				a.State = "testing"
			case a.Lifted > 0:
				a.State = "lifted"
			default:
				a.State = "calm"
			}
		}
		return nil
	})
	if out == nil {
		out = []BoardArea{}
	}
	return out, err
}

// overlaps says whether an area path is under, or above, one of paths.
func overlaps(path string, paths []string) bool {
	for _, p := range paths {
		if p == path || len(p) > len(path) && p[:len(path)+1] == path+"/" || len(path) > len(p) && path[:len(p)+1] == p+"/" {
			return true
		}
	}
	return false
}
