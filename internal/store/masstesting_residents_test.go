package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

func TestLoadResidents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, parse(t, `name: t
areas:
  - code: c
    name: C
    level: community
    areas:
      - {code: k1, name: K1, level: compound, population: 2, gates: [{code: main, entrance: true}]}
      - {code: k2, name: K2, level: compound, population: 1, gates: [{code: main, entrance: true}]}
`))
	rows := []store.ResidentRow{
		{Code: "r-1", AreaCode: "k1", Building: "1", Name: "A (fake)", IDNumber: "FAKE1", Phone: "000-1"},
		{Code: "r-2", AreaCode: "k1", Building: "2", Cohort: "resident", HomeVisit: true, Name: "B (fake)"},
		{Code: "r-3", AreaCode: "c", Cohort: "student"},
	}
	res, err := s.LoadResidents(ctx, "t", rows)
	if err != nil {
		t.Fatalf("LoadResidents() error = %v", err)
	}
	if got, want := res.Inserted, map[string]int{"residents": 3, "resident_contacts": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("LoadResidents().Inserted = %v, want %v", got, want)
	}
	if n := count(t, s, `SELECT count(*) FROM residents WHERE cohort = 'resident' AND scenario = 't'`); n != 2 {
		t.Errorf("residents with the default cohort = %d, want 2", n)
	}

	again, err := s.LoadResidents(ctx, "t", rows)
	if err != nil || again.Changed() {
		t.Errorf("LoadResidents() again = %+v, %v, want nothing changed", again, err)
	}

	rows[1].HomeVisit = false
	rows[2].Phone = "000-3"
	changed, err := s.LoadResidents(ctx, "t", rows)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Updated["residents"] != 1 || changed.Inserted["resident_contacts"] != 1 || changed.Inserted["residents"] != 0 {
		t.Errorf("LoadResidents(changed) = %+v, want 1 resident updated and 1 contact added", changed)
	}

	for _, tt := range []struct {
		name string
		rows []store.ResidentRow
		want error
		msg  string
	}{
		{"unknown area", []store.ResidentRow{{Code: "r-9", AreaCode: "k1"}, {Code: "r-10", AreaCode: "nowhere"}}, domain.ErrNotFound, `resident r-10: unknown area "nowhere"`},
		{"listed twice", []store.ResidentRow{{Code: "r-9", AreaCode: "k1"}, {Code: "r-9", AreaCode: "k2"}}, domain.ErrInvalid, "r-9 is listed twice"},
		{"no area", []store.ResidentRow{{Code: "r-9"}}, domain.ErrInvalid, "area is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.LoadResidents(ctx, "t", tt.rows)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("LoadResidents(%s) = %v, want %v mentioning %q", tt.name, err, tt.want, tt.msg)
			}
			if n := count(t, s, `SELECT count(*) FROM residents`); n != 3 {
				t.Errorf("residents after a refused load = %d, want 3 (nothing written)", n)
			}
		})
	}
}

// TestResidentsOfScenario checks that the reference scenario loads its
// generated residents and their fake contacts.
func TestResidentsOfScenario(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	f, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.LoadScenario(context.Background(), f.Rows())
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted["residents"] != 38594 || res.Inserted["resident_contacts"] != 38594 {
		t.Errorf("LoadScenario(reference) inserted %d residents, %d contacts, want 38,594 each", res.Inserted["residents"], res.Inserted["resident_contacts"])
	}
	if n := count(t, s, `SELECT count(*) FROM residents r JOIN areas a ON a.id = r.area_id WHERE a.code = 'shanxi-university' AND r.cohort = 'student'`); n != 19630 {
		t.Errorf("students at Shanxi University = %d, want 19,630", n)
	}
}
