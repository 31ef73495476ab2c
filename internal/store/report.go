// Records the after-action report reads: one response's rounds, points,
// stock, findings and shipments, read in one transaction so the figures
// agree with each other.

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

// CoverageBuckets is how many time slices a round's coverage is counted in.
const CoverageBuckets = 48

// ReportData is what the after-action report of one incident is built from.
type ReportData struct {
	Response ResponseRecord `json:"response"`
	// Scenario names the scenario the response's area was loaded from.
	Scenario  string            `json:"scenario"`
	Events    []domain.Event    `json:"events"`
	Rounds    []ReportRound     `json:"rounds"`
	Stock     []StockReading    `json:"stock"`
	Findings  []ReportFinding   `json:"findings"`
	Shipments []domain.Shipment `json:"shipments"`
	// SealedCompounds counts the compounds that had a checkpoint, and
	// CheckpointStaff the people who stood at one.
	SealedCompounds int `json:"sealed_compounds"`
	CheckpointStaff int `json:"checkpoint_staff"`
	// ReadAt is the database's time when the records were read.
	ReadAt time.Time `json:"read_at"`
}

// ResponseRecord is the responses row of an incident.
type ResponseRecord struct {
	Incident string     `db:"incident" json:"incident"`
	Runbook  string     `db:"runbook" json:"runbook"`
	Level    int        `db:"level" json:"level"`
	AreaPath string     `db:"area_path" json:"area_path"`
	State    string     `db:"state" json:"state"`
	OpenedAt time.Time  `db:"opened_at" json:"opened_at"`
	ClosedAt *time.Time `db:"closed_at" json:"closed_at,omitempty"`
}

// ReportRound is one testing round with its points.
type ReportRound struct {
	ID       int64      `db:"id" json:"id"`
	Area     string     `db:"area" json:"area"`
	AreaName string     `db:"area_name" json:"area_name"`
	Round    int        `db:"round" json:"round"`
	OpensAt  time.Time  `db:"opens_at" json:"opens_at"`
	Deadline time.Time  `db:"deadline" json:"deadline"`
	ClosedAt *time.Time `db:"closed_at" json:"closed_at,omitempty"`
	// Population is the round's population when it opened, at points and
	// at home.
	Population int `db:"population" json:"population"`
	HomeVisits int `db:"home_visits" json:"home_visits"`
	Sampled    int `db:"sampled" json:"sampled"`
	// HomeSampled counts the samples taken at home.
	HomeSampled int           `db:"home_sampled" json:"home_sampled"`
	FirstSample *time.Time    `db:"first_sample" json:"first_sample,omitempty"`
	LastSample  *time.Time    `db:"last_sample" json:"last_sample,omitempty"`
	Points      []ReportPoint `json:"points"`
	// BucketEdges are the ends of the time slices the points' Cumulative
	// counts are taken at.
	BucketEdges []time.Time `json:"bucket_edges"`
}

// ReportPoint is a sampling point of a round: its plan and what it did.
type ReportPoint struct {
	SiteID      int64      `db:"site_id" json:"-"`
	Site        string     `db:"site" json:"site"`
	Name        string     `db:"name" json:"name"`
	Capacity    int        `db:"capacity_per_hour" json:"capacity_per_hour"`
	OpenedAt    time.Time  `db:"opened_at" json:"opened_at"`
	Expected    int        `db:"expected" json:"expected"`
	Sampled     int        `db:"sampled" json:"sampled"`
	FirstSample *time.Time `db:"first_sample" json:"first_sample,omitempty"`
	LastSample  *time.Time `db:"last_sample" json:"last_sample,omitempty"`
	// Cumulative counts the point's samples up to each of the round's
	// BucketEdges.
	Cumulative []int `json:"cumulative"`
}

// StockReading is a supplier's stock of a commodity from a time on.
type StockReading struct {
	Site      string    `db:"site" json:"site"`
	Commodity string    `db:"commodity" json:"commodity"`
	Tonnes    float64   `db:"tonnes" json:"tonnes"`
	At        time.Time `db:"at" json:"at"`
}

// ReportFinding is a finding the response followed.
type ReportFinding struct {
	ID         int64      `db:"id" json:"id"`
	Site       string     `db:"site" json:"site"`
	Category   string     `db:"category" json:"category"`
	Severity   string     `db:"severity" json:"severity"`
	State      string     `db:"state" json:"state"`
	Overdue    bool       `db:"overdue" json:"overdue"`
	OpenedAt   time.Time  `db:"opened_at" json:"opened_at"`
	DeadlineAt *time.Time `db:"deadline_at" json:"deadline_at,omitempty"`
	ClosedAt   *time.Time `db:"closed_at" json:"closed_at,omitempty"`
}

// ReportData reads everything the after-action report of an incident
// shows. An incident without a response is ErrNotFound.
func (s *Store) ReportData(ctx context.Context, incident string) (ReportData, error) {
	var d ReportData
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &d.Response, `SELECT incident, runbook, level, area_path, state, opened_at, closed_at
			FROM responses WHERE incident = $1`, incident); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("response %s: %w", incident, domain.ErrResponseNotFound)
			}
			return fmt.Errorf("response %s: %w", incident, err)
		}
		if err := tx.GetContext(ctx, &d.ReadAt, `SELECT now()`); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &d.Scenario, `SELECT coalesce((SELECT scenario FROM areas WHERE path = $1), '')`, d.Response.AreaPath); err != nil {
			return fmt.Errorf("scenario of %s: %w", incident, err)
		}
		if err := tx.SelectContext(ctx, &d.Events, `SELECT incident, workflow_id, step, state, reason, actor, at FROM step_events
			WHERE incident = $1 ORDER BY id`, incident); err != nil {
			return fmt.Errorf("events of %s: %w", incident, err)
		}
		if err := reportRounds(ctx, tx, incident, &d); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &d.Stock, `SELECT si.code AS site, h.commodity, h.tonnes::float8 AS tonnes, h.at
			FROM stock_history h JOIN suppliers sp ON sp.site_id = h.site_id JOIN sites si ON si.id = h.site_id
			JOIN areas a ON a.id = sp.area_id
			WHERE a.path = $1 OR a.path LIKE $1 || '/%' ORDER BY h.at, h.id`, d.Response.AreaPath); err != nil {
			return fmt.Errorf("stock of %s: %w", incident, err)
		}
		if err := tx.SelectContext(ctx, &d.Findings, `SELECT id, site, category, severity, state, overdue, opened_at, deadline_at, closed_at
			FROM findings WHERE incident = $1 OR followed_by = $1 ORDER BY opened_at, id`, incident); err != nil {
			return fmt.Errorf("findings of %s: %w", incident, err)
		}
		if err := tx.SelectContext(ctx, &d.Shipments, `SELECT `+shipmentColumns+`
			FROM shipments sh JOIN areas a ON a.id = sh.area_id JOIN sites s ON s.id = sh.site_id
			WHERE sh.incident = $1 ORDER BY sh.ordered_at, sh.id`, incident); err != nil {
			return fmt.Errorf("shipments of %s: %w", incident, err)
		}
		if err := tx.GetContext(ctx, &d.SealedCompounds, `SELECT count(DISTINCT area_id) FROM checkpoints WHERE incident = $1`, incident); err != nil {
			return fmt.Errorf("checkpoints of %s: %w", incident, err)
		}
		if err := tx.GetContext(ctx, &d.CheckpointStaff, `SELECT count(DISTINCT cs.staff_id)
			FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id WHERE c.incident = $1`, incident); err != nil {
			return fmt.Errorf("checkpoint staff of %s: %w", incident, err)
		}
		return nil
	})
	return d, err
}

// reportRounds reads the incident's testing rounds, their points and each
// point's samples counted in CoverageBuckets slices of the round's span.
func reportRounds(ctx context.Context, tx *sqlx.Tx, incident string, d *ReportData) error {
	if err := tx.SelectContext(ctx, &d.Rounds, incidentRounds(`,
		       coalesce((SELECT sum(home_visits) FROM round_cohorts c WHERE c.round_id = r.id), 0) AS home_visits,
		       (SELECT count(*) FROM samples s WHERE s.round_id = r.id AND s.home_visit) AS home_sampled`), incident); err != nil {
		return fmt.Errorf("rounds of %s: %w", incident, err)
	}
	for i := range d.Rounds {
		r := &d.Rounds[i]
		if err := tx.SelectContext(ctx, &r.Points, `SELECT p.site_id, si.code AS site, si.name, p.capacity_per_hour, p.opened_at,
			       p.carried + coalesce((SELECT sum(expected) FROM round_assignments ra WHERE ra.round_id = p.round_id AND ra.site_id = p.site_id), 0) AS expected,
			       (SELECT count(*) FROM samples s WHERE s.round_id = p.round_id AND s.point_id = p.site_id) AS sampled,
			       (SELECT min(taken_at) FROM samples s WHERE s.round_id = p.round_id AND s.point_id = p.site_id) AS first_sample,
			       (SELECT max(taken_at) FROM samples s WHERE s.round_id = p.round_id AND s.point_id = p.site_id) AS last_sample
			FROM round_points p JOIN sites si ON si.id = p.site_id
			WHERE p.round_id = $1 ORDER BY si.code`, r.ID); err != nil {
			return fmt.Errorf("points of round %d: %w", r.ID, err)
		}
		from, to := r.OpensAt, r.Deadline
		if r.FirstSample != nil && r.FirstSample.Before(from) {
			from = *r.FirstSample
		}
		if r.LastSample != nil && r.LastSample.After(to) {
			to = *r.LastSample
		}
		if r.ClosedAt != nil && r.ClosedAt.After(to) {
			to = *r.ClosedAt
		}
		span := to.Sub(from)
		r.BucketEdges = make([]time.Time, CoverageBuckets)
		for b := range r.BucketEdges {
			r.BucketEdges[b] = from.Add(span * time.Duration(b+1) / CoverageBuckets)
		}
		// One scan of the round's samples: width_bucket puts each sample
		// in its slice (1..n; the end itself lands in n+1).
		var counts []struct {
			Site   int64 `db:"point_id"`
			Bucket int   `db:"bucket"`
			N      int   `db:"n"`
		}
		if err := tx.SelectContext(ctx, &counts, `SELECT point_id, least(width_bucket(extract(epoch FROM taken_at), $2::float8, $3::float8, $4), $4) AS bucket, count(*) AS n
			FROM samples WHERE round_id = $1 AND point_id IS NOT NULL GROUP BY 1, 2`,
			r.ID, epoch(from), epoch(to)+1e-6, CoverageBuckets); err != nil {
			return fmt.Errorf("coverage of round %d: %w", r.ID, err)
		}
		index := map[int64]int{}
		for j := range r.Points {
			index[r.Points[j].SiteID] = j
			r.Points[j].Cumulative = make([]int, CoverageBuckets)
		}
		for _, c := range counts {
			j, ok := index[c.Site]
			if !ok || c.Bucket < 1 {
				continue
			}
			r.Points[j].Cumulative[c.Bucket-1] += c.N
		}
		for j := range r.Points {
			for b := 1; b < CoverageBuckets; b++ {
				r.Points[j].Cumulative[b] += r.Points[j].Cumulative[b-1]
			}
		}
	}
	return nil
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
