// Mass testing: testing rounds over an area, from opening (with the plan of
// its sampling points, see masstesting_plan.go) to closing (with the list
// of residents still missing). Points added to a running round are in
// masstesting_points.go, home visits in masstesting_visits.go, progress in
// masstesting_progress.go, the missing list and the roster in
// masstesting_missing.go, the resident registry in
// masstesting_residents.go. Workflows see counts, IDs and pseudonymous
// codes only; personal details stay in resident_contacts and reach nobody
// but the authorised call-back list (MissingContacts).

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

// ErrRoundClosed is returned when a round that has closed is asked to
// change.
var ErrRoundClosed = errors.New("round closed")

// RoundInfo identifies a testing round.
type RoundInfo struct {
	ID       int64
	Incident string
	AreaID   int64
	AreaCode string
	Round    int
	OpensAt  time.Time
	Deadline time.Time
	// ClosedAt is zero while the round is open.
	ClosedAt time.Time
}

// Open reports whether the round is still open.
func (r RoundInfo) Open() bool { return r.ClosedAt.IsZero() }

// round is a round as read from the database, with its area's path.
type round struct {
	ID       int64        `db:"id"`
	Incident string       `db:"incident"`
	AreaID   int64        `db:"area_id"`
	AreaCode string       `db:"area_code"`
	AreaPath string       `db:"area_path"`
	Round    int          `db:"round"`
	OpensAt  time.Time    `db:"opens_at"`
	Deadline time.Time    `db:"deadline"`
	ClosedAt sql.NullTime `db:"closed_at"`
}

// info is the round as the store's callers see it.
func (r round) info() RoundInfo {
	return RoundInfo{ID: r.ID, Incident: r.Incident, AreaID: r.AreaID, AreaCode: r.AreaCode, Round: r.Round,
		OpensAt: r.OpensAt, Deadline: r.Deadline, ClosedAt: r.ClosedAt.Time}
}

// Open reports whether the round is still open.
func (r round) Open() bool { return !r.ClosedAt.Valid }

// roundColumns are the columns a round is read with, from testing_rounds r
// joined with areas a.
const roundColumns = `r.id, r.incident, r.area_id, a.code AS area_code, a.path AS area_path, r.round, r.opens_at, r.deadline, r.closed_at`

// getRound reads a round; lock takes its row lock, so changes to one round
// (points, visits, closing) happen one at a time.
func getRound(ctx context.Context, q sqlx.QueryerContext, id int64, lock bool) (round, error) {
	mode := ""
	if lock {
		mode = ` FOR UPDATE OF r`
	}
	return readRound(ctx, q, id, mode)
}

// shareRound reads a round holding its row FOR SHARE: an intake (a home
// visit's sample) runs beside other intakes, but a close, which takes the
// row FOR UPDATE, waits for it, and an intake that waited for a close
// reads the round closed.
func shareRound(ctx context.Context, q sqlx.QueryerContext, id int64) (round, error) {
	return readRound(ctx, q, id, ` FOR SHARE OF r`)
}

// readRound reads a round with a locking clause (mode) after the query.
func readRound(ctx context.Context, q sqlx.QueryerContext, id int64, mode string) (round, error) {
	query := `SELECT ` + roundColumns + ` FROM testing_rounds r JOIN areas a ON a.id = r.area_id WHERE r.id = $1` + mode
	var r round
	err := sqlx.GetContext(ctx, q, &r, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		return round{}, fmt.Errorf("testing round %d: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return round{}, fmt.Errorf("testing round %d: %w", id, err)
	}
	return r, nil
}

// RoundByKey returns the round of an incident over an area (code or path)
// with the given number.
func (s *Store) RoundByKey(ctx context.Context, incident, areaCode string, n int) (RoundInfo, error) {
	var r round
	err := s.db.GetContext(ctx, &r, `SELECT `+roundColumns+` FROM testing_rounds r JOIN areas a ON a.id = r.area_id
		WHERE r.incident = $1 AND (a.code = $2 OR a.path = $2) AND r.round = $3`, incident, areaCode, n)
	if errors.Is(err, sql.ErrNoRows) {
		return RoundInfo{}, fmt.Errorf("round %d of %s over %s: %w", n, incident, areaCode, domain.ErrNotFound)
	}
	if err != nil {
		return RoundInfo{}, fmt.Errorf("round %d of %s over %s: %w", n, incident, areaCode, err)
	}
	return r.info(), nil
}

// RoundByID returns a round.
func (s *Store) RoundByID(ctx context.Context, id int64) (RoundInfo, error) {
	r, err := getRound(ctx, s.db, id, false)
	return r.info(), err
}

// OpenRoundsFor returns the incident's rounds that are still open, oldest
// first.
func (s *Store) OpenRoundsFor(ctx context.Context, incident string) ([]RoundInfo, error) {
	var rs []round
	err := s.db.SelectContext(ctx, &rs, `SELECT `+roundColumns+` FROM testing_rounds r JOIN areas a ON a.id = r.area_id
		WHERE r.incident = $1 AND r.closed_at IS NULL ORDER BY r.opens_at, r.id`, incident)
	if err != nil {
		return nil, fmt.Errorf("open rounds of %s: %w", incident, err)
	}
	out := make([]RoundInfo, len(rs))
	for i, r := range rs {
		out[i] = r.info()
	}
	return out, nil
}

// OpenRound opens a testing round of an incident over an area, or returns
// the plan of the round with that key (incident, area, round) when it was
// opened before, with the times it was first given.
//
// The round's sampling points are the sites of kind sampling-point in the
// area or under it; when there are none, those of the nearest area above it
// that has some (a round over one compound uses its community's points).
// The compounds under the area are assigned to them by plan.Assign: the
// largest first, each to the point where it would finish earliest, among
// the points of the compound's own community when it has any; a compound
// is split by building across points when kept whole it would finish well
// after the rest. People who live in a community rather than a compound
// (campus people) are assigned by building. The residents expected, by
// cohort and home visit, are counted as the round opens; the people of a
// campus or school that lists its own cohorts are counted apart, with its
// order (RoundPlan.SiteCohorts). The event is appended in the same
// transaction.
func (s *Store) OpenRound(ctx context.Context, incident string, areaID int64, n int, opensAt, deadline time.Time, e domain.Event) (domain.RoundPlan, error) {
	switch {
	case strings.TrimSpace(incident) == "":
		return domain.RoundPlan{}, fmt.Errorf("open round: incident is required: %w", domain.ErrInvalid)
	case n < 1:
		return domain.RoundPlan{}, fmt.Errorf("open round: round %d: rounds count from 1: %w", n, domain.ErrInvalid)
	case !deadline.After(opensAt):
		return domain.RoundPlan{}, fmt.Errorf("open round %d: deadline %s is not after it opens (%s): %w", n, deadline.Format(time.RFC3339), opensAt.Format(time.RFC3339), domain.ErrInvalid)
	}
	var rp domain.RoundPlan
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		area, err := getAreaNode(ctx, tx, areaID)
		if err != nil {
			return err
		}
		var id int64
		err = tx.GetContext(ctx, &id, `INSERT INTO testing_rounds (incident, area_id, round, opens_at, deadline)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident, area_id, round) DO NOTHING RETURNING id`,
			incident, areaID, n, opensAt, deadline)
		if errors.Is(err, sql.ErrNoRows) {
			// Opened before: the plan it has is the answer.
			if err := tx.GetContext(ctx, &id, `SELECT id FROM testing_rounds WHERE incident = $1 AND area_id = $2 AND round = $3`, incident, areaID, n); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else if err := planRound(ctx, tx, id, area); err != nil {
			return err
		}
		if rp, err = readPlan(ctx, tx, id); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return domain.RoundPlan{}, fmt.Errorf("open round %d of %s over area %d: %w", n, incident, areaID, err)
	}
	return rp, nil
}

// SetLateGrace sets how long after a round closes a late sample (taken
// during the round, uploaded after the close) is still recorded against
// it; positive results are taken whenever they come.
func (s *Store) SetLateGrace(ctx context.Context, roundID int64, grace time.Duration) error {
	if grace < 0 {
		return fmt.Errorf("late grace %s of round %d: %w", grace, roundID, domain.ErrInvalid)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE testing_rounds SET late_grace = make_interval(secs => $2) WHERE id = $1`, roundID, grace.Seconds())
	if err != nil {
		return fmt.Errorf("late grace of round %d: %w", roundID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("late grace of round %d: %w", roundID, err)
	}
	if n == 0 {
		return fmt.Errorf("testing round %d: %w", roundID, domain.ErrNotFound)
	}
	return nil
}

// ExtendRound moves an open round's deadline later, so that samples taken
// in the extension are accepted; an earlier deadline, or a closed round,
// changes nothing. It returns the round's deadline.
func (s *Store) ExtendRound(ctx context.Context, roundID int64, deadline time.Time, e domain.Event) (time.Time, error) {
	var out time.Time
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		out = r.Deadline
		if !r.Open() || !deadline.After(r.Deadline) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE testing_rounds SET deadline = $2 WHERE id = $1`, roundID, deadline); err != nil {
			return err
		}
		out = deadline
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("extend round %d: %w", roundID, err)
	}
	return out, nil
}

// RoundClose is a closed round's final figures, counted by the database in
// the transaction that closed it: these are the figures a workflow reports.
type RoundClose struct {
	Expected  int `db:"expected"`
	Sampled   int `db:"sampled"`
	Positives int `db:"positives"`
	Missing   int `db:"missing"`
	// HomeVisitsOpen counts residents on the home-visit list without a
	// sample.
	HomeVisitsOpen int `db:"home_visits_open"`
	// LateResults counts samples recorded against the round after it
	// closed (within its grace, or positive); they are among Sampled.
	LateResults int `db:"late_results"`
}

// CloseRound closes a round: it takes the round's row FOR UPDATE, which
// waits for every intake that holds the round (IngestSamples and
// RecordHomeVisit take it FOR SHARE and re-check that it is open), writes
// everyone in its area without a sample to the missing list (one INSERT …
// SELECT), and the round stops taking samples. It returns the final
// figures; closing a closed round changes nothing and returns the same
// figures.
func (s *Store) CloseRound(ctx context.Context, roundID int64, e domain.Event) (RoundClose, error) {
	var out RoundClose
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		if r.Open() {
			if _, err := tx.ExecContext(ctx, `INSERT INTO round_missing (round_id, resident_id)
				SELECT $1, res.id FROM residents res JOIN areas a ON a.id = res.area_id
				WHERE (a.path = $2 OR a.path LIKE $3)
				  AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = res.id)
				ON CONFLICT DO NOTHING`, roundID, r.AreaPath, under(r.AreaPath)); err != nil {
				return fmt.Errorf("missing list: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE testing_rounds SET closed_at = now() WHERE id = $1`, roundID); err != nil {
				return err
			}
		}
		if out, err = roundFigures(ctx, tx, roundID); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return RoundClose{}, fmt.Errorf("close round %d: %w", roundID, err)
	}
	return out, nil
}

// RoundTally counts a round's figures as they stand: at the close, and
// after it as late results arrive (each takes its resident off the
// missing list).
func (s *Store) RoundTally(ctx context.Context, roundID int64) (RoundClose, error) {
	var out RoundClose
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getRound(ctx, tx, roundID, false); err != nil {
			return err
		}
		var err error
		out, err = roundFigures(ctx, tx, roundID)
		return err
	})
	if err != nil {
		return RoundClose{}, fmt.Errorf("figures of round %d: %w", roundID, err)
	}
	return out, nil
}

// roundFigures counts a round's figures in one statement.
func roundFigures(ctx context.Context, q sqlx.QueryerContext, roundID int64) (RoundClose, error) {
	var out RoundClose
	if err := sqlx.GetContext(ctx, q, &out, `SELECT
		    (SELECT coalesce(sum(residents + home_visits), 0) FROM round_cohorts WHERE round_id = $1) AS expected,
		    (SELECT count(*) FROM samples WHERE round_id = $1) AS sampled,
		    (SELECT count(*) FROM samples WHERE round_id = $1 AND result = 'positive') AS positives,
		    (SELECT count(*) FROM round_missing WHERE round_id = $1) AS missing,
		    (SELECT count(DISTINCT h.resident_id) FROM home_visits h WHERE h.round_id = $1
		       AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = h.resident_id)) AS home_visits_open,
		    (SELECT count(*) FROM samples WHERE round_id = $1 AND late) AS late_results`,
		roundID); err != nil {
		return RoundClose{}, fmt.Errorf("final figures: %w", err)
	}
	return out, nil
}
