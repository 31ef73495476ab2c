package store_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// tuanbo returns the rows of the generated second district, which reuses
// the reference district's staff, site, supplier and some area codes.
func tuanbo(t *testing.T) scenario.Rows {
	t.Helper()
	f, err := scenario.ReadFile("../scenario/testdata/districts/tuanbo.yaml")
	if err != nil {
		t.Fatalf("scenario.ReadFile(tuanbo) error = %v", err)
	}
	return f.Rows()
}

// districtCounts counts each scenario table's rows that belong to the
// district, through the area each row hangs on.
func districtCounts(t *testing.T, s *store.Store, district string) map[string]int {
	t.Helper()
	under := `(split_part(a.path, '/', 1) = $1)`
	queries := map[string]string{
		"areas":          `SELECT count(*) FROM areas a WHERE ` + under,
		"gates":          `SELECT count(*) FROM gates g JOIN areas a ON a.id = g.area_id WHERE ` + under,
		"roads":          `SELECT count(*) FROM roads r JOIN areas a ON a.id = r.area_id WHERE ` + under,
		"staff":          `SELECT count(*) FROM staff st JOIN areas a ON a.id = st.area_id WHERE ` + under,
		"sites":          `SELECT count(*) FROM sites si JOIN areas a ON a.id = si.area_id WHERE ` + under,
		"suppliers":      `SELECT count(*) FROM suppliers sp JOIN sites si ON si.id = sp.site_id JOIN areas a ON a.id = si.area_id WHERE ` + under,
		"served":         `SELECT count(*) FROM suppliers sp JOIN areas a ON a.id = sp.area_id WHERE ` + under,
		"supplier_stock": `SELECT count(*) FROM supplier_stock ss JOIN sites si ON si.id = ss.site_id JOIN areas a ON a.id = si.area_id WHERE ` + under,
		"residents":      `SELECT count(*) FROM residents r JOIN areas a ON a.id = r.area_id WHERE ` + under,
		"staff_names":    `SELECT count(DISTINCT st.name) FROM staff st JOIN areas a ON a.id = st.area_id WHERE ` + under,
	}
	out := map[string]int{}
	for k, q := range queries {
		out[k] = count(t, s, q, district)
	}
	return out
}

// TestDistrictsAreNamespaces loads the reference district and a second one
// that reuses its codes, then each again, and checks that neither load
// changes the other district's rows.
func TestDistrictsAreNamespaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ref, tb := reference(t), tuanbo(t)
	s := loaded(t, ref)

	before := districtCounts(t, s, "xiaodian")
	if before["staff"] != len(ref.Staff) || before["sites"] != len(ref.Sites) {
		t.Fatalf("reference district holds %v, want %d staff and %d sites", before, len(ref.Staff), len(ref.Sites))
	}
	res, err := s.LoadScenario(ctx, tb)
	if err != nil {
		t.Fatalf("LoadScenario(tuanbo) error = %v", err)
	}
	for table, n := range res.Updated {
		if n != 0 {
			t.Errorf("LoadScenario(tuanbo).Updated[%s] = %d, want 0: a new district updates nothing", table, n)
		}
	}
	if got := districtCounts(t, s, "xiaodian"); !maps.Equal(got, before) {
		t.Errorf("reference district after loading tuanbo = %v, want %v", got, before)
	}
	tbCounts := districtCounts(t, s, "tuanbo")
	for table, n := range map[string]int{"areas": len(tb.Areas), "staff": len(tb.Staff), "sites": len(tb.Sites), "gates": len(tb.Gates), "suppliers": 10, "served": 10} {
		if tbCounts[table] != n {
			t.Errorf("tuanbo %s = %d, want %d (all %v)", table, tbCounts[table], n, tbCounts)
		}
	}

	// Loading either again changes nothing anywhere.
	for _, r := range []scenario.Rows{ref, tb} {
		res, err := s.LoadScenario(ctx, r)
		if err != nil {
			t.Fatalf("LoadScenario(%s) again error = %v", r.Scenario, err)
		}
		if res.Changed() {
			t.Errorf("LoadScenario(%s) again = %+v, want no change", r.Scenario, res)
		}
	}
	if got := districtCounts(t, s, "xiaodian"); !maps.Equal(got, before) {
		t.Errorf("reference district after reloading both = %v, want %v", got, before)
	}
	if got := districtCounts(t, s, "tuanbo"); !maps.Equal(got, tbCounts) {
		t.Errorf("tuanbo after reloading both = %v, want %v", got, tbCounts)
	}
	// The reused codes name one row in each district.
	for _, q := range []string{
		`SELECT count(*) FROM staff WHERE code = 'longbao-grid-01'`,
		`SELECT count(*) FROM sites WHERE code = 'supermarket-01'`,
		`SELECT count(*) FROM sites WHERE code = 'longbao-sampling-01'`,
		`SELECT count(*) FROM areas WHERE code = 'longbao'`,
	} {
		if n := count(t, s, q); n != 2 {
			t.Errorf("%s = %d, want 2", q, n)
		}
	}
}

// TestResidentCodesStayInTheirDistrict checks that a district whose
// generated residents would take another district's resident codes is
// refused, and nothing of it is written.
func TestResidentCodesStayInTheirDistrict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	clash := parse(t, `name: clash
generate_residents: {seed: 1}
areas:
  - code: clash
    name: Clash District
    level: district
    areas:
      - code: heping-yuan
        name: Heping Yuan
        level: compound
        population: 10
        gates: [{code: main, entrance: true}]
`)
	before := districtCounts(t, s, "xiaodian")
	_, err := s.LoadScenario(ctx, clash)
	if !errors.Is(err, domain.ErrConflict) || !strings.Contains(err.Error(), "district xiaodian's") {
		t.Errorf("LoadScenario(clash) error = %v, want a conflict naming district xiaodian", err)
	}
	if got := districtCounts(t, s, "xiaodian"); !maps.Equal(got, before) {
		t.Errorf("reference district after the refused load = %v, want %v", got, before)
	}
	if n := count(t, s, `SELECT count(*) FROM areas WHERE district = 'clash'`); n != 0 {
		t.Errorf("areas of the refused district = %d, want 0", n)
	}
}

// TestDistrictCommodities checks that two districts adding the same
// commodity keep their own name and daily need.
func TestDistrictCommodities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, tuanbo(t))
	other := parse(t, `name: other
commodities:
  - {code: medicine, name: Pharmacy goods, need_kg: 0.05}
areas:
  - code: other
    name: Other District
    level: district
    sites:
      - {code: supermarket, name: Other supermarket, kind: supermarket, count: 2, stock: {medicine: 1}}
`)
	if _, err := s.LoadScenario(ctx, other); err != nil {
		t.Fatalf("LoadScenario(other) error = %v", err)
	}
	for district, want := range map[string]string{"tuanbo": "Medicine 0.01", "other": "Pharmacy goods 0.05"} {
		var got string
		if err := s.DB().GetContext(ctx, &got, `SELECT name || ' ' || need_kg FROM district_commodities WHERE district = $1 AND code = 'medicine'`, district); err != nil {
			t.Fatalf("commodity medicine of %s: %v", district, err)
		}
		if got != want {
			t.Errorf("commodity medicine of %s = %q, want %q", district, got, want)
		}
	}
}

// TestAmbiguousCodes checks that a code two districts use is resolved only
// with a district, and that the error says which districts have it.
func TestAmbiguousCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	if _, err := s.LoadScenario(ctx, tuanbo(t)); err != nil {
		t.Fatalf("LoadScenario(tuanbo) error = %v", err)
	}
	_, err := s.AreaByCode(ctx, "longbao")
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("AreaByCode(longbao) error = %v, want an ambiguous-code error (ErrInvalid)", err)
	}
	for _, want := range []string{"tuanbo", "xiaodian", "--district"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("AreaByCode(longbao) error = %q, want it to name %q", err, want)
		}
	}
	for district, want := range map[string]string{"tuanbo": "tuanbo/beiying/longbao", "xiaodian": "xiaodian/beiying/longbao", "tuanbo/tb-south": "tuanbo/beiying/longbao"} {
		a, err := s.AreaIn(ctx, district, "longbao")
		if err != nil || a.Path != want {
			t.Errorf("AreaIn(%s, longbao) = %q, %v; want %s", district, a.Path, err, want)
		}
	}
	// A code only one district has needs no district; a path never does.
	for _, code := range []string{"tb-haigang", "heping-yuan", "tuanbo/beiying/longbao"} {
		if _, err := s.AreaByCode(ctx, code); err != nil {
			t.Errorf("AreaByCode(%s) error = %v", code, err)
		}
	}
	if _, err := s.AreaIn(ctx, "tuanbo", "heping-yuan"); !errors.Is(err, domain.ErrAreaNotFound) {
		t.Errorf("AreaIn(tuanbo, heping-yuan) error = %v, want not found: it is another district's", err)
	}
	if _, err := s.AreaIn(ctx, "nowhere", "longbao"); !errors.Is(err, domain.ErrAreaNotFound) {
		t.Errorf("AreaIn(nowhere, longbao) error = %v, want not found", err)
	}
	as, err := s.Descendants(ctx, "tuanbo/beiying", "compound")
	if err != nil || len(as) != 2 {
		t.Errorf("Descendants(tuanbo/beiying, compound) = %d areas, %v; want 2", len(as), err)
	}
	known, _, err := s.KnownAreas(ctx, "", []string{"longbao", "tb-haigang"})
	if err != nil || !known["longbao"] || !known["tb-haigang"] {
		t.Errorf("KnownAreas() = %v, %v; want both known", known, err)
	}
}
