package store_test

import (
	"reflect"
	"testing"

	"github.com/musterhq/muster/internal/domain"
)

// campusesDistrict is a community with a university calling students
// first and a vocational school calling its dormitory blocks in order.
const campusesDistrict = `name: campuses
generate_residents: {seed: 2}
areas:
  - code: cd
    name: Campus District
    level: district
    areas:
      - code: cd-c
        name: Campus Community
        level: community
        sites:
          - {code: cd-p, name: Campus point, kind: sampling-point, capacity_per_hour: 100}
          - code: cd-uni
            name: University
            kind: campus
            population: 100
            cohorts: [{cohort: student, share: 0.8}, {cohort: teacher, share: 0.2}]
          - code: cd-voc
            name: Vocational school
            kind: campus
            population: 60
            cohorts: [{cohort: block-b, share: 0.5}, {cohort: block-a, share: 0.5}]
          - {code: cd-old, name: Old campus, kind: campus, population: 10}
`

// A round's plan counts each campus's people by its own cohorts, in the
// campus's order; a campus with no list of its own is counted with
// everyone else.
func TestRoundPlanSiteCohorts(t *testing.T) {
	s := loaded(t, parse(t, campusesDistrict))
	plan := openRound(t, s, "campuses", "cd-c", 1)
	want := []domain.SiteCohortCount{
		{Site: "cd-uni", Name: "University", Cohort: "student", Rank: 1, Count: 80},
		{Site: "cd-uni", Name: "University", Cohort: "teacher", Rank: 2, Count: 20},
		{Site: "cd-voc", Name: "Vocational school", Cohort: "block-b", Rank: 1, Count: 30},
		{Site: "cd-voc", Name: "Vocational school", Cohort: "block-a", Rank: 2, Count: 30},
	}
	if !reflect.DeepEqual(plan.SiteCohorts, want) {
		t.Errorf("OpenRound().SiteCohorts = %+v, want %+v", plan.SiteCohorts, want)
	}
	total := map[string]int{}
	for _, c := range plan.Cohorts {
		total[c.Cohort] = c.Count
	}
	if total["student"] != 89 || total["teacher"] != 21 || total["block-a"] != 30 || plan.Expected != 170 {
		t.Errorf("OpenRound().Cohorts = %v, expected %d; want every site's people counted by cohort (89 students, 21 teachers), 170 in all", plan.Cohorts, plan.Expected)
	}
}
