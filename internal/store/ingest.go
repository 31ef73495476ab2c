// Sample ingestion: batches of samples from sampling stations and labs,
// validated row by row in SQL and written in one transaction.

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Limits of a batch.
const (
	// DefaultMaxBatch is the most rows a batch may hold unless the caller
	// sets another limit.
	DefaultMaxBatch = 50_000
	// DefaultGrace is how long after a round's deadline a sample's time is
	// still accepted: a round running late keeps sampling until it is
	// closed, and closing is what stops it.
	DefaultGrace = 6 * time.Hour
)

// ErrInvalidBatch is returned for a batch refused whole (empty, too large,
// no incident) before anything is written.
var ErrInvalidBatch = errors.New("invalid batch")

// ErrConcurrentBatch is returned when another batch recorded some of the
// same tubes or residents while this one was being written; nothing of this
// batch was kept and sending it again sorts its rows out.
var ErrConcurrentBatch = errors.New("another batch recorded the same samples at the same time; send this batch again")

// SampleRow is one sample as a station reports it.
type SampleRow struct {
	// Line is the row's line in its file (or its position in the batch);
	// rejections name it. 0 means its position, counting from 1.
	Line     int    `json:"line,omitempty"`
	Tube     string `json:"tube"`
	Resident string `json:"resident"`
	// Point is the sampling point's site code; empty for a home visit.
	Point   string    `json:"point"`
	TakenAt time.Time `json:"taken_at"`
	// Result is negative, positive or empty (not known yet).
	Result string `json:"result,omitempty"`
}

// IngestBatch is a batch of samples of one incident.
type IngestBatch struct {
	// ID names the batch; empty means the sha256 of its incident and rows,
	// so a re-sent file is known again.
	ID       string
	Incident string
	Rows     []SampleRow
	// Max is the most rows accepted in one batch; 0 means DefaultMaxBatch.
	Max int
	// Grace is how long after a round's deadline samples are still
	// accepted; 0 means DefaultGrace.
	Grace time.Duration
}

// RowError is a row refused, with its line and why.
type RowError struct {
	Line   int    `json:"line"`
	Tube   string `json:"tube,omitempty"`
	Reason string `json:"reason"`
}

func (e RowError) String() string {
	if e.Tube == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: tube %s: %s", e.Line, e.Tube, e.Reason)
}

// IngestResult is what became of a batch.
type IngestResult struct {
	BatchID string `json:"batch_id"`
	Rows    int    `json:"rows"`
	// Accepted counts new samples recorded.
	Accepted int `json:"accepted"`
	// AlreadyRecorded counts rows whose tube was recorded before, for the
	// same resident (a re-sent row).
	AlreadyRecorded int `json:"already_recorded"`
	// ResultsUpdated counts known tubes whose result this batch brought.
	ResultsUpdated int        `json:"results_updated"`
	Rejected       []RowError `json:"rejected"`
	// Late counts new samples recorded against a closed round (taken
	// during it, uploaded after it closed, within its late grace or
	// positive): each takes its resident off the round's missing list.
	Late int `json:"late,omitempty"`
	// LatePositives counts positive results for closed rounds, new or for
	// known tubes; the command center is told of them.
	LatePositives int `json:"late_positives,omitempty"`
}

type latePositive struct {
	round int64
	n     int
}

// noticeLatePositive tells the command center of positive results that
// arrived after their round closed and reported its positives: counts,
// never who.
func noticeLatePositive(ctx context.Context, tx *sqlx.Tx, lp latePositive, batch int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO notices (dedup_key, incident, area_id, audience, kind, body)
		SELECT format('late-positive/%s/%s', r.id, $2::bigint), r.incident, r.area_id, 'command center',
		       format('testing/%s/late-positive', r.round),
		       format('%s positive result(s) arrived after testing round %s of %s (incident %s) closed: the round''s figures now count them. See the round''s samples for who to follow up.',
		              $3::int, r.round, a.name, r.incident)
		FROM testing_rounds r JOIN areas a ON a.id = r.area_id WHERE r.id = $1
		ON CONFLICT (dedup_key) DO NOTHING`, lp.round, batch, lp.n)
	if err != nil {
		return fmt.Errorf("notice late positives of round %d: %w", lp.round, err)
	}
	return nil
}

// BatchDigest is the ID of a batch sent without one: the sha256 of its
// incident and rows (not their line numbers).
func BatchDigest(incident string, rows []SampleRow) string {
	h := sha256.New()
	h.Write([]byte(incident))
	h.Write([]byte{'\n'})
	var b []byte
	for _, r := range rows {
		b = b[:0]
		b = append(b, r.Tube...)
		b = append(b, 0x1f)
		b = append(b, r.Resident...)
		b = append(b, 0x1f)
		b = append(b, r.Point...)
		b = append(b, 0x1f)
		b = r.TakenAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, 0x1f)
		b = append(b, r.Result...)
		b = append(b, '\n')
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// IngestSamples validates a batch of samples and records the good rows, in
// one transaction.
//
// The rows are copied into a temporary table and checked in one SQL
// statement that also writes them. A row's round is the incident's open
// round whose area holds the resident (when several do, the one whose
// window holds the row's time, then the latest opened). A row is refused,
// with its line and reason, when its tube is empty, its result is not
// negative, positive or empty, its resident is unknown, its tube appeared
// on an earlier line of the batch, its tube is recorded for another
// resident, a recorded result would change, no open round covers the
// resident, its time lies outside the round (opens_at to deadline + grace),
// its point is unknown or not open in the round, it has no point and the
// resident is not on the home-visit list, the resident already has another
// tube in the round, or the resident appears on an earlier line with
// another tube. A row whose tube is recorded for the same resident is that
// sample again: already recorded, or, when it brings the result the sample
// lacked, the result is recorded. Good rows are written, so a re-sent batch
// adds nothing. A batch with no rows, more than Max rows or no incident is
// refused whole (ErrInvalidBatch) before the database is touched.
// long: one transaction's stages in the order they run: stage, hold the rounds, record the batch, verdicts with their fallbacks, tally.
func (s *Store) IngestSamples(ctx context.Context, in IngestBatch) (IngestResult, error) {
	limit := in.Max
	if limit <= 0 {
		limit = DefaultMaxBatch
	}
	grace := in.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	switch {
	case strings.TrimSpace(in.Incident) == "":
		return IngestResult{}, fmt.Errorf("%w: the incident is required", ErrInvalidBatch)
	case len(in.Rows) == 0:
		return IngestResult{}, fmt.Errorf("%w: the batch has no rows", ErrInvalidBatch)
	case len(in.Rows) > limit:
		return IngestResult{}, fmt.Errorf("%w: %d rows is more than the %d a batch may hold: split it", ErrInvalidBatch, len(in.Rows), limit)
	case grace < 0:
		return IngestResult{}, fmt.Errorf("%w: grace %s is negative", ErrInvalidBatch, grace)
	}
	id := strings.TrimSpace(in.ID)
	if id == "" {
		id = BatchDigest(in.Incident, in.Rows)
	}
	res := IngestResult{BatchID: id, Rows: len(in.Rows), Rejected: []RowError{}}
	err := s.withConnTx(ctx, func(conn *sqlx.Conn, tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, ingestSession); err != nil {
			return fmt.Errorf("stage samples: %w", err)
		}
		err := copyText(ctx, conn, "sample_stage", []string{"line", "tube", "resident", "point", "taken_at", "result"}, len(in.Rows),
			func(b []byte, i int) []byte {
				r := &in.Rows[i]
				line := r.Line
				if line == 0 {
					line = i + 1
				}
				b = appendCopyInt(b, int64(line))
				b = appendCopyText(append(b, '\t'), strings.TrimSpace(r.Tube))
				b = appendCopyText(append(b, '\t'), strings.TrimSpace(r.Resident))
				b = appendCopyText(append(b, '\t'), strings.TrimSpace(r.Point))
				b = appendCopyTime(append(b, '\t'), r.TakenAt)
				return appendCopyText(append(b, '\t'), strings.ToLower(strings.TrimSpace(r.Result)))
			})
		if err != nil {
			return fmt.Errorf("copy samples: %w", err)
		}
		// Most batches are new samples, all good. A lean statement writes
		// the rows that pass every check that needs no lookup of samples,
		// and the unique indexes refuse a known tube or a resident's second
		// sample. When it wrote every row, the full statement would have
		// found every row good and written the same rows: the batch is done.
		// Otherwise (a row refused, a known tube, a concurrent batch) the
		// full statement runs from a savepoint and gives each row its
		// verdict; it first runs without looking up the tube and the
		// resident's samples in the round of rows it finds good otherwise
		// (two index probes a row), and again looking everything up when
		// the unique indexes refuse one; a refusal then can only be a
		// concurrent batch. A batch that repeats a tube or a resident (the
		// lean statement cannot write it: the unique indexes refuse the
		// repeat) goes to the full statement looking everything up at once,
		// so that which line of a repeat is kept never depends on a skipped
		// probe.
		// The incident's open rounds are held FOR SHARE until the batch
		// commits: a close (FOR UPDATE) waits for the batch, and a batch
		// that waited for a close finds the round closed, so no sample
		// lands in a round whose missing list is written. The batch's row
		// comes next, in the same statement (one round trip less): its
		// number marks the samples, and its lock makes a copy of the batch
		// sent at the same time wait. The rounds are locked before the
		// row is written: the row's SELECT reads the count of held rounds.
		var seq int64
		if err := tx.GetContext(ctx, &seq, `WITH held AS (
			    SELECT id FROM testing_rounds WHERE incident = $2 AND closed_at IS NULL ORDER BY id FOR SHARE)
			INSERT INTO sample_batches (id, incident, rows, accepted, rejected)
			SELECT $1, $2, $3, 0, 0 FROM (SELECT count(*) FROM held) h
			ON CONFLICT (id) DO UPDATE SET sends = sample_batches.sends + 1, last_received_at = now()
			RETURNING seq`, id, in.Incident, res.Rows); err != nil {
			return fmt.Errorf("hold open rounds and record batch: %w", err)
		}
		if _, err := tx.ExecContext(ctx, leanSavepoint); err != nil {
			return err
		}
		mode := ingestLean
		var tubes, residents bool
		var out []ingestVerdict
		for {
			var err error
			out, err = runIngest(ctx, tx, mode, in.Incident, grace, seq, tubes, residents, len(in.Rows))
			if err == nil {
				break
			}
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT ingest`); rerr != nil {
				return rerr
			}
			if mode == ingestLean {
				tubes, residents = repeats(in.Rows)
			}
			var pe *pq.Error
			switch {
			case errors.Is(err, errNotAllGood) && (tubes || residents):
				mode = ingestCareful
			case errors.Is(err, errNotAllGood):
				mode = ingestFull
			case !errors.As(err, &pe) || (pe.Code != "23505" && pe.Code != "40P01"):
				return fmt.Errorf("ingest: %w", err)
			case mode == ingestCareful:
				return ErrConcurrentBatch
			default:
				mode = ingestCareful
			}
		}
		var accepted, updated, updates int
		var latePositives []latePositive
		var round *int64
		for _, o := range out {
			switch {
			case o.Line == nil && o.Status == "accepted":
				accepted, round = o.N, o.Round
			case o.Line == nil && o.Status == "updated":
				updated = o.N
			case o.Line == nil && o.Status == "late":
				res.Late = o.N
			case o.Line == nil && o.Status == "late-positive" && o.Round != nil:
				latePositives = append(latePositives, latePositive{round: *o.Round, n: o.N})
				res.LatePositives += o.N
			case o.Status == "already":
				res.AlreadyRecorded++
			case o.Status == "update":
				updates++
			case strings.HasPrefix(o.Status, "!"):
				res.Rejected = append(res.Rejected, RowError{Line: *o.Line, Tube: *o.Tube, Reason: o.Status[1:]})
			}
		}
		res.Accepted = accepted
		res.ResultsUpdated = updated
		// A result another batch brought meanwhile leaves the row as it was.
		res.AlreadyRecorded += updates - updated
		slices.SortFunc(res.Rejected, func(a, b RowError) int { return a.Line - b.Line })
		for _, lp := range latePositives {
			if err := noticeLatePositive(ctx, tx, lp, seq); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sample_batches SET round_id = coalesce(round_id, $2),
			    accepted = accepted + $3, results_updated = results_updated + $4,
			    rows = $5, rejected = $6, already_recorded = $7
			WHERE seq = $1`,
			seq, round, res.Accepted, res.ResultsUpdated, res.Rows, len(res.Rejected), res.AlreadyRecorded); err != nil {
			return fmt.Errorf("record batch: %w", err)
		}
		return nil
	})
	if err != nil {
		return IngestResult{}, fmt.Errorf("ingest batch %s: %w", id, err)
	}
	return res, nil
}

// repeats reports whether a batch names a tube, or a resident, on more than
// one line, so that the statement skips the duplicate checks that cannot
// find anything.
func repeats(rows []SampleRow) (tubes, residents bool) {
	seenTube := make(map[string]struct{}, len(rows))
	seenResident := make(map[string]struct{}, len(rows))
	for _, r := range rows {
		t, res := strings.TrimSpace(r.Tube), strings.TrimSpace(r.Resident)
		if _, ok := seenTube[t]; ok {
			tubes = true
		}
		if _, ok := seenResident[res]; ok {
			residents = true
		}
		seenTube[t], seenResident[res] = struct{}{}, struct{}{}
	}
	return tubes, residents
}

// How runIngest checks a batch.
type ingestMode int

const (
	// ingestLean writes the rows that pass the checks needing no lookup of
	// samples, and succeeds only when that is every row.
	ingestLean ingestMode = iota
	// ingestFull gives every row its verdict, leaving the duplicate checks
	// of rows it finds good to the unique indexes.
	ingestFull
	// ingestCareful gives every row its verdict, looking every tube and
	// resident up.
	ingestCareful
)

// errNotAllGood is the lean statement's answer when some rows of a batch
// were not good: the full statement is needed to say why.
var errNotAllGood = errors.New("some rows were not written")

// ingestVerdict is a row of the statements' answers.
type ingestVerdict struct {
	Line   *int    `db:"line"`
	Tube   *string `db:"tube"`
	Status string  `db:"status"`
	N      int     `db:"n"`
	Round  *int64  `db:"round_id"`
}

// runIngest runs one of the ingestion statements over the staged rows.
func runIngest(ctx context.Context, tx *sqlx.Tx, mode ingestMode, incident string, grace time.Duration, batch int64, tubes, residents bool, rows int) ([]ingestVerdict, error) {
	if mode != ingestLean {
		var out []ingestVerdict
		err := tx.SelectContext(ctx, &out, ingestSQL, incident, grace.String(), batch, tubes, residents, mode == ingestCareful)
		return out, err
	}
	n, round, err := runLean(ctx, tx, incident, grace, batch)
	if err != nil {
		return nil, err
	}
	if n != rows {
		return nil, errNotAllGood
	}
	return []ingestVerdict{{Status: "accepted", N: n, Round: round}}, nil
}

// ingestSQL checks every staged row and writes the good ones in one
// statement. $1 is the incident, $2 the grace after a deadline, $3 the
// batch's number (sample_batches.seq), $4 and $5 whether the batch repeats a tube or a resident, $6
// whether to look every row's tube and resident up. It returns the rows that were not simply accepted (status
// "already", "update" or "!reason") and two totals without a line:
// "accepted" (rows written, with their round when they share one) and
// "updated" (results recorded). Good rows are written with a plain INSERT;
// with $6 the statement has found every tube and resident recorded before
// it, so a unique violation means a batch committed meanwhile.
const ingestSQL = `
WITH ra AS MATERIALIZED (
    -- Every area under a round of the incident, with that round: open
    -- rounds take samples, closed ones late results (see late_until).
    SELECT a.id AS area_id, r.id AS round_id, r.round, ar.code AS round_area, r.opens_at, r.deadline,
           r.deadline + $2::interval AS until, r.closed_at, r.closed_at + r.late_grace AS late_until,
           count(*) OVER (PARTITION BY a.id) AS n
    FROM testing_rounds r
    JOIN areas ar ON ar.id = r.area_id
    JOIN areas a ON a.path = ar.path OR a.path LIKE ar.path || '/%'
    WHERE r.incident = $1
),
pts AS MATERIALIZED (
    SELECT rp.round_id, si.code, si.id
    FROM round_points rp JOIN sites si ON si.id = rp.site_id JOIN testing_rounds r ON r.id = rp.round_id
    WHERE r.incident = $1
),
dt AS (
    -- Tubes on several lines: the first line is kept. $4 is false when the
    -- batch repeats no tube, and the aggregate is skipped.
    SELECT tube, min(line) AS first FROM sample_stage WHERE $4 GROUP BY tube HAVING count(*) > 1
),
v AS MATERIALIZED (
    SELECT st.line, st.tube, st.taken_at, nullif(st.result, '') AS result, res.id AS resident_id, res.cohort, res.home_visit,
           rr.round_id, pt.id AS point_id, rr.closed_at IS NOT NULL AS late,
           CASE
             WHEN st.tube IS NULL OR st.tube = '' THEN '!tube is empty'
             WHEN st.result NOT IN ('', 'negative', 'positive') THEN format('!result "%s" is not negative, positive or empty', st.result)
             WHEN st.taken_at IS NULL THEN '!taken_at is missing'
             WHEN res.id IS NULL THEN format('!unknown resident "%s"', st.resident)
             WHEN dt.first < st.line THEN format('!the tube is also on line %s of this batch', dt.first)
             WHEN ex.tube IS NOT NULL AND ex.resident_id <> res.id THEN '!the tube is already recorded for another resident'
             WHEN ex.tube IS NOT NULL AND st.result <> '' AND ex.result IS NOT NULL AND ex.result <> st.result
               THEN format('!the tube already has the result %s; a different result is not recorded (ask the lab to correct it)', ex.result)
             WHEN ex.tube IS NOT NULL AND st.result <> '' AND ex.result IS NULL THEN 'update'
             WHEN ex.tube IS NOT NULL THEN 'already'
             WHEN rr.round_id IS NULL THEN format('!no open testing round of incident %s covers resident %s', $1, st.resident)
             WHEN st.taken_at < rr.opens_at OR st.taken_at > rr.until
               THEN format('!taken_at %s is outside round %s of %s (opens %s, deadline %s, samples accepted until %s)',
                           to_char(st.taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), rr.round, rr.round_area,
                           to_char(rr.opens_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                           to_char(rr.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                           to_char(rr.until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
             WHEN rr.closed_at IS NOT NULL AND st.result <> 'positive' AND now() > rr.late_until
               THEN format('!round %s of %s closed at %s; after its grace (until %s) only positive results are taken',
                           rr.round, rr.round_area,
                           to_char(rr.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                           to_char(rr.late_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
             WHEN st.point = '' AND NOT res.home_visit
               THEN format('!no point: only residents on the home-visit list are sampled at home, and %s is not', st.resident)
             WHEN st.point <> '' AND pt.id IS NULL AND NOT EXISTS (SELECT 1 FROM sites s WHERE s.code = st.point)
               THEN format('!unknown point "%s"', st.point)
             WHEN st.point <> '' AND pt.id IS NULL THEN format('!point %s is not open in round %s of %s', st.point, rr.round, rr.round_area)
             WHEN rs.tube IS NOT NULL THEN format('!resident %s is already sampled in round %s with tube %s', st.resident, rr.round, rs.tube)
             ELSE 'new'
           END AS status
    FROM sample_stage st
    -- The lookups are fenced (OFFSET 0) so each is an index probe per row
    -- whatever the table sizes: a batch costs the same against a million
    -- residents and samples as against a few.
    LEFT JOIN LATERAL (SELECT id, area_id, cohort, home_visit FROM residents WHERE code = st.resident OFFSET 0) res ON true
    LEFT JOIN dt ON dt.tube = st.tube
    LEFT JOIN ra rr ON rr.area_id = res.area_id AND (rr.n = 1 OR NOT EXISTS (
        -- Another round over the resident's area fits better: its window
        -- holds the row's time, or it opened later.
        SELECT 1 FROM ra r2 WHERE r2.area_id = rr.area_id AND r2.round_id <> rr.round_id
          AND (st.taken_at BETWEEN r2.opens_at AND r2.until, r2.opens_at, r2.round_id)
            > (st.taken_at BETWEEN rr.opens_at AND rr.until, rr.opens_at, rr.round_id)))
    LEFT JOIN pts pt ON pt.round_id = rr.round_id AND pt.code = st.point
    -- The tube's sample, when it has one, is looked for when $6 asks, and
    -- for every row that the checks after it would not find good (a lab's
    -- result, a row outside an open round or with a point problem, such as
    -- a batch re-sent after its round closed). A row they find good and
    -- that is a known tube is refused by the tube's unique index.
    LEFT JOIN LATERAL (SELECT tube, resident_id, round_id, result FROM samples
        WHERE ($6 OR st.result <> '' OR rr.round_id IS NULL OR st.taken_at NOT BETWEEN rr.opens_at AND rr.until
               OR (st.point = '' AND NOT res.home_visit) OR (st.point <> '' AND pt.id IS NULL))
          AND tube = st.tube OFFSET 0) ex ON true
    -- A resident's other tube in the round is looked for only when $6 asks
    -- (see IngestSamples): otherwise the unique index refuses the row.
    LEFT JOIN LATERAL (SELECT tube FROM samples WHERE $6 AND round_id = rr.round_id AND resident_id = res.id OFFSET 0) rs ON true
),
dr AS (
    -- Residents on several good rows: the first line is kept. $5 is false
    -- when the batch repeats no resident.
    SELECT round_id, resident_id, min(line) AS first FROM v WHERE $5 AND status = 'new' GROUP BY 1, 2 HAVING count(*) > 1
),
ins AS (
    INSERT INTO samples (tube, round_id, resident_id, point_id, taken_at, result, batch_id, cohort, home_visit, late)
    SELECT v.tube, v.round_id, v.resident_id, v.point_id, v.taken_at, v.result, $3::bigint, v.cohort, v.home_visit, v.late
    FROM v LEFT JOIN dr ON dr.round_id = v.round_id AND dr.resident_id = v.resident_id
    WHERE v.status = 'new' AND (dr.first IS NULL OR v.line = dr.first)
    RETURNING round_id, resident_id, late, result
),
-- A late sample takes its resident off the closed round's missing list.
dm AS (
    DELETE FROM round_missing m USING ins
    WHERE ins.late AND m.round_id = ins.round_id AND m.resident_id = ins.resident_id
    RETURNING m.resident_id
),
upd AS (
    UPDATE samples s SET result = v.result FROM v
    WHERE v.status = 'update' AND s.tube = v.tube AND s.result IS NULL
    RETURNING s.tube, s.round_id, s.result
),
-- Positive results for rounds already closed: the round reported its
-- positives, so the command center is told of these.
lp AS (
    SELECT round_id FROM ins WHERE late AND result = 'positive'
    UNION ALL
    SELECT upd.round_id FROM upd JOIN testing_rounds r ON r.id = upd.round_id WHERE r.closed_at IS NOT NULL AND upd.result = 'positive'
)
SELECT v.line, v.tube,
       CASE WHEN v.status = 'new' THEN format('!resident is also on line %s of this batch, with another tube', dr.first) ELSE v.status END AS status,
       0 AS n, v.round_id
FROM v LEFT JOIN dr ON dr.round_id = v.round_id AND dr.resident_id = v.resident_id
WHERE v.status <> 'new' OR v.line > dr.first
UNION ALL SELECT NULL, NULL, 'accepted', count(*), CASE WHEN min(round_id) = max(round_id) THEN min(round_id) END FROM ins
UNION ALL SELECT NULL, NULL, 'updated', count(*), NULL FROM upd
UNION ALL SELECT NULL, NULL, 'late', count(*), NULL FROM ins WHERE late
UNION ALL SELECT NULL, NULL, 'late-positive', count(*), round_id FROM lp GROUP BY round_id
`
