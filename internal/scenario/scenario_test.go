package scenario

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReference checks that the bundled reference scenario parses and that
// its figures are the seed's (docs/scenario.md maps each one to the account).
func TestReference(t *testing.T) {
	f, err := Reference()
	if err != nil {
		t.Fatalf("Reference() error = %v, want nil", err)
	}
	if f.Name != "xiaodian-2022-04" {
		t.Errorf("Reference().Name = %q, want %q", f.Name, "xiaodian-2022-04")
	}
	r := f.Rows()

	area := map[string]AreaRow{}
	for _, a := range r.Areas {
		area[a.Code] = a
	}
	children := func(parent string, level Level) []AreaRow {
		var out []AreaRow
		for _, a := range r.Areas {
			if a.ParentCode == parent && a.Level == level {
				out = append(out, a)
			}
		}
		return out
	}
	population := func(as []AreaRow) int {
		n := 0
		for _, a := range as {
			n += a.Population
		}
		return n
	}
	staff := func(areaCode, role string) int {
		n := 0
		for _, s := range r.Staff {
			if (areaCode == "" || s.AreaCode == areaCode) && s.Role == role {
				n++
			}
		}
		return n
	}
	sites := func(areaCode, kind string) []SiteRow {
		var out []SiteRow
		for _, s := range r.Sites {
			if (areaCode == "" || s.AreaCode == areaCode) && s.Kind == kind {
				out = append(out, s)
			}
		}
		return out
	}

	longbaoCompounds := children("longbao", LevelCompound)
	longbaoPoints := sites("longbao", "sampling-point")
	longbaoCapacity := 0
	for _, s := range longbaoPoints {
		longbaoCapacity += s.CapacityPerHour
	}
	subDistricts := children("xiaodian", LevelSubDistrict)
	campuses := sites("", "campus")
	campusPopulation, campusesTested := 0, 0
	for _, s := range campuses {
		campusPopulation += s.Population
		if s.Population > 0 {
			campusesTested++
		}
	}
	keySites := sites("", "key-site")
	keySiteAreas := map[string]int{}
	for _, s := range keySites {
		keySiteAreas[s.AreaCode]++
	}
	subDistrictsWithKeySites := 0
	for _, a := range subDistricts {
		if keySiteAreas[a.Code] > 0 {
			subDistrictsWithKeySites++
		}
	}
	pingyangCommunities := children("pingyang-road", LevelCommunity)
	pingyangCommunity := map[string]bool{}
	for _, a := range pingyangCommunities {
		pingyangCommunity[a.Code] = true
	}
	tenglongUnderPingyang := 0
	if a, ok := area["tenglong-yayuan"]; ok && a.Level == LevelCompound && pingyangCommunity[a.ParentCode] {
		tenglongUnderPingyang = 1
	}
	company25 := 0
	if a, ok := area["company-25"]; ok && a.Level == LevelCompound && a.ParentCode == "zhongfuyuan" && a.Population > 0 {
		company25 = 1
	}
	cadreGroups := 0
	if a := findArea(f.Areas, "pingyang-road"); a != nil {
		cadreGroups = len(a.Staff)
	}
	longbaoEntrances, longbaoRoads := 0, 0
	for _, rd := range r.Roads {
		if rd.AreaCode == "longbao" {
			longbaoRoads++
			if rd.Entrance {
				longbaoEntrances++
				if rd.Name != "Longbao Street" {
					t.Errorf("Rows() Longbao entrance road = %q, want %q", rd.Name, "Longbao Street")
				}
			}
		}
	}

	tests := []struct {
		name      string
		got, want int
	}{
		{"Longbao compounds", len(longbaoCompounds), 6},
		{"Longbao residents", population(longbaoCompounds), 7013},
		{"Longbao sampling points", len(longbaoPoints), 4},
		{"Longbao community staff", staff("longbao", "community-worker") + staff("longbao", "grid-worker"), 30},
		{"Longbao resident volunteers", staff("longbao", "volunteer"), 40},
		{"Longbao road sections", longbaoRoads, 3},
		{"Longbao entrance roads", longbaoEntrances, 1},
		{"Nanpingtou compounds > 0", min(len(children("nanpingtou", LevelCompound)), 1), 1},
		{"sub-districts", len(subDistricts), 12},
		{"sub-districts with key sites", subDistrictsWithKeySites, 12},
		{"Pingyang Road communities", len(pingyangCommunities), 17},
		{"Pingyang Road cadres", staff("pingyang-road", "cadre"), 101},
		{"Pingyang Road cadre groups", cadreGroups, 5},
		{"Tenglong Yayuan under a Pingyang Road community", tenglongUnderPingyang, 1},
		{"campuses", len(campuses), 3},
		{"campuses tested", campusesTested, 2},
		{"campus population", campusPopulation, 21811},
		{"student volunteers", staff("shanxi-university", "volunteer"), 80},
		{"25-company compound in Zhongfuyuan", company25, 1},
		{"Zhongfuyuan grid workers", staff("zhongfuyuan", "grid-worker") + staff("company-25", "grid-worker"), 9},
		{"25-company resident volunteers", staff("zhongfuyuan", "volunteer") + staff("company-25", "volunteer"), 15},
		{"teachers", staff("", "teacher"), 200},
		{"cadres", staff("", "cadre"), 101},
		{"supermarkets", len(sites("", "supermarket")), 27},
		{"markets", len(sites("", "market")), 30},
		{"key sites", len(keySites), 43},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("Rows() %s = %d, want %d", tt.name, tt.got, tt.want)
			}
		})
	}

	// The seed's first round: 7,000+ residents in about 7 hours at 4 points.
	t.Run("Longbao capacity covers 7,000 in 7 hours", func(t *testing.T) {
		if got := longbaoCapacity * 7; got < 7000 {
			t.Errorf("Rows() Longbao capacity over 7 h = %d, want >= 7000", got)
		}
	})

	t.Run("one entrance gate per compound", func(t *testing.T) {
		entrances := map[string]int{}
		for _, g := range r.Gates {
			if g.Entrance {
				entrances[g.AreaCode]++
			}
		}
		for _, a := range r.Areas {
			if a.Level == LevelCompound && entrances[a.Code] != 1 {
				t.Errorf("Rows() entrance gates of %s = %d, want 1", a.Code, entrances[a.Code])
			}
		}
	})

	t.Run("gates per Longbao compound", func(t *testing.T) {
		gates := map[string]int{}
		for _, g := range r.Gates {
			gates[g.AreaCode]++
		}
		for _, a := range longbaoCompounds {
			if n := gates[a.Code]; n < 1 || n > 3 {
				t.Errorf("Rows() gates of %s = %d, want 1 to 3", a.Code, n)
			}
			if len(a.PublicAreas) == 0 {
				t.Errorf("Rows() public areas of %s = none, want some", a.Code)
			}
		}
	})
}

// TestReferenceFile checks that the file on disk is the one that is embedded
// and that ReadFile reads it.
func TestReferenceFile(t *testing.T) {
	f, err := ReadFile(ReferenceName)
	if err != nil {
		t.Fatalf("ReadFile(%q) error = %v, want nil", ReferenceName, err)
	}
	if got, want := len(f.Rows().Areas), 44; got != want {
		t.Errorf("ReadFile(%q) areas = %d, want %d", ReferenceName, got, want)
	}
}

func findArea(as []Area, code string) *Area {
	for i := range as {
		if as[i].Code == code {
			return &as[i]
		}
		if a := findArea(as[i].Areas, code); a != nil {
			return a
		}
	}
	return nil
}

// TestRowsExpand checks how an entry with count becomes numbered rows.
func TestRowsExpand(t *testing.T) {
	f, err := Reference()
	if err != nil {
		t.Fatalf("Reference() error = %v, want nil", err)
	}
	r := f.Rows()
	staff := map[string]StaffRow{}
	for _, s := range r.Staff {
		staff[s.Code] = s
	}
	site := map[string]SiteRow{}
	for _, s := range r.Sites {
		site[s.Code] = s
	}
	tests := []struct {
		code     string
		wantName string // "" means the code must not exist
		got      func(string) (string, bool)
	}{
		{"teacher-001", "Teacher 1", staffName(staff)},
		{"teacher-200", "Teacher 200", staffName(staff)},
		{"teacher-201", "", staffName(staff)},
		{"teacher", "", staffName(staff)},
		{"edu-cadre-g1-21", "Education bureau cadre (group 1) 21", staffName(staff)},
		{"longbao-sampling-01", "Longbao sampling point 1", siteName(site)},
		{"longbao-sampling-04", "Longbao sampling point 4", siteName(site)},
		{"longbao-sampling-05", "", siteName(site)},
		{"meiteihao-kangning", "Meiteihao Supermarket, Kangning Street", siteName(site)},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			name, ok := tt.got(tt.code)
			switch {
			case tt.wantName == "" && ok:
				t.Errorf("Rows() code %s = present (%q), want absent", tt.code, name)
			case tt.wantName != "" && name != tt.wantName:
				t.Errorf("Rows() name of %s = %q, want %q", tt.code, name, tt.wantName)
			}
		})
	}
	if s := site["longbao-sampling-03"]; s.CapacityPerHour != 250 || s.AreaCode != "longbao" {
		t.Errorf("Rows() longbao-sampling-03 = %+v, want capacity 250 in longbao", s)
	}
	for _, a := range r.Areas {
		if a.Code == "company-25" && a.Path != "xiaodian/yingpan/zhongfuyuan/company-25" {
			t.Errorf("Rows() path of company-25 = %q, want %q", a.Path, "xiaodian/yingpan/zhongfuyuan/company-25")
		}
	}
}

func staffName(m map[string]StaffRow) func(string) (string, bool) {
	return func(c string) (string, bool) { s, ok := m[c]; return s.Name, ok }
}

func siteName(m map[string]SiteRow) func(string) (string, bool) {
	return func(c string) (string, bool) { s, ok := m[c]; return s.Name, ok }
}

// scenarioErrors returns the errors Parse reported, whichever form they take.
func scenarioErrors(err error) []*Error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// wantErr is one error a bad input must report: its line, its field path and
// a part of its message.
type wantErr struct {
	line  int
	field string
	msg   string
}

func (w wantErr) String() string { return fmt.Sprintf("%d %s %q", w.line, w.field, w.msg) }

// lines joins its arguments as the lines of a file, so a case's line numbers
// can be read off its position.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// TestParseErrors checks that each bad input reports every problem at the
// right line and field path.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{
			name: "unknown field",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    populaton: 10",
			),
			want: []wantErr{{6, "", `unknown field "populaton" in an area`}},
		},
		{
			name: "unknown field at the top",
			src: lines(
				"name: t",
				"area:",
				"  - code: d",
			),
			want: []wantErr{{2, "", `unknown field "area" in the scenario`}},
		},
		{
			name: "unknown field in a gate",
			src: lines(
				"name: t",
				"areas:",
				"  - code: k",
				"    name: K",
				"    level: compound",
				"    population: 5",
				"    gates:",
				"      - code: g",
				"        entrence: true",
			),
			want: []wantErr{{9, "", `unknown field "entrence" in a gate`}},
		},
		{
			name: "wrong type",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    population: many",
				"    buildings: lots",
			),
			want: []wantErr{
				{6, "", "cannot unmarshal !!str `many` into int"},
				{7, "", "cannot unmarshal !!str `lots` into int"},
			},
		},
		{
			name: "area that is not a mapping",
			src: lines(
				"name: t",
				"areas:",
				"  - xiaodian",
			),
			want: []wantErr{{3, "", `an area must be a mapping of fields, not the value "xiaodian"`}},
		},
		{
			name: "field given twice",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    code: e",
			),
			want: []wantErr{{4, "", `mapping key "code" already defined at line 3`}},
		},
		{
			name: "unknown level",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    areas:",
				"      - code: k",
				"        name: K",
				"        level: compund",
				"        population: 10",
				"        gates:",
				"          - code: g",
			),
			want: []wantErr{
				{7, "areas[0].areas[0].level", `unknown level "compund"`},
				{12, "areas[0].areas[0].gates", "only compounds have gates"},
			},
		},
		{
			name: "missing level",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
			),
			want: []wantErr{{3, "areas[0].level", "is required"}},
		},
		{
			name: "child level not lower than parent",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: community",
				"    areas:",
				"      - code: c",
				"        name: C",
				"        level: community",
				"      - code: s",
				"        name: S",
				"        level: sub-district",
			),
			want: []wantErr{
				{7, "areas[0].areas[0].level", "a community cannot sit inside a community"},
				{10, "areas[0].areas[1].level", "a sub-district cannot sit inside a community"},
			},
		},
		{
			name: "compound with child areas",
			src: lines(
				"name: t",
				"areas:",
				"  - code: k",
				"    name: K",
				"    level: compound",
				"    population: 5",
				"    gates: [{code: g}]",
				"    areas:",
				"      - code: c",
				"        name: C",
				"        level: compound",
				"        population: 5",
				"        gates: [{code: g}]",
			),
			want: []wantErr{
				{9, "areas[0].areas", "a compound has no child areas"},
				{9, "areas[0].areas[0].level", "a compound cannot sit inside a compound"},
			},
		},
		{
			name: "compound without population",
			src: lines(
				"name: t",
				"areas:",
				"  - code: k",
				"    name: K",
				"    level: compound",
				"    gates:",
				"      - code: g",
			),
			want: []wantErr{{3, "areas[0].population", "is required for a compound"}},
		},
		{
			name: "compound without gates",
			src: lines(
				"name: t",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
				"    areas:",
				"      - code: k",
				"        name: K",
				"        level: compound",
				"        population: 100",
			),
			want: []wantErr{{7, "areas[0].areas[0].gates", "a compound needs at least one gate"}},
		},
		{
			name: "gates on a community",
			src: lines(
				"name: t",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
				"    gates:",
				"      - code: g",
				"        entrance: true",
			),
			want: []wantErr{{7, "areas[0].gates", "only compounds have gates (this area is a community)"}},
		},
		{
			name: "duplicate area code across the tree",
			src: lines(
				"name: t",
				"areas:",
				"  - code: longbao",
				"    name: Longbao",
				"    level: community",
				"    areas:",
				"      - code: longbao",
				"        name: Longbao",
				"        level: compound",
				"        population: 100",
				"        gates: [{code: g}]",
			),
			want: []wantErr{{7, "areas[0].areas[0].code", `area code "longbao" is already used at areas[0].code`}},
		},
		{
			name: "duplicate staff code after expansion",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    staff:",
				"      - code: w",
				"        role: cadre",
				"        count: 3",
				"    areas:",
				"      - code: s",
				"        name: S",
				"        level: sub-district",
				"        staff:",
				"          - code: w-02",
				"            role: teacher",
			),
			want: []wantErr{{15, "areas[0].areas[0].staff[0].code", `staff code "w-02" is already used at areas[0].staff[0].code`}},
		},
		{
			name: "duplicate gate code in one compound",
			src: lines(
				"name: t",
				"areas:",
				"  - code: k",
				"    name: K",
				"    level: compound",
				"    population: 100",
				"    gates:",
				"      - code: north",
				"        entrance: true",
				"      - code: north",
			),
			want: []wantErr{{10, "areas[0].gates[1].code", `gate "north" is listed twice`}},
		},
		{
			name: "same gate code in two compounds",
			src: lines(
				"name: t",
				"areas:",
				"  - code: k1",
				"    name: K1",
				"    level: compound",
				"    population: 100",
				"    gates: [{code: main, entrance: true}]",
				"  - code: k2",
				"    name: K2",
				"    level: compound",
				"    population: 100",
				"    gates: [{code: main, entrance: true}]",
			),
			want: nil,
		},
		{
			name: "duplicate road code and road without name",
			src: lines(
				"name: t",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
				"    roads:",
				"      - code: lane-3",
				"        name: Lane 3",
				"      - code: lane-3",
			),
			want: []wantErr{
				{9, "areas[0].roads[1].code", `road "lane-3" is listed twice`},
				{9, "areas[0].roads[1].name", "is required"},
			},
		},
		{
			name: "public area listed twice",
			src: lines(
				"name: t",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
				"    public_areas: [stairwells, stairwells]",
			),
			want: []wantErr{{3, "areas[0].public_areas[1]", `"stairwells" is listed twice`}},
		},
		{
			name: "bad code characters",
			src: lines(
				"name: t",
				"areas:",
				"  - code: Longbao_1",
				"    name: Longbao",
				"    level: community",
			),
			want: []wantErr{{3, "areas[0].code", `"Longbao_1" is not a code`}},
		},
		{
			name: "code too long",
			src: lines(
				"name: t",
				"areas:",
				"  - code: "+strings.Repeat("a", 64),
				"    name: A",
				"    level: community",
			),
			want: []wantErr{{3, "areas[0].code", "is not a code"}},
		},
		{
			name: "bad scenario name",
			src: lines(
				"name: Xiaodian 2022",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
			),
			want: []wantErr{{1, "name", `"Xiaodian 2022" is not a code`}},
		},
		{
			name: "negative population",
			src: lines(
				"name: t",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
				"    population: -5",
			),
			want: []wantErr{{3, "areas[0].population", "must not be negative (got -5)"}},
		},
		{
			name: "unknown site kind",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    sites:",
				"      - code: s",
				"        kind: shop",
			),
			want: []wantErr{{7, "areas[0].sites[0].kind", `unknown kind "shop"`}},
		},
		{
			name: "unknown staff role",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    staff:",
				"      - code: p",
			),
			want: []wantErr{{7, "areas[0].staff[0].role", `unknown role ""`}},
		},
		{
			name: "sampling point without capacity",
			src: lines(
				"name: t",
				"areas:",
				"  - code: c",
				"    name: C",
				"    level: community",
				"    sites:",
				"      - code: p",
				"        kind: sampling-point",
				"        count: 4",
			),
			want: []wantErr{{7, "areas[0].sites[0].capacity_per_hour", "is required for a sampling point"}},
		},
		{
			name: "count above 10000",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    staff:",
				"      - code: v",
				"        role: volunteer",
				"        count: 10001",
			),
			want: []wantErr{{7, "areas[0].staff[0].count", "10001 is more than 10000"}},
		},
		{
			name: "count far above 10000",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    sites:",
				"      - code: m",
				"        kind: market",
				"        count: 2000000000",
			),
			want: []wantErr{{7, "areas[0].sites[0].count", "2000000000 is more than 10000"}},
		},
		{
			name: "count of exactly 10000",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    staff:",
				"      - code: v",
				"        role: volunteer",
				"        count: 10000",
			),
			want: nil,
		},
		{
			name: "negative count",
			src: lines(
				"name: t",
				"areas:",
				"  - code: d",
				"    name: D",
				"    level: district",
				"    sites:",
				"      - code: m",
				"        kind: market",
				"        count: -1",
			),
			want: []wantErr{{7, "areas[0].sites[0].count", "must not be negative"}},
		},
		{
			name: "empty file",
			src:  "",
			want: []wantErr{{0, "", "file is empty"}},
		},
		{
			name: "only comments",
			src:  lines("# nothing yet"),
			want: []wantErr{{0, "", "file is empty"}},
		},
		{
			name: "no name and no areas",
			src:  lines("description: nothing"),
			want: []wantErr{
				{1, "name", "is required"},
				{1, "areas", "is required"},
			},
		},
		{
			name: "several errors",
			src: lines(
				"name: t",
				"areas:",
				"  - code: Xiaodian",
				"    name: Xiaodian",
				"    level: district",
				"    areas:",
				"      - code: beiying",
				"        level: sub-district",
				"        sites:",
				"          - code: point",
				"            kind: sampling-point",
				"        areas:",
				"          - code: longbao",
				"            name: Longbao",
				"            level: compound",
				"            population: -1",
				"          - code: beiying",
				"            name: Beiying again",
				"            level: township",
			),
			want: []wantErr{
				{3, "areas[0].code", `"Xiaodian" is not a code`},
				{7, "areas[0].areas[0].name", "is required"},
				{10, "areas[0].areas[0].sites[0].capacity_per_hour", "is required for a sampling point"},
				{13, "areas[0].areas[0].areas[0].population", "must not be negative (got -1)"},
				{13, "areas[0].areas[0].areas[0].gates", "a compound needs at least one gate"},
				{17, "areas[0].areas[0].areas[1].code", `area code "beiying" is already used at areas[0].areas[0].code`},
				{17, "areas[0].areas[0].areas[1].level", `unknown level "township"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.src))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse(%s) = %v, want no error", tt.name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%s) = no error, want %v", tt.name, tt.want)
			}
			got := scenarioErrors(err)
			if got == nil {
				t.Fatalf("Parse(%s) = %T %v, want Errors or *Error", tt.name, err, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Parse(%s) = %d errors:\n%v\nwant %d: %v", tt.name, len(got), err, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) || g.Source != "test.yaml" {
					t.Errorf("Parse(%s) error %d = %q (line %d, field %q), want line %d, field %q, message containing %q",
						tt.name, i, g.Error(), g.Line, g.Field, w.line, w.field, w.msg)
				}
			}
		})
	}
}

// TestErrorString checks the FILE:LINE: field.path: message form.
func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Source: "a.yaml", Line: 7, Field: "areas[0].level", Msg: "is required"}, "a.yaml:7: areas[0].level: is required"},
		{&Error{Source: "a.yaml", Line: 6, Msg: "cannot unmarshal"}, "a.yaml:6: cannot unmarshal"},
		{&Error{Source: "a.yaml", Msg: "file is empty"}, "a.yaml: file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	es := Errors{tests[0].err, tests[1].err}
	if got, want := es.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

// TestDocExample checks that the YAML examples in docs/scenario.md that are
// complete files (they start with "name:") are valid.
func TestDocExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/scenario.md")
	if err != nil {
		t.Fatalf("ReadFile(docs/scenario.md) error = %v", err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	n := 0
	for i, m := range blocks {
		if !strings.HasPrefix(string(m[1]), "name:") {
			continue
		}
		n++
		t.Run(fmt.Sprint("example ", i), func(t *testing.T) {
			if _, err := Parse("docs/scenario.md", m[1]); err != nil {
				t.Errorf("Parse(docs example %d) = %v, want no error", i, err)
			}
		})
	}
	if n == 0 {
		t.Errorf("docs/scenario.md complete examples = 0, want at least 1")
	}
}

func TestReferencesAndLocale(t *testing.T) {
	base := "name: drill\nareas:\n  - {code: d, name: D, level: district}\n"
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"good", "locale: zh-CN\nreferences:\n  - {metric: testing.sampled, area: d, round: 1, value: 7000, label: Residents tested}\n", ""},
		{"bad locale", "locale: fr\n", "locale"},
		{"bad metric", "references:\n  - {metric: testing.speed, value: 1, label: x}\n", "references[0].metric"},
		{"no label", "references:\n  - {metric: seal.staff, value: 30}\n", "references[0].label"},
		{"negative", "references:\n  - {metric: seal.staff, value: -3, label: x}\n", "references[0].value"},
		{"unknown field", "references:\n  - {metric: seal.staff, value: 3, label: x, unit: people}\n", `unknown field "unit"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("drill.yaml", []byte(base+c.yaml))
			if c.want == "" {
				if err != nil {
					t.Fatalf("Parse() error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse() error = %v, want one naming %q", err, c.want)
			}
		})
	}
	ref, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.References) != 8 {
		t.Errorf("reference scenario has %d reference figures, want 8", len(ref.References))
	}
}
