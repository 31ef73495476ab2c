package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/store"
)

// oneSession makes every call of s run on one database session, so a test
// sees what a batch leaves in its session.
func oneSession(t *testing.T, s *store.Store) {
	t.Helper()
	s.DB().SetMaxOpenConns(1)
	s.DB().SetMaxIdleConns(1)
}

// leanStatement reports the session's prepared lean statement: whether it
// is the ingestion's (it writes samples) and how often it ran.
func leanStatement(t *testing.T, s *store.Store) (writes bool, runs int) {
	t.Helper()
	var st struct {
		Statement string `db:"statement"`
		Generic   int    `db:"generic_plans"`
	}
	err := s.DB().Get(&st, `SELECT statement, generic_plans FROM pg_prepared_statements WHERE name = 'muster_ingest_lean'`)
	if err != nil {
		t.Fatalf("the session's lean statement: %v", err)
	}
	return strings.Contains(st.Statement, "INSERT INTO samples"), st.Generic
}

// TestIngestSession: a session keeps its staging table, emptied at each
// commit, and its prepared lean statement from batch to batch; a stale
// statement of the same name is replaced, and a first batch that fails
// after staging (its staging table rolled back, its statement kept) leaves
// the session able to ingest.
func TestIngestSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lb := openLongbao(t)
	s := lb.s
	oneSession(t, s)
	point := lb.assigned["longbao-jiayuan"]
	if _, err := s.DB().Exec(`PREPARE muster_ingest_lean (text, interval, bigint) AS SELECT 0 AS n, NULL::bigint AS round_id`); err != nil {
		t.Fatal(err)
	}

	bad := sampleRows(lb.comers[:3], point, "BAD")
	bad[1].Tube = "BAD\x00"
	if _, err := s.IngestSamples(ctx, store.IngestBatch{Incident: "xd-0403", Rows: bad}); err == nil {
		t.Fatal("IngestSamples(a tube with a NUL byte) = nil error, want the COPY's error")
	}
	if n := count(t, s, `SELECT count(*) FROM samples`); n != 0 {
		t.Fatalf("samples after a failed batch = %d, want 0", n)
	}

	rows := sampleRows(lb.comers[:60], point, "SES")
	for i, batch := range [][]store.SampleRow{rows[:30], rows[30:]} {
		if res := ingest(t, s, "xd-0403", batch); res.Accepted != len(batch) || len(res.Rejected) != 0 {
			t.Fatalf("IngestSamples(batch %d) = %+v, want %d accepted", i+1, res, len(batch))
		}
		if n := count(t, s, `SELECT count(*) FROM sample_stage`); n != 0 {
			t.Errorf("staged rows after batch %d committed = %d, want 0", i+1, n)
		}
		if writes, runs := leanStatement(t, s); !writes || runs != i+1 {
			t.Errorf("after batch %d the session's lean statement writes samples = %v and ran %d times, want true and %d", i+1, writes, runs, i+1)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM samples`); n != 60 {
		t.Errorf("samples = %d, want 60", n)
	}
}
