package scenario

import (
	"strings"
	"testing"
)

// twoCampuses is a community with a university calling students first and
// a vocational school calling its dormitory blocks in order.
const twoCampuses = `name: t
generate_residents: {seed: 2}
areas:
  - code: c
    name: C
    level: community
    sites:
      - code: uni
        name: University
        kind: campus
        population: 100
        cohorts: [{cohort: student, share: 0.8}, {cohort: teacher, share: 0.2}]
      - code: voc
        name: Vocational school
        kind: campus
        population: 60
        cohorts: [{cohort: block-b, share: 0.5}, {cohort: block-a, share: 0.5}]
      - code: old
        name: Old campus
        kind: campus
        population: 10
`

// Each campus's people take its own cohorts, know their campus, and carry
// their cohort's rank in the campus's order; a campus without a list
// takes the default campus cohorts, with no rank.
func TestSiteCohortsGenerated(t *testing.T) {
	f, err := Parse("s.yaml", []byte(twoCampuses))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	type key struct {
		site, cohort string
		rank         int
	}
	got := map[key]int{}
	for _, r := range f.Rows().Registry {
		got[key{r.Site, r.Cohort, r.CohortRank}]++
	}
	want := map[key]int{
		{"uni", "student", 1}: 80, {"uni", "teacher", 2}: 20,
		{"voc", "block-b", 1}: 30, {"voc", "block-a", 2}: 30,
		{"old", "student", 0}: 9, {"old", "teacher", 0}: 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("residents of %+v = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

// A residents file names a campus person's campus in its site column; the
// rank comes from the campus's list.
func TestSiteCohortsInResidentsFile(t *testing.T) {
	src := strings.Replace(twoCampuses, "generate_residents: {seed: 2}", "residents: residents.csv", 1)
	path := writeScenario(t, map[string]string{"s.yaml": src, "residents.csv": "code,area,site,cohort\nr-1,c,voc,block-a\nr-2,c,uni,cook\nr-3,c,,student\n"})
	f, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile() error = %v", err)
	}
	reg := f.Rows().Registry
	if reg[0].Site != "voc" || reg[0].CohortRank != 2 || reg[1].Site != "uni" || reg[1].CohortRank != 0 || reg[2].Site != "" {
		t.Errorf("Rows().Registry = %+v, want r-1 at voc rank 2, r-2 at uni with no rank, r-3 at no site", reg)
	}
	path = writeScenario(t, map[string]string{"s.yaml": src, "residents.csv": "code,area,site\nr-1,c,nowhere\nr-2,c,c\n"})
	_, err = ReadFile(path)
	got := scenarioErrors(err)
	if len(got) != 2 || got[0].Line != 2 || got[0].Field != "site" || !strings.Contains(got[0].Msg, `unknown site "nowhere": a campus or school of this scenario`) || got[1].Line != 3 {
		t.Errorf("ReadFile(bad sites) = %v, want residents.csv:2 and :3 naming the site column", err)
	}
}

func TestSiteCohortErrors(t *testing.T) {
	tests := []struct {
		name, site string
		want       []wantErr
	}{
		{"not a campus", "{code: p, kind: sampling-point, capacity_per_hour: 10, cohorts: [{cohort: student, share: 1}]}",
			[]wantErr{{3, "areas[0].sites[0].cohorts", "only a campus or a school calls its own cohorts (kind sampling-point)"}}},
		{"shares", "{code: u, kind: campus, population: 5, cohorts: [{cohort: student, share: 0.5}, {cohort: Student, share: 0.2}]}",
			[]wantErr{{3, "areas[0].sites[0].cohorts[1].cohort", `"Student" is not a cohort`}, {3, "areas[0].sites[0].cohorts", "the shares add up to 0.7, want 1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: t\nareas:\n  - {code: c, name: C, level: community, sites: [" + tc.site + "]}\n"
			_, err := Parse("s.yaml", []byte(src))
			got := scenarioErrors(err)
			if len(got) != len(tc.want) {
				t.Fatalf("Parse() = %d errors:\n%v\nwant %v", len(got), err, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("error %d = %q (line %d, field %q), want line %d, field %q, message containing %q", i, g.Error(), g.Line, g.Field, w.line, w.field, w.msg)
				}
			}
		})
	}
}
