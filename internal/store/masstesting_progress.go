// Progress of a testing round: samples per point and cohort and home
// visits, counted in SQL against what the round expects.

package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

// RoundProgress counts a round's samples per point and cohort, in SQL over
// the round's samples (one pass), against the residents expected when the
// round opened (its plan).
func (s *Store) RoundProgress(ctx context.Context, roundID int64) (domain.RoundProgress, error) {
	var p domain.RoundProgress
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getRound(ctx, tx, roundID, false); err != nil {
			return err
		}
		// Compiling the aggregate costs more than running it, even at a
		// million samples.
		if _, err := tx.ExecContext(ctx, `SET LOCAL jit = off; SET LOCAL work_mem = '64MB'`); err != nil {
			return err
		}
		rp, err := readPlan(ctx, tx, roundID)
		if err != nil {
			return err
		}
		var groups []sampleGroup
		if err := tx.SelectContext(ctx, &groups, `SELECT point_id, cohort, home_visit, count(*) AS n,
			count(*) FILTER (WHERE result = 'positive') AS positives, min(taken_at) AS first_at, max(taken_at) AS last_at
			FROM samples WHERE round_id = $1 GROUP BY point_id, cohort, home_visit`, roundID); err != nil {
			return fmt.Errorf("samples of round %d: %w", roundID, err)
		}
		var missed int
		if err := tx.GetContext(ctx, &missed, `SELECT count(*) FROM (
			    SELECT DISTINCT ON (resident_id) resident_id, state FROM home_visits WHERE round_id = $1 ORDER BY resident_id, attempt DESC) l
			WHERE l.state = 'missed' AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = l.resident_id)`, roundID); err != nil {
			return fmt.Errorf("missed home visits of round %d: %w", roundID, err)
		}
		p = tallyProgress(rp, groups, missed)
		return nil
	})
	if err != nil {
		return domain.RoundProgress{}, fmt.Errorf("progress of round %d: %w", roundID, err)
	}
	return p, nil
}

// sampleGroup counts a round's samples taken at one point (none for home
// visits), of one cohort, at home or not.
type sampleGroup struct {
	Point     sql.NullInt64 `db:"point_id"`
	Cohort    string        `db:"cohort"`
	HomeVisit bool          `db:"home_visit"`
	N         int           `db:"n"`
	Positives int           `db:"positives"`
	First     time.Time     `db:"first_at"`
	Last      time.Time     `db:"last_at"`
}

// tallyProgress adds up a round's sample groups against its plan; missed
// counts the home-visit residents whose latest visit missed.
func tallyProgress(rp domain.RoundPlan, groups []sampleGroup, missed int) domain.RoundProgress {
	p := domain.RoundProgress{Expected: rp.Expected, HomeVisits: domain.VisitProgress{Residents: rp.HomeVisits, Missed: missed}}
	for _, pt := range rp.Points {
		p.Points = append(p.Points, domain.PointProgress{SiteID: pt.SiteID, Code: pt.Code, CapacityPerHour: pt.CapacityPerHour, Expected: pt.Expected})
	}
	points := map[int64]*domain.PointProgress{}
	for i := range p.Points {
		points[p.Points[i].SiteID] = &p.Points[i]
	}
	for _, c := range rp.Cohorts {
		p.Cohorts = append(p.Cohorts, domain.CohortProgress{Cohort: c.Cohort, Expected: c.Count})
	}
	byCohort := map[string]*domain.CohortProgress{}
	for i := range p.Cohorts {
		byCohort[p.Cohorts[i].Cohort] = &p.Cohorts[i]
	}
	for _, g := range groups {
		p.Sampled += g.N
		p.Positives += g.Positives
		p.FirstAt, p.LastAt = earliest(p.FirstAt, g.First), latest(p.LastAt, g.Last)
		if g.Point.Valid {
			if pt := points[g.Point.Int64]; pt != nil {
				pt.Sampled += g.N
				pt.FirstAt, pt.LastAt = earliest(pt.FirstAt, g.First), latest(pt.LastAt, g.Last)
			}
		}
		if g.HomeVisit {
			p.HomeVisits.Sampled += g.N
			continue
		}
		c := byCohort[g.Cohort]
		if c == nil {
			// A cohort the plan did not expect at points; appending may
			// move the slice, so the index is built again.
			p.Cohorts = append(p.Cohorts, domain.CohortProgress{Cohort: g.Cohort})
			for i := range p.Cohorts {
				byCohort[p.Cohorts[i].Cohort] = &p.Cohorts[i]
			}
			c = byCohort[g.Cohort]
		}
		c.Sampled += g.N
	}
	p.HomeVisits.Pending = max(p.HomeVisits.Residents-p.HomeVisits.Sampled-p.HomeVisits.Missed, 0)
	return p
}

// earliest returns the earlier of two times, a zero time counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// latest returns the later of two times.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
