package scenario

import (
	"reflect"
	"strings"
	"testing"
)

// kindsScenario declares three kinds of home visit, the bedridden first.
const kindsScenario = `name: t
residents: residents.csv
home_visit_kinds:
  - {kind: disabled, priority: 3}
  - {kind: bedridden-elderly, priority: 1}
  - {kind: pregnant, priority: 2}
areas:
  - code: c
    name: C
    level: community
    areas:
      - code: k
        name: K
        level: compound
        population: 4
        gates: [{code: main, entrance: true}]
`

// A residents file names each home-visit resident's kind in home_visit;
// the kind's priority travels with the row.
func TestHomeVisitKindsInResidentsFile(t *testing.T) {
	path := writeScenario(t, map[string]string{
		"s.yaml": kindsScenario,
		"residents.csv": "code,area,home_visit\n" +
			"r-1,k,pregnant\n" +
			"r-2,k,true\n" +
			"r-3,k,Bedridden-Elderly\n" +
			"r-4,k,\n",
	})
	f, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile() error = %v", err)
	}
	want := []ResidentRow{
		{Code: "r-1", AreaCode: "k", Cohort: "resident", HomeVisit: true, HomeVisitKind: "pregnant", HomeVisitPriority: 2},
		{Code: "r-2", AreaCode: "k", Cohort: "resident", HomeVisit: true},
		{Code: "r-3", AreaCode: "k", Cohort: "resident", HomeVisit: true, HomeVisitKind: "bedridden-elderly", HomeVisitPriority: 1},
		{Code: "r-4", AreaCode: "k", Cohort: "resident"},
	}
	if got := f.Rows().Registry; !reflect.DeepEqual(got, want) {
		t.Errorf("Rows().Registry = %+v, want %+v", got, want)
	}
	if got := f.Rows().HomeVisitKinds; len(got) != 3 || got[0].Kind != "bedridden-elderly" || got[2].Kind != "disabled" {
		t.Errorf("Rows().HomeVisitKinds = %+v, want the three kinds by priority", got)
	}
}

// Generated home-visit residents of a compound take the declared kinds in
// turn, by priority.
func TestHomeVisitKindsGenerated(t *testing.T) {
	src := strings.Replace(kindsScenario, "residents: residents.csv", "generate_residents: {seed: 1, home_visit_share: 0.5}", 1)
	src = strings.Replace(src, "population: 4", "population: 12", 1)
	f, err := Parse("s.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	counts := map[string]int{}
	for _, r := range f.Rows().Registry {
		switch {
		case r.HomeVisit && (r.HomeVisitKind == "" || r.HomeVisitPriority == 0):
			t.Errorf("%s is visited at home with no kind or priority", r.Code)
		case !r.HomeVisit && r.HomeVisitKind != "":
			t.Errorf("%s has kind %s but is not visited at home", r.Code, r.HomeVisitKind)
		}
		counts[r.HomeVisitKind]++
	}
	if counts["bedridden-elderly"] != 2 || counts["pregnant"] != 2 || counts["disabled"] != 2 {
		t.Errorf("generated kinds = %v, want 2 of each of the 6 home-visit residents", counts)
	}
}

func TestHomeVisitKindErrors(t *testing.T) {
	tests := []struct {
		name, kinds string
		want        []wantErr
	}{
		{"bad code", "  - {kind: Bedridden, priority: 1}\n", []wantErr{{4, "home_visit_kinds[0].kind", `"Bedridden" is not a code`}}},
		{"missing kind", "  - {priority: 1}\n", []wantErr{{4, "home_visit_kinds[0].kind", "is required"}}},
		{"twice", "  - {kind: pregnant, priority: 1}\n  - {kind: pregnant, priority: 2}\n", []wantErr{{5, "home_visit_kinds[1].kind", `"pregnant" is already listed at home_visit_kinds[0]`}}},
		{"priority", "  - {kind: pregnant}\n  - {kind: disabled, priority: -2}\n", []wantErr{
			{4, "home_visit_kinds[0].priority", "is required: 1 is visited first"},
			{5, "home_visit_kinds[1].priority", "must be 1 or more (got -2)"},
		}},
		{"unknown field", "  - {kind: pregnant, priority: 1, share: 0.2}\n", []wantErr{{4, "", `unknown field "share" in a home-visit kind`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: t\nareas: [{code: d, name: D, level: district}]\n" + "home_visit_kinds:\n" + tc.kinds
			_, err := Parse("s.yaml", []byte(src))
			got := scenarioErrors(err)
			if len(got) != len(tc.want) {
				t.Fatalf("Parse() = %d errors:\n%v\nwant %v", len(got), err, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) || g.Source != "s.yaml" {
					t.Errorf("error %d = %q (line %d, field %q), want line %d, field %q, message containing %q", i, g.Error(), g.Line, g.Field, w.line, w.field, w.msg)
				}
			}
		})
	}
	t.Run("unknown kind in the residents file", func(t *testing.T) {
		path := writeScenario(t, map[string]string{"s.yaml": kindsScenario, "residents.csv": "code,area,home_visit\nr-1,k,pregant\n"})
		_, err := ReadFile(path)
		got := scenarioErrors(err)
		if len(got) != 1 || got[0].Line != 2 || got[0].Field != "home_visit" || !strings.HasSuffix(got[0].Source, "residents.csv") ||
			!strings.Contains(got[0].Msg, `"pregant" is not true, false or a kind of home visit (home_visit_kinds: bedridden-elderly, pregnant, disabled)`) {
			t.Errorf("ReadFile() error = %v, want residents.csv:2: home_visit naming the kinds", err)
		}
	})
}
