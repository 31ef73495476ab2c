package scenario

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReferenceResidents checks the generated registry of the reference
// scenario against its populations: every compound and tested campus gets
// exactly its people, Longbao's 7,013 residents about 1% home visits, the
// 25-company compound its listed elderly, pregnant and disabled residents,
// and the university its students and teachers.
func TestReferenceResidents(t *testing.T) {
	f, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	r := f.Rows()

	type tally struct{ people, home int }
	byArea := map[string]*tally{}
	cohorts := map[string]int{}
	codes := map[string]bool{}
	for _, p := range r.Registry {
		if codes[p.Code] {
			t.Errorf("Rows().Registry code %s appears twice", p.Code)
		}
		codes[p.Code] = true
		if byArea[p.AreaCode] == nil {
			byArea[p.AreaCode] = &tally{}
		}
		byArea[p.AreaCode].people++
		if p.HomeVisit {
			byArea[p.AreaCode].home++
		}
		cohorts[p.Cohort]++
		if !strings.HasSuffix(p.Name, "(fake)") || !strings.HasPrefix(p.IDNumber, "FAKE") || !strings.HasPrefix(p.Phone, "000-") {
			t.Fatalf("Rows().Registry %s personal details = %q, %q, %q, want plainly fake ones", p.Code, p.Name, p.IDNumber, p.Phone)
		}
	}

	compounds, campus := 0, 0
	for _, a := range r.Areas {
		if a.Level != LevelCompound {
			continue
		}
		compounds += a.Population
		got := byArea[a.Code]
		if got == nil || got.people != a.Population {
			t.Errorf("Rows().Registry residents of %s = %v, want %d", a.Code, got, a.Population)
		}
	}
	for _, s := range r.Sites {
		if s.Kind == "campus" {
			campus += s.Population
		}
	}
	if len(r.Registry) != compounds+campus {
		t.Errorf("len(Rows().Registry) = %d, want %d compound residents + %d campus people", len(r.Registry), compounds, campus)
	}

	longbao := tally{}
	for _, a := range r.Areas {
		if a.ParentCode == "longbao" {
			longbao.people += byArea[a.Code].people
			longbao.home += byArea[a.Code].home
		}
	}
	tests := []struct {
		name      string
		got, want int
	}{
		{"Longbao residents", longbao.people, 7013},
		// round(population × 1%) per compound: 15 + 13 + 12 + 11 + 10 + 9.
		{"Longbao home visits", longbao.home, 70},
		{"25-company residents", byArea["company-25"].people, 2680},
		{"25-company home visits (3%)", byArea["company-25"].home, 80},
		{"Shanxi University people", byArea["shanxi-university"].people, 21811},
		{"Shanxi University home visits", byArea["shanxi-university"].home, 0},
		// 90% students by largest remainder per campus: 11,221 + 8,409.
		{"students", cohorts["student"], 19630},
		{"teachers", cohorts["teacher"], 2181},
		{"residents", cohorts["resident"], compounds},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("Rows().Registry %s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}

	// Codes say where a person lives; buildings stay within the compound's.
	first := r.Registry[0]
	if first.Code != "r-longbao-jiayuan-1" || first.AreaCode != "longbao-jiayuan" || first.Building != "b01" {
		t.Errorf("Rows().Registry[0] = %s in %s building %s, want r-longbao-jiayuan-1 in longbao-jiayuan building b01", first.Code, first.AreaCode, first.Building)
	}
	buildings := map[string]map[string]bool{}
	for _, p := range r.Registry {
		if buildings[p.AreaCode] == nil {
			buildings[p.AreaCode] = map[string]bool{}
		}
		buildings[p.AreaCode][p.Building] = true
	}
	if n := len(buildings["longbao-jiayuan"]); n != 12 {
		t.Errorf("buildings of longbao-jiayuan = %d, want 12", n)
	}
	// 12,468 and 9,343 campus people in blocks of 500: 25 + 19 buildings.
	if n := len(buildings["shanxi-university"]); n != 44 {
		t.Errorf("buildings of shanxi-university = %d, want 44", n)
	}
	// Students come first on each campus.
	var dongshan []string
	for _, p := range r.Registry {
		if strings.HasPrefix(p.Code, "r-sxu-dongshan-") {
			dongshan = append(dongshan, p.Cohort)
		}
	}
	if len(dongshan) != 12468 || dongshan[0] != "student" || dongshan[11220] != "student" || dongshan[11221] != "teacher" {
		t.Errorf("Dongshan campus cohorts: %d people, first %q, 11,221st %q, 11,222nd %q; want students 1-11,221 then teachers",
			len(dongshan), dongshan[0], dongshan[11220], dongshan[11221])
	}
}

// TestGeneratedResidentsReproducible checks that the seed alone decides the
// rows: the same seed gives the same rows, another seed other home visits
// and names but the same codes, buildings and cohorts.
func TestGeneratedResidentsReproducible(t *testing.T) {
	src := lines(
		"name: t",
		"generate_residents:",
		"  seed: %d",
		"  home_visit_share: 0.05",
		"areas:",
		"  - code: c",
		"    name: C",
		"    level: community",
		"    sites:",
		"      - {code: campus, kind: campus, population: 301}",
		"    areas:",
		"      - code: k",
		"        name: K",
		"        level: compound",
		"        population: 997",
		"        buildings: 7",
		"        gates: [{code: main, entrance: true}]",
	)
	rows := func(seed int) []ResidentRow {
		f, err := Parse("t.yaml", []byte(fmt.Sprintf(src, seed)))
		if err != nil {
			t.Fatal(err)
		}
		return f.Rows().Registry
	}
	a, b, c := rows(42), rows(42), rows(43)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Rows().Registry with seed 42 differs between two calls, want the same rows")
	}
	if len(a) != 997+301 {
		t.Fatalf("len(Rows().Registry) = %d, want %d", len(a), 997+301)
	}
	home, sameHome, sameName := 0, true, true
	for i := range a {
		if a[i].Code != c[i].Code || a[i].Building != c[i].Building || a[i].Cohort != c[i].Cohort || a[i].AreaCode != c[i].AreaCode {
			t.Fatalf("row %d with seed 43 = %s/%s/%s, want the same code, building and cohort as seed 42 (%s/%s/%s)",
				i, c[i].Code, c[i].Building, c[i].Cohort, a[i].Code, a[i].Building, a[i].Cohort)
		}
		if a[i].HomeVisit {
			home++
		}
		sameHome = sameHome && a[i].HomeVisit == c[i].HomeVisit
		sameName = sameName && a[i].Name == c[i].Name
	}
	if home != 50 { // round(997 × 5%); campus people are not visited
		t.Errorf("home visits = %d, want 50", home)
	}
	if sameHome || sameName {
		t.Errorf("seed 43 gives the same home visits (%v) or names (%v) as seed 42, want others", sameHome, sameName)
	}
	// 301 campus people: 270.9 and 30.1 → 271 students, 30 teachers.
	n := map[string]int{}
	for _, r := range a {
		n[r.Cohort]++
	}
	if n["student"] != 271 || n["teacher"] != 30 || n["resident"] != 997 {
		t.Errorf("cohorts = %v, want 997 residents, 271 students, 30 teachers", n)
	}
}

// TestResidentRowHidesPersonalData checks that printing or logging a
// resident shows the code, never the name, ID number or phone.
func TestResidentRowHidesPersonalData(t *testing.T) {
	r := ResidentRow{Code: "r-k-1", AreaCode: "k", Cohort: "resident", Name: "Wang Fang (fake)", IDNumber: "FAKE123", Phone: "000-1234-5678"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "resident", r)
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r), fmt.Sprintf("%v", []ResidentRow{r}), buf.String()} {
		if !strings.Contains(s, "r-k-1") {
			t.Errorf("printed resident %q does not show the code", s)
		}
		for _, secret := range []string{r.Name, r.IDNumber, r.Phone} {
			if strings.Contains(s, secret) {
				t.Errorf("printed resident %q shows %q", s, secret)
			}
		}
	}
}

// writeScenario writes a scenario and its files into a temporary folder and
// returns the scenario's path.
func writeScenario(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "s.yaml")
}

const residentsScenario = `name: t
residents: residents.csv
areas:
  - code: c
    name: C
    level: community
    areas:
      - code: k
        name: K
        level: compound
        population: 3
        gates: [{code: main, entrance: true}]
`

func TestResidentsFile(t *testing.T) {
	path := writeScenario(t, map[string]string{
		"s.yaml": residentsScenario,
		"residents.csv": "\ufeffcode,area,building,cohort,home_visit,name,id_number,phone\n" +
			"r-1,k,3,,false,A B,ID1,P1\n" +
			"r-2,k,3,resident,yes,C D,ID2,P2\n" +
			"r-3,c,,student,,,,\n",
	})
	f, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile() error = %v", err)
	}
	got := f.Rows().Registry
	want := []ResidentRow{
		{Code: "r-1", AreaCode: "k", Building: "3", Cohort: "resident", Name: "A B", IDNumber: "ID1", Phone: "P1"},
		{Code: "r-2", AreaCode: "k", Building: "3", Cohort: "resident", HomeVisit: true, Name: "C D", IDNumber: "ID2", Phone: "P2"},
		{Code: "r-3", AreaCode: "c", Cohort: "student"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rows().Registry = %+v, want %+v", got, want)
	}
}

func TestResidentsFileErrors(t *testing.T) {
	tests := []struct {
		name, csv string
		want      []wantErr
	}{
		{"empty", "", []wantErr{{0, "", "the residents file is empty"}}},
		{"no area column", "code,name\nr-1,A\n", []wantErr{{1, "", `no "area" column`}}},
		{"unknown column", "code,area,phone_number\n", []wantErr{{1, "", `unknown column "phone_number"`}}},
		{"wrong field count", "code,area\nr-1,k\nr-2,k,extra\n", []wantErr{{3, "", "wrong number of fields"}}},
		{
			"bad rows",
			"code,area,cohort,home_visit,name\n" +
				"r-1,k,,,Secret Name\n" +
				"r-1,k,,,Secret Name\n" +
				",k,,,\n" +
				"r 4,nowhere,,,\n" +
				"r-5,xiaodian,,,\n" +
				"r-6,k,Students,maybe,\n",
			[]wantErr{
				{3, "code", `resident "r-1" is already listed on line 2`},
				{4, "code", "is required"},
				{5, "code", `"r 4" is not a resident code`},
				{5, "area", `unknown area "nowhere"`},
				{6, "area", `area "xiaodian" is a district`},
				{7, "cohort", `"Students" is not a cohort`},
				{7, "home_visit", `"maybe" is not true or false`},
			},
		},
	}
	scen := strings.Replace(residentsScenario, "areas:\n  - code: c", "areas:\n  - code: xiaodian\n    name: X\n    level: district\n  - code: c", 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeScenario(t, map[string]string{"s.yaml": scen, "residents.csv": tt.csv})
			_, err := ReadFile(path)
			if err == nil {
				t.Fatalf("ReadFile(%s) = no error, want %v", tt.name, tt.want)
			}
			got := scenarioErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("ReadFile(%s) = %d errors:\n%v\nwant %v", tt.name, len(got), err, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) || !strings.HasSuffix(g.Source, "residents.csv") {
					t.Errorf("error %d = %q (line %d, field %q), want line %d, field %q, message containing %q", i, g.Error(), g.Line, g.Field, w.line, w.field, w.msg)
				}
			}
			if strings.Contains(err.Error(), "Secret Name") {
				t.Errorf("ReadFile(%s) error %q shows a resident's name", tt.name, err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := writeScenario(t, map[string]string{"s.yaml": residentsScenario})
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), "residents: cannot read the residents file") {
			t.Errorf("ReadFile(no residents.csv) = %v, want an error naming the residents field", err)
		}
	})
}

func TestGenerateResidentsErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{
			name: "shares not adding up, bad cohort, bad home share",
			src: lines(
				"name: t",
				"generate_residents:",
				"  seed: 1",
				"  home_visit_share: 1.5",
				"  cohorts:",
				"    campus:",
				"      - {cohort: student, share: 0.5}",
				"      - {cohort: Teacher, share: 0.2}",
				"areas:",
				"  - {code: c, name: C, level: community}",
			),
			want: []wantErr{
				{3, "generate_residents.home_visit_share", "must be a share from 0 to 1 (got 1.5)"},
				{8, "generate_residents.cohorts.campus[1].cohort", `"Teacher" is not a cohort`},
				{6, "generate_residents.cohorts.campus", "the shares add up to 0.7, want 1"},
			},
		},
		{
			name: "both a file and generation",
			src: lines(
				"name: t",
				"residents: r.csv",
				"generate_residents: {seed: 1}",
				"areas:",
				"  - {code: c, name: C, level: community}",
			),
			want: []wantErr{{3, "generate_residents", "not both"}},
		},
		{
			name: "home visit share on a community",
			src: lines(
				"name: t",
				"areas:",
				"  - {code: c, name: C, level: community, home_visit_share: 0.1}",
			),
			want: []wantErr{{3, "areas[0].home_visit_share", "only compounds"}},
		},
		{
			name: "unknown field",
			src: lines(
				"name: t",
				"generate_residents: {seed: 1, home_visits: 0.1}",
				"areas:",
				"  - {code: c, name: C, level: community}",
			),
			want: []wantErr{{2, "", `unknown field "home_visits" in generate_residents`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.src))
			got := scenarioErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("Parse(%s) = %d errors:\n%v\nwant %v", tt.name, len(got), err, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("error %d = %q (line %d, field %q), want line %d, field %q, message containing %q", i, g.Error(), g.Line, g.Field, w.line, w.field, w.msg)
				}
			}
		})
	}
}

func TestGenerateCity(t *testing.T) {
	f, err := GenerateCity(100_000, 10, 7)
	if err != nil {
		t.Fatalf("GenerateCity() error = %v", err)
	}
	r := f.Rows()
	compounds, points, population := 0, 0, 0
	for _, a := range r.Areas {
		if a.Level == LevelCompound {
			compounds++
			population += a.Population
		}
	}
	for _, s := range r.Sites {
		if s.Kind == "sampling-point" {
			points++
		}
	}
	if population != 100_000 || len(r.Registry) != 100_000 {
		t.Errorf("GenerateCity(100000) population %d, %d residents, want 100,000 each", population, len(r.Registry))
	}
	if compounds != 100 || points != 40 {
		t.Errorf("GenerateCity(100000, 10) = %d compounds, %d sampling points, want 100 and 40", compounds, points)
	}
	home := 0
	for _, p := range r.Registry {
		if p.HomeVisit {
			home++
		}
	}
	if home < 990 || home > 1010 {
		t.Errorf("GenerateCity home visits = %d, want about 1%% of 100,000", home)
	}
	g, _ := GenerateCity(100_000, 10, 7)
	if !reflect.DeepEqual(g.Rows(), r) {
		t.Error("GenerateCity with the same seed gives other rows, want the same")
	}
	if _, err := GenerateCity(5, 10, 1); err == nil {
		t.Error("GenerateCity(5 residents, 10 communities) = no error, want one")
	}
}
