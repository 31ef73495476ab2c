package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// longbaoRound is a store with Longbao's first round open, the point that
// serves each compound, and residents to sample.
type longbaoRound struct {
	s        *store.Store
	plan     domain.RoundPlan
	assigned map[string]string
	comers   []string // residents of Longbao Jiayuan who come to a point
	visited  []string // Longbao residents on the home-visit list
}

func openLongbao(t *testing.T) longbaoRound {
	t.Helper()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	return longbaoRound{
		s: s, plan: plan, assigned: assignedPoints(t, s, plan.RoundID),
		comers:  residentCodes(t, s, "longbao-jiayuan", false, 200),
		visited: residentCodes(t, s, "longbao", true, 5),
	}
}

func TestIngestSamples(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lb := openLongbao(t)
	s := lb.s
	point := lb.assigned["longbao-jiayuan"]
	rows := sampleRows(lb.comers[:100], point, "LB")

	res := ingest(t, s, "xd-0403", rows)
	want := store.IngestResult{BatchID: store.BatchDigest("xd-0403", rows), Rows: 100, Accepted: 100, Rejected: []store.RowError{}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("IngestSamples(good batch) = %+v, want %+v", res, want)
	}
	if !strings.HasPrefix(res.BatchID, "sha256:") {
		t.Errorf("BatchID = %q, want the batch's sha256", res.BatchID)
	}
	if n := count(t, s, `SELECT count(*) FROM samples JOIN sample_batches b ON b.seq = samples.batch_id WHERE samples.round_id = $1 AND b.id = $2 AND result IS NULL AND NOT home_visit AND cohort = 'resident'`, lb.plan.RoundID, res.BatchID); n != 100 {
		t.Errorf("samples of the batch = %d, want 100", n)
	}

	t.Run("re-sent", func(t *testing.T) {
		again := ingest(t, s, "xd-0403", rows)
		want := store.IngestResult{BatchID: res.BatchID, Rows: 100, AlreadyRecorded: 100, Rejected: []store.RowError{}}
		if !reflect.DeepEqual(again, want) {
			t.Errorf("IngestSamples(re-sent) = %+v, want %+v", again, want)
		}
		if n := count(t, s, `SELECT count(*) FROM samples`); n != 100 {
			t.Errorf("samples after re-sending = %d, want 100", n)
		}
		if n := count(t, s, `SELECT sends FROM sample_batches WHERE id = $1`, res.BatchID); n != 2 {
			t.Errorf("sends of the batch = %d, want 2", n)
		}
		if n := count(t, s, `SELECT accepted FROM sample_batches WHERE id = $1`, res.BatchID); n != 100 {
			t.Errorf("accepted of the batch = %d, want 100", n)
		}
	})

	t.Run("results later", func(t *testing.T) {
		lab := make([]store.SampleRow, 3)
		copy(lab, rows[:3])
		lab[0].Result, lab[1].Result, lab[2].Result = "negative", "Positive", ""
		got, err := s.IngestSamples(ctx, store.IngestBatch{ID: "lab-1", Incident: "xd-0403", Rows: lab})
		if err != nil {
			t.Fatal(err)
		}
		want := store.IngestResult{BatchID: "lab-1", Rows: 3, ResultsUpdated: 2, AlreadyRecorded: 1, Rejected: []store.RowError{}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("IngestSamples(results) = %+v, want %+v", got, want)
		}
		if n := count(t, s, `SELECT count(*) FROM samples WHERE result = 'positive'`); n != 1 {
			t.Errorf("positive samples = %d, want 1", n)
		}
		again, _ := s.IngestSamples(ctx, store.IngestBatch{ID: "lab-1", Incident: "xd-0403", Rows: lab})
		if again.ResultsUpdated != 0 || again.AlreadyRecorded != 3 {
			t.Errorf("IngestSamples(results again) = %+v, want 3 already recorded", again)
		}
	})

	t.Run("bad rows", func(t *testing.T) {
		at := opens.Add(2 * time.Hour)
		c := lb.comers
		nanpingtou := residentCodes(t, s, "nanpingtou", false, 1)[0]
		row := func(line int, tube, resident, point, result string, at time.Time) store.SampleRow {
			return store.SampleRow{Line: line, Tube: tube, Resident: resident, Point: point, TakenAt: at, Result: result}
		}
		batch := []store.SampleRow{
			row(2, "G-1", c[150], point, "", at),                                  // good
			row(3, "", c[151], point, "", at),                                     // empty tube
			row(4, "B-4", c[152], point, "pos", at),                               // result
			row(5, "B-5", c[153], point, "", time.Time{}),                         // no time
			row(6, "B-6", "r-nobody", point, "", at),                              // unknown resident
			row(7, "G-1", c[154], point, "", at),                                  // tube on line 2 too
			row(8, rows[10].Tube, c[155], point, "", at),                          // tube of another resident
			row(9, rows[0].Tube, rows[0].Resident, point, "positive", at),         // result would change
			row(10, "B-10", nanpingtou, point, "", at),                            // no round covers Nanpingtou
			row(11, "B-11", c[156], point, "", opens.Add(-time.Minute)),           // before the round
			row(12, "B-12", c[157], "", "", at),                                   // no point, not visited at home
			row(13, "B-13", c[158], "no-such-point", "", at),                      // unknown point
			row(14, "B-14", c[159], "zhongfuyuan-sampling-01", "", at),            // point of another round
			row(15, "B-15", rows[20].Resident, point, "", at),                     // sampled already with another tube
			row(16, "G-16", c[160], point, "", at),                                // good
			row(17, "B-17", c[160], point, "", at),                                // same resident as line 16
			row(18, "G-18", lb.visited[0], "", "", at),                            // good: home visit
			row(19, "G-19", c[161], lb.assigned["heping-yuan"], "", at),           // good: any open point
			row(20, "B-20", c[162], point, "", deadline.Add(7*time.Hour)),         // past the deadline's grace
			row(21, "G-21", c[163], point, "negative", deadline.Add(5*time.Hour)), // good: within the grace
		}
		got := ingest(t, s, "xd-0403", batch)
		wantRejected := []struct {
			line   int
			reason string
		}{
			{3, "tube is empty"},
			{4, `result "pos" is not negative, positive or empty`},
			{5, "taken_at is missing"},
			{6, `unknown resident "r-nobody"`},
			{7, "the tube is also on line 2 of this batch"},
			{8, "is already recorded for another resident"},
			{9, "already has the result negative"},
			{10, "no open testing round of incident xd-0403 covers resident " + nanpingtou},
			{11, "is outside round 1 of longbao"},
			{12, "no point: only residents on the home-visit list are sampled at home"},
			{13, `unknown point "no-such-point"`},
			{14, "point zhongfuyuan-sampling-01 is not open in round 1 of longbao"},
			{15, "is already sampled in round 1 with tube " + rows[20].Tube},
			{17, "resident is also on line 16 of this batch"},
			{20, "is outside round 1 of longbao"},
		}
		if got.Accepted != 5 || got.Rows != len(batch) || len(got.Rejected) != len(wantRejected) {
			t.Fatalf("IngestSamples(bad rows) = %+v, want 5 accepted and %d rejected", got, len(wantRejected))
		}
		for i, w := range wantRejected {
			r := got.Rejected[i]
			if r.Line != w.line || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("rejection %d = line %d %q, want line %d mentioning %q", i, r.Line, r.Reason, w.line, w.reason)
			}
			if r.Tube != batch[w.line-2].Tube {
				t.Errorf("rejection of line %d names tube %q, want %q", r.Line, r.Tube, batch[w.line-2].Tube)
			}
		}
		if n := count(t, s, `SELECT count(*) FROM samples WHERE tube LIKE 'G-%'`); n != 5 {
			t.Errorf("good rows written = %d, want 5", n)
		}
		if n := count(t, s, `SELECT count(*) FROM samples WHERE tube LIKE 'B-%'`); n != 0 {
			t.Errorf("bad rows written = %d, want 0", n)
		}
		if n := count(t, s, `SELECT count(*) FROM samples WHERE tube = 'G-18' AND point_id IS NULL AND home_visit`); n != 1 {
			t.Errorf("home-visit sample without a point = %d, want 1", n)
		}
		if n := count(t, s, `SELECT rejected FROM sample_batches WHERE id = $1`, got.BatchID); n != len(wantRejected) {
			t.Errorf("sample_batches.rejected = %d, want %d", n, len(wantRejected))
		}

		// Sent one at a time (no repeats in the batch: the statement first
		// runs without looking every row up), each row gets the same
		// verdict; the good ones are now already recorded.
		for _, r := range batch {
			if r.Line == 7 || r.Line == 17 {
				continue // a repeat needs its first line
			}
			alone, err := s.IngestSamples(ctx, store.IngestBatch{Incident: "xd-0403", Rows: []store.SampleRow{r}})
			if err != nil {
				t.Fatalf("IngestSamples(line %d alone) error = %v", r.Line, err)
			}
			var want string
			for _, w := range got.Rejected {
				if w.Line == r.Line {
					want = w.Reason
				}
			}
			switch {
			case want == "" && (alone.AlreadyRecorded != 1 || len(alone.Rejected) != 0):
				t.Errorf("IngestSamples(good line %d alone) = %+v, want it already recorded", r.Line, alone)
			case want != "" && (len(alone.Rejected) != 1 || alone.Rejected[0].Reason != want):
				t.Errorf("IngestSamples(line %d alone) = %+v, want rejected: %s", r.Line, alone, want)
			}
		}
	})

	t.Run("batch refused whole", func(t *testing.T) {
		samples := count(t, s, `SELECT count(*) FROM samples`)
		batches := count(t, s, `SELECT count(*) FROM sample_batches`)
		six := sampleRows(lb.comers[170:176], point, "MAX")
		for _, tt := range []struct {
			name string
			in   store.IngestBatch
			msg  string
		}{
			{"over max", store.IngestBatch{Incident: "xd-0403", Rows: six, Max: 5}, "6 rows is more than the 5"},
			{"empty", store.IngestBatch{Incident: "xd-0403"}, "no rows"},
			{"no incident", store.IngestBatch{Rows: six}, "incident is required"},
		} {
			_, err := s.IngestSamples(ctx, tt.in)
			if !errors.Is(err, store.ErrInvalidBatch) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("IngestSamples(%s) = %v, want ErrInvalidBatch mentioning %q", tt.name, err, tt.msg)
			}
		}
		if n := count(t, s, `SELECT count(*) FROM samples`); n != samples {
			t.Errorf("samples after refused batches = %d, want %d", n, samples)
		}
		if n := count(t, s, `SELECT count(*) FROM sample_batches`); n != batches {
			t.Errorf("batches after refused batches = %d, want %d", n, batches)
		}
	})
}

// TestIngestRoundResolution checks which round a row lands in when two
// rounds over Longbao are open: the one whose window holds its time.
func TestIngestRoundResolution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lb := openLongbao(t)
	s := lb.s
	day := 24 * time.Hour
	r2, err := s.OpenRound(ctx, "xd-0403", areaID(t, s, "longbao"), 2, opens.Add(2*day), deadline.Add(2*day), roundEvent("xd-0403", "open-2"))
	if err != nil {
		t.Fatal(err)
	}
	point := lb.assigned["longbao-jiayuan"]
	rows := []store.SampleRow{
		{Tube: "R1", Resident: lb.comers[0], Point: point, TakenAt: opens.Add(time.Hour)},
		{Tube: "R2", Resident: lb.comers[0], Point: point, TakenAt: opens.Add(2*day + time.Hour)},
	}
	res := ingest(t, s, "xd-0403", rows)
	if res.Accepted != 2 {
		t.Fatalf("IngestSamples(two rounds) = %+v, want both accepted", res)
	}
	for tube, round := range map[string]int64{"R1": lb.plan.RoundID, "R2": r2.RoundID} {
		if n := count(t, s, `SELECT count(*) FROM samples WHERE tube = $1 AND round_id = $2`, tube, round); n != 1 {
			t.Errorf("tube %s in round %d: %d rows, want 1", tube, round, n)
		}
	}
}

// TestIngestConcurrent sends the same batch from several stations at once:
// one records it, the others find it recorded (or are told to send again),
// and nothing is recorded twice.
func TestIngestConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lb := openLongbao(t)
	rows := sampleRows(lb.comers[:150], lb.assigned["longbao-jiayuan"], "C")
	const senders = 4
	type outcome struct {
		res store.IngestResult
		err error
	}
	out := make(chan outcome, senders)
	for range senders {
		go func() {
			res, err := lb.s.IngestSamples(ctx, store.IngestBatch{Incident: "xd-0403", Rows: rows})
			out <- outcome{res, err}
		}()
	}
	accepted := 0
	for range senders {
		o := <-out
		switch {
		case errors.Is(o.err, store.ErrConcurrentBatch):
		case o.err != nil && strings.Contains(o.err.Error(), "deadlock"):
		case o.err != nil:
			t.Errorf("IngestSamples() concurrently = %v", o.err)
		default:
			accepted += o.res.Accepted
			if o.res.Accepted+o.res.AlreadyRecorded != len(rows) || len(o.res.Rejected) != 0 {
				t.Errorf("IngestSamples() concurrently = %+v, want every row accepted or already recorded", o.res)
			}
		}
	}
	if accepted != len(rows) {
		t.Errorf("rows accepted over all senders = %d, want %d", accepted, len(rows))
	}
	if n := count(t, lb.s, `SELECT count(*) FROM samples`); n != len(rows) {
		t.Errorf("samples = %d, want %d", n, len(rows))
	}
}
