package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

func TestOpenRound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)

	plan := openRound(t, s, "xd-0403", "longbao", 1)
	if len(plan.Points) != 4 || plan.Expected != 7013 || plan.HomeVisits != 70 {
		t.Fatalf("OpenRound(longbao) = %d points, %d expected, %d home visits, want 4, 7013, 70", len(plan.Points), plan.Expected, plan.HomeVisits)
	}
	if want := []domain.CohortCount{{Cohort: "resident", Count: 6943}}; !reflect.DeepEqual(plan.Cohorts, want) {
		t.Errorf("OpenRound(longbao).Cohorts = %v, want %v", plan.Cohorts, want)
	}
	if n := sumPoints(plan.Points); n != 6943 {
		t.Errorf("OpenRound(longbao) points expect %d in all, want the 6,943 who come to points", n)
	}
	// The six compounds' point-comers (1,471, 1,289, 1,203, 1,127, 986,
	// 867) kept whole would leave one point 2,113 residents (8.5 hours at
	// 250 an hour, after the 7-hour deadline): the plan splits the two
	// largest by building, and every point finishes in about 7 hours.
	var got []int
	for _, p := range plan.Points {
		got = append(got, p.Expected)
		if p.CapacityPerHour != 250 || !strings.HasPrefix(p.Code, "longbao-sampling-") {
			t.Errorf("OpenRound(longbao) point %+v, want a Longbao point at 250 an hour", p)
		}
	}
	slices.Sort(got)
	if want := []int{1700, 1741, 1750, 1752}; !reflect.DeepEqual(got, want) {
		t.Errorf("OpenRound(longbao) points expect %v, want %v", got, want)
	}
	assigned, split := assignments(t, s, plan.RoundID)
	compounds := 0
	for unit := range assigned {
		if !strings.Contains(unit, "/") {
			compounds++
		}
	}
	if compounds != 6 || len(split) != 2 || len(split["longbao-jiayuan"]) != 12 {
		t.Errorf("compounds assigned = %v, split %v; want Longbao's 6, Longbao Jiayuan and one more split by building", assigned, split)
	}

	t.Run("again", func(t *testing.T) {
		before := count(t, s, `SELECT count(*) FROM round_assignments`)
		events := count(t, s, `SELECT count(*) FROM step_events`)
		again := openRound(t, s, "xd-0403", "longbao", 1)
		if !reflect.DeepEqual(again, plan) {
			t.Errorf("OpenRound() again = %+v, want %+v", again, plan)
		}
		if n := count(t, s, `SELECT count(*) FROM round_assignments`); n != before {
			t.Errorf("assignments after opening again = %d, want %d", n, before)
		}
		if n := count(t, s, `SELECT count(*) FROM step_events`); n != events {
			t.Errorf("events after opening again = %d, want %d", n, events)
		}
		if n := count(t, s, `SELECT count(*) FROM testing_rounds`); n != 1 {
			t.Errorf("rounds = %d, want 1", n)
		}
	})

	t.Run("deterministic", func(t *testing.T) {
		other := testingStore(t)
		p := openRound(t, other, "xd-0403", "longbao", 1)
		if a, b := assignedPoints(t, other, p.RoundID), assigned; !reflect.DeepEqual(a, b) {
			t.Errorf("assignments in another database = %v, want %v", a, b)
		}
	})

	t.Run("one compound uses its community's points", func(t *testing.T) {
		p := openRound(t, s, "xd-0403", "longbao-jiayuan", 1)
		if len(p.Points) != 4 || p.Expected != 1486 || sumPoints(p.Points) != 1471 {
			t.Errorf("OpenRound(longbao-jiayuan) = %d points, %d expected (%d at points), want 4, 1486, 1471", len(p.Points), p.Expected, sumPoints(p.Points))
		}
	})

	t.Run("campus: students and teachers by building", func(t *testing.T) {
		p := openRound(t, s, "sxu-0403", "shanxi-university", 1)
		want := []domain.CohortCount{{Cohort: "student", Count: 19630}, {Cohort: "teacher", Count: 2181}}
		if !reflect.DeepEqual(p.Cohorts, want) || p.HomeVisits != 0 || p.Expected != 21811 {
			t.Errorf("OpenRound(shanxi-university) cohorts %v, %d home visits, %d expected; want %v, 0, 21811", p.Cohorts, p.HomeVisits, p.Expected, want)
		}
		if len(p.Points) != 10 {
			t.Fatalf("OpenRound(shanxi-university) = %d points, want 10", len(p.Points))
		}
		lo, hi := p.Points[0].Expected, p.Points[0].Expected
		for _, pt := range p.Points {
			lo, hi = min(lo, pt.Expected), max(hi, pt.Expected)
		}
		// 44 buildings of up to 500 people over 10 points.
		if hi-lo > 500 {
			t.Errorf("OpenRound(shanxi-university) points expect %d to %d, want them within one building (500)", lo, hi)
		}
		if assigned, split := assignments(t, s, p.RoundID); len(assigned) != 44 || len(split) != 0 {
			t.Errorf("campus buildings assigned = %d, want 44", len(assigned))
		}
	})

	t.Run("bad calls", func(t *testing.T) {
		longbao := areaID(t, s, "longbao")
		for _, tt := range []struct {
			name string
			call func() error
			want error
		}{
			{"no incident", func() error {
				_, err := s.OpenRound(ctx, " ", longbao, 1, opens, deadline, roundEvent("x", "x"))
				return err
			}, domain.ErrInvalid},
			{"round 0", func() error {
				_, err := s.OpenRound(ctx, "x", longbao, 0, opens, deadline, roundEvent("x", "x"))
				return err
			}, domain.ErrInvalid},
			{"deadline before opening", func() error {
				_, err := s.OpenRound(ctx, "x", longbao, 1, deadline, opens, roundEvent("x", "x"))
				return err
			}, domain.ErrInvalid},
			{"unknown area", func() error {
				_, err := s.OpenRound(ctx, "x", 999999, 1, opens, deadline, roundEvent("x", "x"))
				return err
			}, domain.ErrNotFound},
			{"no sampling point", func() error {
				_, err := s.OpenRound(ctx, "x", areaID(t, s, "nanpingtou"), 1, opens, deadline, roundEvent("x", "x"))
				return err
			}, domain.ErrNotFound},
		} {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("OpenRound(%s) = %v, want %v", tt.name, err, tt.want)
			}
		}
		if n := count(t, s, `SELECT count(*) FROM testing_rounds WHERE incident = 'x'`); n != 0 {
			t.Errorf("rounds after refused opens = %d, want 0", n)
		}
	})
}

func TestRoundLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	openRound(t, s, "xd-0403", "zhongfuyuan", 1)
	openRound(t, s, "other", "longbao", 1)

	r, err := s.RoundByKey(ctx, "xd-0403", "longbao", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := store.RoundInfo{ID: plan.RoundID, Incident: "xd-0403", AreaID: areaID(t, s, "longbao"), AreaCode: "longbao", Round: 1}
	if r.ID != want.ID || r.Incident != want.Incident || r.AreaID != want.AreaID || r.AreaCode != want.AreaCode || r.Round != 1 ||
		!r.OpensAt.Equal(opens) || !r.Deadline.Equal(deadline) || !r.Open() {
		t.Errorf("RoundByKey() = %+v, want %+v, opening %s, deadline %s, open", r, want, opens, deadline)
	}
	if _, err := s.RoundByKey(ctx, "xd-0403", "longbao", 2); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RoundByKey(round 2) = %v, want ErrNotFound", err)
	}
	open, err := s.OpenRoundsFor(ctx, "xd-0403")
	if err != nil || len(open) != 2 {
		t.Fatalf("OpenRoundsFor() = %v, %v, want 2 rounds", open, err)
	}
	if _, err := s.CloseRound(ctx, plan.RoundID, roundEvent("xd-0403", "close")); err != nil {
		t.Fatal(err)
	}
	open, _ = s.OpenRoundsFor(ctx, "xd-0403")
	if len(open) != 1 || open[0].AreaCode != "zhongfuyuan" {
		t.Errorf("OpenRoundsFor() after closing Longbao = %+v, want Zhongfuyuan's round only", open)
	}
	if r, _ := s.RoundByID(ctx, plan.RoundID); r.Open() || r.ClosedAt.IsZero() {
		t.Errorf("RoundByID() after closing = %+v, want it closed", r)
	}
}
