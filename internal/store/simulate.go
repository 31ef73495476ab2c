package store

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// PointQueue is who a sampling point expects in a round, in the order a
// field simulation calls them: by cohort priority, then by code.
type PointQueue struct {
	PointCode string
	// Capacity is the point's residents per hour in this round.
	Capacity  int
	Residents []string
}

// RoundQueues lists, per open point of a round, the residents expected
// there and not sampled yet. Cohorts named in priority come first.
func (s *Store) RoundQueues(ctx context.Context, roundID int64, priority []string) ([]PointQueue, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT st.code, rp.capacity_per_hour, r.code
		FROM round_assignments ra
		JOIN sites st ON st.id = ra.site_id
		JOIN round_points rp ON rp.round_id = ra.round_id AND rp.site_id = ra.site_id
		JOIN residents r ON r.area_id = ra.area_id AND (ra.building = '' OR ra.building = r.building) AND NOT r.home_visit
		WHERE ra.round_id = $1
		  AND NOT EXISTS (SELECT 1 FROM samples sm WHERE sm.round_id = $1 AND sm.resident_id = r.id)
		ORDER BY st.code, coalesce(array_position($2::text[], r.cohort), 1000), r.code`, roundID, pq.Array(priority))
	if err != nil {
		return nil, fmt.Errorf("queues of round %d: %w", roundID, err)
	}
	defer rows.Close()
	var out []PointQueue
	for rows.Next() {
		var point, resident string
		var capacity int
		if err := rows.Scan(&point, &capacity, &resident); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].PointCode != point {
			out = append(out, PointQueue{PointCode: point, Capacity: capacity})
		}
		out[len(out)-1].Residents = append(out[len(out)-1].Residents, resident)
	}
	return out, rows.Err()
}

// PendingVisit is a home visit waiting for its outcome.
type PendingVisit struct {
	Resident string `db:"resident"`
	Attempt  int    `db:"attempt"`
}

// PendingVisits lists the home visits of a round still waiting for an
// outcome.
func (s *Store) PendingVisits(ctx context.Context, roundID int64) ([]PendingVisit, error) {
	var out []PendingVisit
	err := s.db.SelectContext(ctx, &out, `SELECT r.code AS resident, hv.attempt
		FROM home_visits hv JOIN residents r ON r.id = hv.resident_id
		WHERE hv.round_id = $1 AND hv.state = 'assigned'
		ORDER BY r.code, hv.attempt`, roundID)
	if err != nil {
		return nil, fmt.Errorf("pending visits of round %d: %w", roundID, err)
	}
	return out, nil
}
