// Audit of an incident's records: the rules they keep however workers,
// the database or Temporal fail, and the figures a response reports,
// counted from the rows, for the fault battery to check.

package store

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// Breach counts the records that break one rule.
type Breach struct {
	Rule  string
	Count int
}

// breachRules are the rules Breaches checks, each a query counting the
// records of the incident ($1) that break it, or of every incident when
// global.
var breachRules = []struct {
	rule, query string
	global      bool
}{
	{rule: "no resident sampled twice in a round", query: `SELECT count(*) FROM (
		SELECT s.round_id, s.resident_id FROM samples s JOIN testing_rounds t ON t.id = s.round_id
		WHERE t.incident = $1 GROUP BY 1, 2 HAVING count(*) > 1) x`},
	{rule: "none both sampled and missing", query: `SELECT count(*) FROM round_missing m
		JOIN samples s ON s.round_id = m.round_id AND s.resident_id = m.resident_id
		JOIN testing_rounds t ON t.id = m.round_id WHERE t.incident = $1`},
	{rule: "checkpoints once", query: `SELECT count(*) FROM (
		SELECT gate_id FROM checkpoints WHERE incident = $1 GROUP BY 1 HAVING count(*) > 1) x`},
	{rule: "notices once", query: `SELECT count(*) FROM (
		SELECT 1 FROM notices WHERE incident = $1 GROUP BY area_id, audience, kind, body HAVING count(*) > 1) x`},
	// A step event twice is the same state written twice in a row for one
	// step of one workflow.
	{rule: "no step event twice", query: `SELECT count(*) FROM (
		SELECT state, reason, lag(state) OVER w AS prev_state, lag(reason) OVER w AS prev_reason
		FROM step_events WHERE incident = $1 WINDOW w AS (PARTITION BY workflow_id, step ORDER BY id)) x
		WHERE state = prev_state AND reason = prev_reason`},
	// Bookings overlap across incidents too, so this rule looks at all of
	// them.
	{rule: "no overlapping bookings", global: true, query: `SELECT
		(SELECT count(*) FROM staff_assignments a JOIN staff_assignments b
		   ON a.staff_id = b.staff_id AND a.id < b.id AND a.shift && b.shift
		 WHERE a.state IN ('notified', 'acknowledged') AND b.state IN ('notified', 'acknowledged'))
		+ (SELECT count(*) FROM (SELECT staff_id FROM checkpoint_staff WHERE released_at IS NULL GROUP BY 1 HAVING count(*) > 1) x)`},
}

// Breaches counts, rule by rule in a fixed order, the records of an
// incident that break the rules its records keep however anything fails:
// nobody sampled twice or both sampled and missing, one checkpoint per gate,
// each notice and step transition once, nobody booked twice at a time.
func (s *Store) Breaches(ctx context.Context, incident string) ([]Breach, error) {
	out := make([]Breach, len(breachRules))
	for i, r := range breachRules {
		out[i].Rule = r.rule
		args := []any{incident}
		if r.global {
			args = nil
		}
		if err := s.db.GetContext(ctx, &out[i].Count, r.query, args...); err != nil {
			return nil, fmt.Errorf("%s: %w", r.rule, err)
		}
	}
	return out, nil
}

// RoundFigures is what the database holds of one testing round.
type RoundFigures struct {
	Area    string `db:"code"`
	Sampled int    `db:"sampled"`
	Missing int    `db:"missing"`
}

// RoundFigures returns the sampled and missing counts of every testing
// round of an incident.
func (s *Store) RoundFigures(ctx context.Context, incident string) ([]RoundFigures, error) {
	var rows []RoundFigures
	if err := s.db.SelectContext(ctx, &rows, `SELECT a.code,
		(SELECT count(*) FROM samples s WHERE s.round_id = t.id) AS sampled,
		(SELECT count(*) FROM round_missing m WHERE m.round_id = t.id) AS missing
		FROM testing_rounds t JOIN areas a ON a.id = t.area_id WHERE t.incident = $1`, incident); err != nil {
		return nil, fmt.Errorf("round figures of %s: %w", incident, err)
	}
	return rows, nil
}

// SampledTubes counts the tubes among tubes that are recorded as samples.
func (s *Store) SampledTubes(ctx context.Context, tubes []string) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM samples WHERE tube = ANY($1)`, pq.Array(tubes)); err != nil {
		return 0, fmt.Errorf("sampled tubes: %w", err)
	}
	return n, nil
}
