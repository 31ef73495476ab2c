package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/musterhq/muster/internal/domain"
)

// TestQueriesForTools: the counts and lookups the CLI, the API and the
// fault battery use instead of querying the database themselves.
func TestQueriesForTools(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))

	if top, err := s.TopAreas(ctx); err != nil || !slices.Equal(top, []string{"xiaodian"}) {
		t.Errorf("TopAreas() = %v, %v, want [xiaodian]", top, err)
	}
	for _, c := range []struct {
		kind string
		want []string
	}{
		{"sampling-point", []string{"longbao-sampling-01"}},
		{"", []string{"longbao", "longbao-sampling-01"}},
	} {
		got, err := s.KnownPlaces(ctx, "", []string{"longbao", "longbao-sampling-01", "atlantis"}, c.kind)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("KnownPlaces(%q) = %v, %v, want %v", c.kind, got, err, c.want)
		}
	}
	breaches, err := s.Breaches(ctx, "none-0001")
	if err != nil || len(breaches) == 0 {
		t.Fatalf("Breaches() = %v, %v, want every rule counted", breaches, err)
	}
	for _, b := range breaches {
		if b.Count != 0 {
			t.Errorf("Breaches() %s = %d, want 0 without records", b.Rule, b.Count)
		}
	}
	if rec, err := s.SealRecords(ctx, "none-0001", 0); err != nil || rec.Checkpoints != 0 || rec.Notices != 0 {
		t.Errorf("SealRecords(incident, 0) = %+v, %v, want nothing", rec, err)
	}
	if tot, err := s.SupplyTotals(ctx, "none-0001"); err != nil || tot.Assigned != 0 {
		t.Errorf("SupplyTotals() = %+v, %v, want nothing", tot, err)
	}
	if n, err := s.SampledTubes(ctx, []string{"T-1"}); err != nil || n != 0 {
		t.Errorf("SampledTubes() = %d, %v, want 0", n, err)
	}
	if rows, err := s.RoundFigures(ctx, "none-0001"); err != nil || len(rows) != 0 {
		t.Errorf("RoundFigures() = %v, %v, want none", rows, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	// A NUL byte is refused by the database as a data exception, which the
	// store returns as bad input.
	if _, err := s.KnownPlaces(ctx, "", []string{"a\x00b"}, ""); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("KnownPlaces(NUL byte) error = %v, want ErrInvalid", err)
	}
}
