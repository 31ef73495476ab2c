// Home visits of a testing round: residents sampled at home, assigned to
// grid workers (or community workers), their outcomes, and revisits of
// those missed.

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/plan"
)

// Staff roles that make home visits, in order of preference.
const (
	RoleGridWorker      = "grid-worker"
	RoleCommunityWorker = "community-worker"
)

// AssignHomeVisits creates the first visit of every home-visit resident of
// the round's area not yet sampled, by the priority of the resident's kind
// (the scenario's home_visit_kinds; residents of no kind last), each
// assigned to a worker: the grid
// workers of the nearest area at or above the resident's compound that has
// any, else the nearest community workers, the least busy of them (the
// first by staff code on ties; see plan.Visits). It returns how many
// residents have a first visit in the round, so calling it again changes
// nothing and returns the same figure (residents added to the registry
// since get theirs).
func (s *Store) AssignHomeVisits(ctx context.Context, roundID int64) (int, error) {
	var total int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		if r.Open() {
			if err := assignHomeVisits(ctx, tx, r); err != nil {
				return err
			}
		}
		return tx.GetContext(ctx, &total, `SELECT count(*) FROM home_visits WHERE round_id = $1 AND attempt = 1`, roundID)
	})
	if err != nil {
		return 0, fmt.Errorf("assign home visits of round %d: %w", roundID, err)
	}
	return total, nil
}

// assignHomeVisits creates the first visits of an open round's residents
// who have none yet (see AssignHomeVisits).
func assignHomeVisits(ctx context.Context, tx *sqlx.Tx, r round) error {
	var todo []struct {
		ID     int64 `db:"id"`
		AreaID int64 `db:"area_id"`
	}
	if err := tx.SelectContext(ctx, &todo, `SELECT res.id, res.area_id FROM residents res JOIN areas a ON a.id = res.area_id
		WHERE res.home_visit AND (a.path = $1 OR a.path LIKE $2)
		  AND NOT EXISTS (SELECT 1 FROM home_visits h WHERE h.round_id = $3 AND h.resident_id = res.id)
		  AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $3 AND s.resident_id = res.id)
		ORDER BY res.home_visit_priority NULLS LAST, res.code`, r.AreaPath, under(r.AreaPath), r.ID); err != nil {
		return fmt.Errorf("home-visit residents: %w", err)
	}
	if len(todo) == 0 {
		return nil
	}
	w, err := loadWorkers(ctx, tx, r)
	if err != nil {
		return err
	}
	residents, pools := make([]int64, len(todo)), make([][]int64, len(todo))
	for i, t := range todo {
		residents[i], pools[i] = t.ID, w.pool(t.AreaID)
	}
	staff := plan.Visits(pools, w.busy)
	if _, err := tx.ExecContext(ctx, `INSERT INTO home_visits (round_id, resident_id, attempt, staff_id)
		SELECT $1, u.resident, 1, nullif(u.staff, 0) FROM unnest($2::bigint[], $3::bigint[]) AS u(resident, staff)
		ON CONFLICT DO NOTHING`, r.ID, pq.Array(residents), pq.Array(staff)); err != nil {
		return fmt.Errorf("home visits: %w", err)
	}
	return nil
}

// worker is a member of staff who can make home visits.
type worker struct {
	ID     int64  `db:"id"`
	Code   string `db:"code"`
	Role   string `db:"role"`
	AreaID int64  `db:"area_id"`
}

// workers holds who can visit in a round, by staff ID, and how busy each
// is.
type workers struct {
	tree   plan.Tree
	byArea map[int64]map[string][]int64 // area → role → staff by code
	busy   map[int64]int
	pools  map[int64][]int64
}

// loadWorkers reads who can make a round's home visits and how many
// visits each has already.
func loadWorkers(ctx context.Context, tx *sqlx.Tx, r round) (*workers, error) {
	tree, err := loadAreaTree(ctx, tx, r.AreaPath)
	if err != nil {
		return nil, err
	}
	var staff []worker
	// One booking per person: someone on checkpoint duty, or on a supply
	// shift that overlaps the round, is not sent on home visits.
	if err := tx.SelectContext(ctx, &staff, `SELECT st.id, st.code, st.role, st.area_id FROM staff st JOIN areas a ON a.id = st.area_id
		WHERE st.role = ANY($1) AND (a.path = ANY($2) OR a.path LIKE $3)
		  AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id AND cs.released_at IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id AND x.state IN ('notified', 'acknowledged')
		                    AND x.shift && tstzrange($4, $5))
		ORDER BY st.code`,
		pq.Array([]string{RoleGridWorker, RoleCommunityWorker}), pq.Array(domain.PathPrefixes(r.AreaPath)), under(r.AreaPath), r.OpensAt, r.Deadline); err != nil {
		return nil, fmt.Errorf("grid workers: %w", err)
	}
	w := &workers{tree: tree, byArea: map[int64]map[string][]int64{}, busy: map[int64]int{}, pools: map[int64][]int64{}}
	for _, st := range staff {
		if w.byArea[st.AreaID] == nil {
			w.byArea[st.AreaID] = map[string][]int64{}
		}
		w.byArea[st.AreaID][st.Role] = append(w.byArea[st.AreaID][st.Role], st.ID)
	}
	var loads []struct {
		Staff int64 `db:"staff_id"`
		N     int   `db:"n"`
	}
	if err := tx.SelectContext(ctx, &loads, `SELECT staff_id, count(*) AS n FROM home_visits WHERE round_id = $1 AND staff_id IS NOT NULL GROUP BY staff_id`, r.ID); err != nil {
		return nil, fmt.Errorf("visits per worker: %w", err)
	}
	for _, l := range loads {
		w.busy[l.Staff] = l.N
	}
	return w, nil
}

// pool returns who visits the residents of an area: the grid workers of
// the nearest area at or above it that has any, else the nearest community
// workers.
func (w *workers) pool(areaID int64) []int64 {
	if p, ok := w.pools[areaID]; ok {
		return p
	}
	var p []int64
	for _, role := range []string{RoleGridWorker, RoleCommunityWorker} {
		for _, a := range w.tree.Ancestors(areaID) {
			if p = w.byArea[a][role]; len(p) > 0 {
				break
			}
		}
		if len(p) > 0 {
			break
		}
	}
	w.pools[areaID] = p
	return p
}

// RecordHomeVisit records the outcome of a home visit. A sampled visit also
// records the sample (no point; its result comes later with the lab's
// batch). Recording the same outcome again changes nothing; a different
// outcome for a visit already recorded, a tube used for someone else or a
// second tube for a resident already sampled in the round are ErrConflict.
func (s *Store) RecordHomeVisit(ctx context.Context, roundID int64, residentCode string, attempt int, sampled bool, tube string, at time.Time) error {
	state := "missed"
	if sampled {
		state = "sampled"
		if strings.TrimSpace(tube) == "" {
			return fmt.Errorf("home visit of %s: a sampled visit needs its tube: %w", residentCode, domain.ErrInvalid)
		}
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := shareRound(ctx, tx, roundID)
		if err != nil {
			return err
		}
		var res struct {
			ID     int64  `db:"id"`
			Cohort string `db:"cohort"`
		}
		err = tx.GetContext(ctx, &res, `SELECT id, cohort FROM residents WHERE code = $1`, residentCode)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("resident %s: %w", residentCode, domain.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var current string
		err = tx.GetContext(ctx, &current, `SELECT state FROM home_visits WHERE round_id = $1 AND resident_id = $2 AND attempt = $3 FOR UPDATE`,
			roundID, res.ID, attempt)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("visit %d of resident %s: %w", attempt, residentCode, domain.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if current != "assigned" && current != state {
			return fmt.Errorf("visit %d of resident %s is recorded as %s: %w", attempt, residentCode, current, domain.ErrConflict)
		}
		if current == "assigned" && !r.Open() {
			return fmt.Errorf("round %d: %w", roundID, ErrRoundClosed)
		}
		if sampled {
			if err := recordVisitSample(ctx, tx, roundID, res.ID, res.Cohort, residentCode, tube, at); err != nil {
				return err
			}
		}
		if current == state {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE home_visits SET state = $4, updated_at = $5 WHERE round_id = $1 AND resident_id = $2 AND attempt = $3`,
			roundID, res.ID, attempt, state, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("record home visit: %w", err)
	}
	return nil
}

// recordVisitSample records the sample a home visit took, once: the same
// tube again changes nothing, a tube recorded for someone else or a second
// tube for a resident already sampled in the round is ErrConflict.
func recordVisitSample(ctx context.Context, tx *sqlx.Tx, roundID, residentID int64, cohort, residentCode, tube string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO samples (tube, round_id, resident_id, point_id, taken_at, cohort, home_visit)
		SELECT $1, $2, $3, NULL, $4, $5, true ON CONFLICT DO NOTHING`, tube, roundID, residentID, at, cohort); err != nil {
		return fmt.Errorf("sample %s: %w", tube, err)
	}
	var got struct {
		Resident int64 `db:"resident_id"`
		Round    int64 `db:"round_id"`
	}
	err := tx.GetContext(ctx, &got, `SELECT resident_id, round_id FROM samples WHERE tube = $1`, tube)
	if errors.Is(err, sql.ErrNoRows) {
		// The resident's unique key refused the row: sampled already.
		var other string
		if err := tx.GetContext(ctx, &other, `SELECT tube FROM samples WHERE round_id = $1 AND resident_id = $2`, roundID, residentID); err != nil {
			return err
		}
		return fmt.Errorf("resident %s is already sampled in round %d with tube %s: %w", residentCode, roundID, other, domain.ErrConflict)
	}
	if err != nil {
		return err
	}
	if got.Resident != residentID || got.Round != roundID {
		return fmt.Errorf("tube %s is recorded for another resident or round: %w", tube, domain.ErrConflict)
	}
	return nil
}

// RevisitMissed sends a worker again to every resident whose latest visit
// missed and who has no sample in the round: a new attempt, assigned to
// the next worker of the resident's pool after the one who missed (the same
// one when the pool has one). It returns how many visits it added; calling
// it again adds none until another visit misses.
func (s *Store) RevisitMissed(ctx context.Context, roundID int64) (int, error) {
	var added int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		if !r.Open() {
			return fmt.Errorf("round %d: %w", roundID, ErrRoundClosed)
		}
		var missed []struct {
			Resident int64 `db:"resident_id"`
			AreaID   int64 `db:"area_id"`
			Attempt  int   `db:"attempt"`
			Staff    int64 `db:"staff_id"`
		}
		if err := tx.SelectContext(ctx, &missed, `
			SELECT l.resident_id, res.area_id, l.attempt, l.staff_id FROM (
			    SELECT DISTINCT ON (resident_id) resident_id, attempt, state, coalesce(staff_id, 0) AS staff_id
			    FROM home_visits WHERE round_id = $1 ORDER BY resident_id, attempt DESC) l
			JOIN residents res ON res.id = l.resident_id
			WHERE l.state = 'missed' AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = l.resident_id)
			ORDER BY res.home_visit_priority NULLS LAST, res.code`, roundID); err != nil {
			return fmt.Errorf("missed visits: %w", err)
		}
		if len(missed) == 0 {
			return nil
		}
		w, err := loadWorkers(ctx, tx, r)
		if err != nil {
			return err
		}
		residents, attempts := make([]int64, len(missed)), make([]int64, len(missed))
		pools, last := make([][]int64, len(missed)), make([]int64, len(missed))
		for i, m := range missed {
			residents[i], attempts[i] = m.Resident, int64(m.Attempt+1)
			pools[i], last[i] = w.pool(m.AreaID), m.Staff
		}
		staff := plan.Revisits(pools, last)
		res, err := tx.ExecContext(ctx, `INSERT INTO home_visits (round_id, resident_id, attempt, staff_id)
			SELECT $1, u.resident, u.attempt, nullif(u.staff, 0) FROM unnest($2::bigint[], $3::int[], $4::bigint[]) AS u(resident, attempt, staff)
			ON CONFLICT DO NOTHING`, roundID, pq.Array(residents), pq.Array(attempts), pq.Array(staff))
		if err != nil {
			return fmt.Errorf("revisits: %w", err)
		}
		n, err := res.RowsAffected()
		added = int(n)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revisit missed of round %d: %w", roundID, err)
	}
	return added, nil
}

// HomeVisit is one visit of a round, for the grid workers' lists.
type HomeVisit struct {
	Resident string `db:"resident"`
	AreaCode string `db:"area_code"`
	Building string `db:"building"`
	Attempt  int    `db:"attempt"`
	Staff    string `db:"staff"`
	State    string `db:"state"`
	// Kind is the resident's kind of home visit (empty when the scenario
	// gives none).
	Kind string `db:"kind"`
}

// HomeVisits lists the visits of a round in the order they are made: by
// the priority of the resident's kind (residents of no kind last), then
// resident code and attempt.
func (s *Store) HomeVisits(ctx context.Context, roundID int64) ([]HomeVisit, error) {
	var out []HomeVisit
	err := s.db.SelectContext(ctx, &out, `SELECT r.code AS resident, a.code AS area_code, r.building, h.attempt, coalesce(st.code, '') AS staff, h.state,
		r.home_visit_kind AS kind
		FROM home_visits h JOIN residents r ON r.id = h.resident_id JOIN areas a ON a.id = r.area_id
		LEFT JOIN staff st ON st.id = h.staff_id
		WHERE h.round_id = $1 ORDER BY r.home_visit_priority NULLS LAST, r.code, h.attempt`, roundID)
	if err != nil {
		return nil, fmt.Errorf("home visits of round %d: %w", roundID, err)
	}
	return out, nil
}
