package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
)

func TestRoundProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	assigned := assignedPoints(t, s, plan.RoundID)

	p, err := s.RoundProgress(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sampled != 0 || p.Expected != 7013 || len(p.Points) != 4 || !p.FirstAt.IsZero() {
		t.Errorf("RoundProgress() before any sample = %+v, want 0 of 7,013 at 4 points", p)
	}

	jiayuan := residentCodes(t, s, "longbao-jiayuan", false, 100)
	heping := residentCodes(t, s, "heping-yuan", false, 50)
	rows := append(sampleRows(jiayuan, assigned["longbao-jiayuan"], "JY"), sampleRows(heping, assigned["heping-yuan"], "HP")...)
	for i := range rows {
		rows[i].Line = i + 2
		rows[i].TakenAt = opens.Add(time.Duration(i) * time.Minute)
	}
	rows[3].Result, rows[4].Result = "positive", "negative"
	if res := ingest(t, s, "xd-0403", rows); res.Accepted != 150 {
		t.Fatalf("IngestSamples() = %+v, want 150 accepted", res)
	}
	p, err = s.RoundProgress(ctx, plan.RoundID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sampled != 150 || p.Expected != 7013 || p.Positives != 1 {
		t.Errorf("RoundProgress() = %d of %d sampled, %d positives, want 150 of 7013, 1", p.Sampled, p.Expected, p.Positives)
	}
	if !p.FirstAt.Equal(opens) || !p.LastAt.Equal(opens.Add(149*time.Minute)) {
		t.Errorf("RoundProgress() first %s last %s, want %s and %s", p.FirstAt, p.LastAt, opens, opens.Add(149*time.Minute))
	}
	if want := []domain.CohortProgress{{Cohort: "resident", Sampled: 150, Expected: 6943}}; !reflect.DeepEqual(p.Cohorts, want) {
		t.Errorf("RoundProgress().Cohorts = %+v, want %+v", p.Cohorts, want)
	}
	for _, pt := range p.Points {
		want := 0
		if pt.Code == assigned["longbao-jiayuan"] {
			want += 100
		}
		if pt.Code == assigned["heping-yuan"] {
			want += 50
		}
		if pt.Sampled != want {
			t.Errorf("RoundProgress() point %s sampled %d, want %d", pt.Code, pt.Sampled, want)
		}
		if want > 0 && (pt.FirstAt.IsZero() || pt.LastAt.Before(pt.FirstAt)) {
			t.Errorf("RoundProgress() point %s first %s last %s, want both set", pt.Code, pt.FirstAt, pt.LastAt)
		}
	}
}
