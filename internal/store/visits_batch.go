// Home visits recorded in batches: a grid worker's phone, or a district's
// list, sends many visits at once, and they are written in one transaction
// with a handful of statements instead of one transaction per visit.

package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// MaxVisitBatch is the most visits one call of RecordHomeVisits takes.
const MaxVisitBatch = 50_000

// VisitOutcome is the outcome of one home visit, as RecordHomeVisit takes it.
type VisitOutcome struct {
	Resident string `json:"resident"`
	Attempt  int    `json:"attempt"`
	Sampled  bool   `json:"sampled"`
	// Tube is the sample's tube; required when Sampled, ignored otherwise.
	Tube string    `json:"tube,omitempty"`
	At   time.Time `json:"at"`
}

// VisitBatchResult is what became of a batch of home visits.
type VisitBatchResult struct {
	Visits int `json:"visits"`
	// Sampled and Missed count visits whose outcome this batch recorded;
	// AlreadyRecorded counts visits recorded before with the same outcome
	// (a re-sent batch is all already recorded).
	Sampled         int `json:"sampled"`
	Missed          int `json:"missed"`
	AlreadyRecorded int `json:"already_recorded"`
}

// VisitError is the first visit of a batch that refused the whole batch:
// its index in the batch (from 0) and why. It wraps ErrInvalid, ErrNotFound,
// ErrConflict or ErrRoundClosed as RecordHomeVisit would return for that
// visit alone.
type VisitError struct {
	Index    int
	Resident string
	Err      error
}

func (e *VisitError) Error() string {
	return fmt.Sprintf("visit %d (resident %s): %v", e.Index, e.Resident, e.Err)
}

func (e *VisitError) Unwrap() error { return e.Err }

// RecordHomeVisits records the outcomes of many home visits of a round in
// one transaction, following the rules of RecordHomeVisit for each: the
// visit must be assigned (or already recorded with the same outcome), a
// sampled visit needs its tube, the round must be open for a new outcome
// (it is held FOR SHARE against a concurrent close), the resident is
// sampled at most once in the round and a tube belongs to one resident. A
// visit recorded before with the same outcome is left as it is, so a
// re-sent batch changes nothing. The first bad visit refuses the whole
// batch, named by its index in a *VisitError, and nothing is written. A
// batch naming a visit or a tube twice is refused too.
func (s *Store) RecordHomeVisits(ctx context.Context, roundID int64, visits []VisitOutcome) (VisitBatchResult, error) {
	res := VisitBatchResult{Visits: len(visits)}
	if len(visits) > MaxVisitBatch {
		return VisitBatchResult{}, fmt.Errorf("record home visits: %d visits is more than the %d a batch may hold: split it: %w", len(visits), MaxVisitBatch, domain.ErrInvalid)
	}
	if err := checkVisits(visits); err != nil {
		return VisitBatchResult{}, fmt.Errorf("record home visits: %w", err)
	}
	if len(visits) == 0 {
		return res, nil
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := shareRound(ctx, tx, roundID)
		if err != nil {
			return err
		}
		cur, err := lockVisits(ctx, tx, roundID, visits)
		if err != nil {
			return err
		}
		for i, v := range visits {
			c := cur[i]
			state := visitState(v.Sampled)
			switch {
			case c.ResidentID == nil:
				return &VisitError{i, v.Resident, fmt.Errorf("resident %s: %w", v.Resident, domain.ErrNotFound)}
			case c.State == nil:
				return &VisitError{i, v.Resident, fmt.Errorf("visit %d of resident %s: %w", v.Attempt, v.Resident, domain.ErrNotFound)}
			case *c.State != "assigned" && *c.State != state:
				return &VisitError{i, v.Resident, fmt.Errorf("visit %d of resident %s is recorded as %s: %w", v.Attempt, v.Resident, *c.State, domain.ErrConflict)}
			case *c.State == "assigned" && !r.Open():
				return &VisitError{i, v.Resident, fmt.Errorf("round %d: %w", roundID, ErrRoundClosed)}
			case *c.State == state:
				res.AlreadyRecorded++
			case v.Sampled:
				res.Sampled++
			default:
				res.Missed++
			}
		}
		if err := insertVisitSamples(ctx, tx, roundID, visits, cur); err != nil {
			return err
		}
		return markVisits(ctx, tx, roundID, visits, cur)
	})
	if err != nil {
		return VisitBatchResult{}, fmt.Errorf("record home visits: %w", err)
	}
	return res, nil
}

// checkVisits refuses a batch whose visits are bad before the database is
// touched: a sampled visit without its tube, an attempt below 1, a visit
// or a tube named twice.
func checkVisits(visits []VisitOutcome) error {
	seenVisit := make(map[VisitOutcome]int, len(visits))
	seenTube := make(map[string]int, len(visits))
	for i, v := range visits {
		if v.Sampled && strings.TrimSpace(v.Tube) == "" {
			return &VisitError{i, v.Resident, fmt.Errorf("home visit of %s: a sampled visit needs its tube: %w", v.Resident, domain.ErrInvalid)}
		}
		if v.Attempt < 1 {
			return &VisitError{i, v.Resident, fmt.Errorf("attempt %d: visits count from 1: %w", v.Attempt, domain.ErrInvalid)}
		}
		key := VisitOutcome{Resident: v.Resident, Attempt: v.Attempt}
		if j, ok := seenVisit[key]; ok {
			return &VisitError{i, v.Resident, fmt.Errorf("visit %d of resident %s is also visit %d of this batch: %w", v.Attempt, v.Resident, j, domain.ErrInvalid)}
		}
		seenVisit[key] = i
		if !v.Sampled {
			continue
		}
		if j, ok := seenTube[v.Tube]; ok {
			return &VisitError{i, v.Resident, fmt.Errorf("tube %s is also on visit %d of this batch: %w", v.Tube, j, domain.ErrInvalid)}
		}
		seenTube[v.Tube] = i
	}
	return nil
}

func visitState(sampled bool) string {
	if sampled {
		return "sampled"
	}
	return "missed"
}

// visitNow is a visit's resident and its current state, nil when unknown.
type visitNow struct {
	I          int     `db:"i"`
	ResidentID *int64  `db:"resident_id"`
	Cohort     *string `db:"cohort"`
	State      *string `db:"state"`
}

// lockVisits reads each visit's resident and state, locking the visits'
// rows as RecordHomeVisit does, and returns them in the batch's order. The
// rows are locked in the order of resident code and attempt, so two
// batches over the same visits wait for each other rather than deadlock.
func lockVisits(ctx context.Context, tx *sqlx.Tx, roundID int64, visits []VisitOutcome) ([]visitNow, error) {
	order := make([]int, len(visits))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := strings.Compare(visits[a].Resident, visits[b].Resident); c != 0 {
			return c
		}
		return visits[a].Attempt - visits[b].Attempt
	})
	idx, codes, attempts := make([]int64, len(visits)), make([]string, len(visits)), make([]int64, len(visits))
	for k, i := range order {
		idx[k], codes[k], attempts[k] = int64(i), visits[i].Resident, int64(visits[i].Attempt)
	}
	var rows []visitNow
	if err := tx.SelectContext(ctx, &rows, `
		SELECT u.i, res.id AS resident_id, res.cohort, hv.state
		FROM unnest($2::bigint[], $3::text[], $4::int[]) WITH ORDINALITY AS u(i, code, attempt, k)
		LEFT JOIN residents res ON res.code = u.code
		LEFT JOIN LATERAL (SELECT state FROM home_visits h
		    WHERE h.round_id = $1 AND h.resident_id = res.id AND h.attempt = u.attempt FOR UPDATE) hv ON true
		ORDER BY u.k`, roundID, pq.Array(idx), pq.Array(codes), pq.Array(attempts)); err != nil {
		return nil, fmt.Errorf("visits: %w", err)
	}
	if len(rows) != len(visits) {
		return nil, fmt.Errorf("visits: read %d of %d", len(rows), len(visits))
	}
	cur := make([]visitNow, len(visits))
	for _, r := range rows {
		cur[r.I] = r
	}
	return cur, nil
}

// insertVisitSamples records the samples of the sampled visits, then checks
// that every tube is the sample of its visit's resident in the round: a
// tube refused because the resident has another sample in the round, or
// recorded for someone else, refuses the batch.
func insertVisitSamples(ctx context.Context, tx *sqlx.Tx, roundID int64, visits []VisitOutcome, cur []visitNow) error {
	var idx, residents []int64
	var tubes, cohorts []string
	var at []time.Time
	for i, v := range visits {
		if v.Sampled {
			idx, residents, tubes = append(idx, int64(i)), append(residents, *cur[i].ResidentID), append(tubes, v.Tube)
			cohorts, at = append(cohorts, *cur[i].Cohort), append(at, v.At)
		}
	}
	if len(tubes) == 0 {
		return nil
	}
	times := make([]string, len(at))
	for i, t := range at {
		times[i] = t.UTC().Format(time.RFC3339Nano)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO samples (tube, round_id, resident_id, point_id, taken_at, cohort, home_visit)
		SELECT u.tube, $1, u.resident_id, NULL, u.taken_at, u.cohort, true
		FROM unnest($2::text[], $3::bigint[], $4::timestamptz[], $5::text[]) AS u(tube, resident_id, taken_at, cohort)
		ON CONFLICT DO NOTHING`, roundID, pq.Array(tubes), pq.Array(residents), pq.Array(times), pq.Array(cohorts)); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	var bad []struct {
		I        int     `db:"i"`
		Resident *int64  `db:"resident_id"`
		Round    *int64  `db:"round_id"`
		Other    *string `db:"other"`
	}
	if err := tx.SelectContext(ctx, &bad, `
		SELECT u.i, s.resident_id, s.round_id,
		       (SELECT o.tube FROM samples o WHERE o.round_id = $1 AND o.resident_id = u.resident_id) AS other
		FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS u(i, tube, resident_id)
		LEFT JOIN samples s ON s.tube = u.tube
		WHERE s.tube IS NULL OR s.resident_id <> u.resident_id OR s.round_id <> $1
		ORDER BY u.i LIMIT 1`, roundID, pq.Array(idx), pq.Array(tubes), pq.Array(residents)); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	if len(bad) == 0 {
		return nil
	}
	b := bad[0]
	v := visits[b.I]
	if b.Resident == nil {
		// The resident's unique key refused the row: sampled already.
		other := ""
		if b.Other != nil {
			other = *b.Other
		}
		return &VisitError{b.I, v.Resident, fmt.Errorf("resident %s is already sampled in round %d with tube %s: %w", v.Resident, roundID, other, domain.ErrConflict)}
	}
	return &VisitError{b.I, v.Resident, fmt.Errorf("tube %s is recorded for another resident or round: %w", v.Tube, domain.ErrConflict)}
}

// markVisits writes the outcome of every visit still assigned.
func markVisits(ctx context.Context, tx *sqlx.Tx, roundID int64, visits []VisitOutcome, cur []visitNow) error {
	var residents, attempts []int64
	var states, times []string
	for i, v := range visits {
		if *cur[i].State == "assigned" {
			residents, attempts = append(residents, *cur[i].ResidentID), append(attempts, int64(v.Attempt))
			states, times = append(states, visitState(v.Sampled)), append(times, v.At.UTC().Format(time.RFC3339Nano))
		}
	}
	if len(residents) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE home_visits h SET state = u.state, updated_at = u.at
		FROM unnest($2::bigint[], $3::int[], $4::text[], $5::timestamptz[]) AS u(resident_id, attempt, state, at)
		WHERE h.round_id = $1 AND h.resident_id = u.resident_id AND h.attempt = u.attempt`,
		roundID, pq.Array(residents), pq.Array(attempts), pq.Array(states), pq.Array(times)); err != nil {
		return fmt.Errorf("mark visits: %w", err)
	}
	return nil
}
