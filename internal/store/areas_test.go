package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// rowCounts is how many rows each scenario table should hold.
func rowCounts(r scenario.Rows) map[string]int {
	return map[string]int{
		"areas": len(r.Areas),
		"gates": len(r.Gates),
		"roads": len(r.Roads),
		"sites": len(r.Sites),
		"staff": len(r.Staff),
		// Generated from the populations: compounds and tested campuses.
		"residents": len(r.Registry),
	}
}

func tableCounts(t *testing.T, s *store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table := range rowCounts(scenario.Rows{}) {
		out[table] = count(t, s, `SELECT count(*) FROM `+table)
	}
	return out
}

func TestLoadScenario(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := reference(t)
	want := rowCounts(r)
	// The reference figures, as a check that Rows itself is what we think.
	for table, n := range map[string]int{"areas": 44, "staff": 475, "sites": 119, "residents": 38594} {
		if want[table] != n {
			t.Fatalf("reference Rows() has %d %s, want %d", want[table], table, n)
		}
	}
	s := pgtest.New(t)

	res, err := s.LoadScenario(ctx, r)
	if err != nil {
		t.Fatalf("LoadScenario() error = %v", err)
	}
	for table, n := range want {
		if res.Inserted[table] != n {
			t.Errorf("LoadScenario().Inserted[%s] = %d, want %d", table, res.Inserted[table], n)
		}
		if res.Updated[table] != 0 {
			t.Errorf("LoadScenario().Updated[%s] = %d, want 0", table, res.Updated[table])
		}
	}
	if got := tableCounts(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("rows after LoadScenario() = %v, want %v", got, want)
	}
	tops := 0
	for _, a := range r.Areas {
		if a.ParentCode == "" {
			tops++
		}
	}
	if n := count(t, s, `SELECT count(*) FROM areas WHERE parent_id IS NULL`); n != tops {
		t.Errorf("areas without a parent = %d, want %d", n, tops)
	}
	if n := count(t, s, `SELECT count(*) FROM areas c JOIN areas p ON p.id = c.parent_id WHERE c.path <> p.path || '/' || c.code`); n != 0 {
		t.Errorf("areas whose path is not their parent's path and code = %d, want 0", n)
	}
	if n := count(t, s, `SELECT count(*) FROM areas WHERE scenario <> $1`, r.Scenario); n != 0 {
		t.Errorf("areas not tagged with scenario %s = %d, want 0", r.Scenario, n)
	}

	t.Run("again", func(t *testing.T) {
		res, err := s.LoadScenario(ctx, r)
		if err != nil {
			t.Fatalf("LoadScenario() again error = %v", err)
		}
		if res.Changed() {
			t.Errorf("LoadScenario() again = %+v, Changed() true, want nothing changed", res)
		}
		if got := tableCounts(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("rows after loading again = %v, want %v", got, want)
		}
	})

	t.Run("changed", func(t *testing.T) {
		before := areaStamps(t, s)
		ids := func() (int64, int64) {
			var area, gate int64
			if err := s.DB().GetContext(ctx, &area, `SELECT id FROM areas WHERE code = 'longbao-jiayuan'`); err != nil {
				t.Fatal(err)
			}
			if err := s.DB().GetContext(ctx, &gate, `SELECT g.id FROM gates g JOIN areas a ON a.id = g.area_id WHERE a.code = 'longbao-jiayuan' AND g.code = 'east'`); err != nil {
				t.Fatal(err)
			}
			return area, gate
		}
		areaID, gateID := ids()

		edited := reference(t)
		for i, a := range edited.Areas {
			if a.Code == "longbao-jiayuan" {
				edited.Areas[i].Population = a.Population + 14
			}
		}
		for i, g := range edited.Gates {
			if g.AreaCode == "longbao-jiayuan" && g.Code == "east" {
				edited.Gates[i].Name = "East gate (Jinyang Road)"
			}
		}
		res, err := s.LoadScenario(ctx, edited)
		if err != nil {
			t.Fatalf("LoadScenario(edited) error = %v", err)
		}
		wantUpdated := map[string]int{"areas": 1, "gates": 1}
		for table := range want {
			if res.Inserted[table] != 0 {
				t.Errorf("LoadScenario(edited).Inserted[%s] = %d, want 0", table, res.Inserted[table])
			}
			if res.Updated[table] != wantUpdated[table] {
				t.Errorf("LoadScenario(edited).Updated[%s] = %d, want %d", table, res.Updated[table], wantUpdated[table])
			}
		}
		if got := tableCounts(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("rows after loading an edited file = %v, want %v", got, want)
		}
		if a, g := ids(); a != areaID || g != gateID {
			t.Errorf("IDs of the edited area and gate = %d, %d, want %d, %d (updated in place)", a, g, areaID, gateID)
		}
		a, err := s.AreaByCode(ctx, "longbao-jiayuan")
		if err != nil {
			t.Fatal(err)
		}
		if a.Population != 1486+14 {
			t.Errorf("AreaByCode(longbao-jiayuan).Population = %d, want %d", a.Population, 1486+14)
		}
		var name string
		if err := s.DB().GetContext(ctx, &name, `SELECT name FROM gates WHERE id = $1`, gateID); err != nil {
			t.Fatal(err)
		}
		if name != "East gate (Jinyang Road)" {
			t.Errorf("name of the renamed gate = %q, want %q", name, "East gate (Jinyang Road)")
		}
		after := areaStamps(t, s)
		for code, at := range after {
			if touched := !at.Equal(before[code]); touched != (code == "longbao-jiayuan") {
				t.Errorf("area %s updated_at changed = %v, want %v", code, touched, code == "longbao-jiayuan")
			}
		}
	})
}

func areaStamps(t *testing.T, s *store.Store) map[string]time.Time {
	t.Helper()
	var rows []struct {
		Code string    `db:"code"`
		At   time.Time `db:"updated_at"`
	}
	if err := s.DB().SelectContext(context.Background(), &rows, `SELECT code, updated_at FROM areas`); err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, r := range rows {
		out[r.Code] = r.At
	}
	return out
}

func TestAreaByCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	beiying, err := s.AreaByCode(ctx, "beiying")
	if err != nil {
		t.Fatalf("AreaByCode(beiying) error = %v", err)
	}
	tests := []struct {
		key      string
		wantCode string
		wantPath string
		wantErr  error
	}{
		{"longbao", "longbao", "xiaodian/beiying/longbao", nil},
		{"xiaodian/beiying/longbao", "longbao", "xiaodian/beiying/longbao", nil},
		{"xiaodian", "xiaodian", "xiaodian", nil},
		{"longbao-jiayuan", "longbao-jiayuan", "xiaodian/beiying/longbao/longbao-jiayuan", nil},
		{"nowhere", "", "", domain.ErrNotFound},
		{"xiaodian/nowhere", "", "", domain.ErrNotFound},
		{"", "", "", domain.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			a, err := s.AreaByCode(ctx, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("AreaByCode(%q) error = %v, want %v", tt.key, err, tt.wantErr)
			}
			if a.Code != tt.wantCode || a.Path != tt.wantPath {
				t.Errorf("AreaByCode(%q) = %s at %s, want %s at %s", tt.key, a.Code, a.Path, tt.wantCode, tt.wantPath)
			}
		})
	}
	longbao, err := s.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	if longbao.Level != "community" || !longbao.ParentID.Valid || longbao.ParentID.Int64 != beiying.ID {
		t.Errorf("AreaByCode(longbao) = level %s, parent %v, want community, parent %d", longbao.Level, longbao.ParentID, beiying.ID)
	}
	if want := []string{"community office", "square"}; !reflect.DeepEqual([]string(longbao.PublicAreas), want) {
		t.Errorf("AreaByCode(longbao).PublicAreas = %q, want %q", longbao.PublicAreas, want)
	}
}

func TestDescendants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := reference(t)
	s := loaded(t, r)
	under := func(root string, level scenario.Level) []string {
		var rootPath string
		for _, a := range r.Areas {
			if a.Code == root {
				rootPath = a.Path
			}
		}
		var out []string
		for _, a := range r.Areas {
			if a.Level == level && (a.Path == rootPath || len(a.Path) > len(rootPath) && a.Path[:len(rootPath)+1] == rootPath+"/") {
				out = append(out, a.Path)
			}
		}
		return out
	}
	tests := []struct {
		root  string
		level scenario.Level
		want  int
	}{
		{"longbao", scenario.LevelCompound, 6},
		{"xiaodian/beiying/longbao", scenario.LevelCompound, 6},
		{"xiaodian", scenario.LevelCompound, len(under("xiaodian", scenario.LevelCompound))},
		{"xiaodian", scenario.LevelSubDistrict, 12},
		{"beiying", scenario.LevelCommunity, len(under("beiying", scenario.LevelCommunity))},
		{"longbao-jiayuan", scenario.LevelCompound, 1},
		{"longbao", scenario.LevelDistrict, 0},
	}
	for _, tt := range tests {
		t.Run(tt.root+"/"+string(tt.level), func(t *testing.T) {
			got, err := s.Descendants(ctx, tt.root, string(tt.level))
			if err != nil {
				t.Fatalf("Descendants(%s, %s) error = %v", tt.root, tt.level, err)
			}
			var paths []string
			for _, a := range got {
				paths = append(paths, a.Path)
			}
			if len(paths) != tt.want {
				t.Fatalf("Descendants(%s, %s) = %d areas %v, want %d", tt.root, tt.level, len(paths), paths, tt.want)
			}
			// Longbao's compounds differ in their first letter, so any
			// collation orders them as Go does.
			if tt.want == 6 && !slices.IsSorted(paths) {
				t.Errorf("Descendants(%s, %s) = %v, want ordered by path", tt.root, tt.level, paths)
			}
			code := tt.root
			if a, err := s.AreaByCode(ctx, tt.root); err == nil {
				code = a.Code
			}
			// The database orders by its collation; compare as sets.
			if want := slices.Sorted(slices.Values(under(code, tt.level))); len(want) > 0 {
				if got := slices.Sorted(slices.Values(paths)); !reflect.DeepEqual(got, want) {
					t.Errorf("Descendants(%s, %s) = %v, want %v", tt.root, tt.level, got, want)
				}
			}
		})
	}
	if _, err := s.Descendants(ctx, "nowhere", "compound"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Descendants(nowhere) error = %v, want ErrNotFound", err)
	}
}
