// The common case of sample ingestion: the session's staging table and the
// lean statement, prepared once a connection, that writes a batch whose
// rows are all good.

package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ingestSettings fix the plan of ingestSQL and ingestLeanSQL whatever the
// tables' statistics (fresh tables have none worth the name): the fenced
// lookups probe their index once per row, the small sets (open rounds'
// areas and points) are hashed rather than scanned per row, and JIT, which
// would cost more than running the statement, is off.
const ingestSettings = `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL enable_nestloop = off;
	SET LOCAL enable_bitmapscan = off; SET LOCAL enable_memoize = off`

// leanName is the session's name of the prepared ingestLeanSQL.
const leanName = "muster_ingest_lean"

// ingestSession opens an ingestion transaction in one round trip: the
// settings, the staging table and the lean statement. The staging table
// lives as long as the connection and is emptied at each commit (created
// and dropped with every batch it cost a catalog write and a fresh plan of
// every statement that reads it), and the lean statement is prepared once a
// connection: planning it took several milliseconds a batch. Both are made
// by the transaction that needs them when the session lacks them, so a
// session that lost them (a new connection, a rolled-back first batch, a
// pooler handing out another server session) makes them again. A session
// whose prepared statement is not this build's text (pg_prepared_statements
// keeps the text) prepares it again.
const ingestSession = ingestSettings + `;
CREATE TEMP TABLE IF NOT EXISTS sample_stage (
    line integer, tube text COLLATE "C", resident text COLLATE "C", point text, taken_at timestamptz, result text
) ON COMMIT DELETE ROWS;
DO $ingest$
DECLARE
    q CONSTANT text := $lean$PREPARE ` + leanName + ` (text, interval, bigint) AS ` + ingestLeanSQL + `$lean$;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_prepared_statements WHERE name = '` + leanName + `' AND statement = q) THEN
        IF EXISTS (SELECT FROM pg_prepared_statements WHERE name = '` + leanName + `') THEN
            DEALLOCATE ` + leanName + `;
        END IF;
        EXECUTE q;
    END IF;
END
$ingest$`

// leanSavepoint marks where a batch's statements start, so that a lean
// statement that did not write every row is undone, and has the lean
// statement use its generic plan: the arguments change nothing in its
// shape, which the settings fix. Rolling back to the savepoint restores the
// default for the full statement, whose arguments switch parts of it off.
const leanSavepoint = `SAVEPOINT ingest; SET LOCAL plan_cache_mode = force_generic_plan`

// runLean runs the prepared lean statement: how many rows it wrote and
// their round when they share one. It runs after leanSavepoint, so its
// plan is the generic one, made once a session. The arguments are quoted
// literals: EXECUTE takes no bind parameters.
func runLean(ctx context.Context, tx *sqlx.Tx, incident string, grace time.Duration, batch int64) (int, *int64, error) {
	var got struct {
		N     int    `db:"n"`
		Round *int64 `db:"round_id"`
	}
	var b strings.Builder
	b.WriteString("EXECUTE " + leanName + " (")
	b.WriteString(pq.QuoteLiteral(incident))
	b.WriteString(", ")
	b.WriteString(pq.QuoteLiteral(grace.String()))
	b.WriteString(", ")
	b.WriteString(strconv.FormatInt(batch, 10))
	b.WriteString(")")
	if err := tx.GetContext(ctx, &got, b.String()); err != nil {
		return 0, nil, err
	}
	return got.N, got.Round, nil
}

// ingestLeanSQL writes the staged rows that pass every check of ingestSQL
// but the lookups of samples (a known tube, the resident's other tube in
// the round), which the unique indexes of samples make instead. It returns
// how many rows it wrote and their round when they share one. $1 is the
// incident, $2 the grace after a deadline, $3 the batch's number. The
// rounds and points are chosen as in ingestSQL. The staged rows and their
// residents are a fenced subquery (OFFSET 0), so the rounds and points are
// joined to its result, each hashed once: left free to join the rounds
// inside the per-row probe, the planner did so whenever the probe looked
// cheap (a covering index on residents did it) and then scanned every
// round's area once a row, 30 times slower.
const ingestLeanSQL = `
WITH ra AS MATERIALIZED (
    SELECT a.id AS area_id, r.id AS round_id, r.opens_at, r.deadline + $2::interval AS until,
           count(*) OVER (PARTITION BY a.id) AS n
    FROM testing_rounds r
    JOIN areas ar ON ar.id = r.area_id
    JOIN areas a ON a.path = ar.path OR a.path LIKE ar.path || '/%'
    WHERE r.incident = $1 AND r.closed_at IS NULL
),
pts AS MATERIALIZED (
    SELECT rp.round_id, si.code, si.id
    FROM round_points rp JOIN sites si ON si.id = rp.site_id JOIN testing_rounds r ON r.id = rp.round_id
    WHERE r.incident = $1 AND r.closed_at IS NULL
),
ins AS (
    INSERT INTO samples (tube, round_id, resident_id, point_id, taken_at, result, batch_id, cohort, home_visit)
    SELECT st.tube, rr.round_id, st.resident_id, pt.id, st.taken_at, nullif(st.result, ''), $3::bigint, st.cohort, st.home_visit
    FROM (SELECT st.tube, st.point, st.taken_at, st.result, res.id AS resident_id, res.area_id, res.cohort, res.home_visit
          FROM sample_stage st
          JOIN LATERAL (SELECT id, area_id, cohort, home_visit FROM residents WHERE code = st.resident OFFSET 0) res ON true
          WHERE st.tube <> '' AND st.result IN ('', 'negative', 'positive')
          OFFSET 0) st
    JOIN ra rr ON rr.area_id = st.area_id AND (rr.n = 1 OR NOT EXISTS (
        SELECT 1 FROM ra r2 WHERE r2.area_id = rr.area_id AND r2.round_id <> rr.round_id
          AND (st.taken_at BETWEEN r2.opens_at AND r2.until, r2.opens_at, r2.round_id)
            > (st.taken_at BETWEEN rr.opens_at AND rr.until, rr.opens_at, rr.round_id)))
    LEFT JOIN pts pt ON pt.round_id = rr.round_id AND pt.code = st.point
    WHERE st.taken_at BETWEEN rr.opens_at AND rr.until
      AND CASE WHEN st.point = '' THEN st.home_visit ELSE pt.id IS NOT NULL END
    RETURNING round_id
)
SELECT count(*) AS n, CASE WHEN min(round_id) = max(round_id) THEN min(round_id) END AS round_id FROM ins
`
