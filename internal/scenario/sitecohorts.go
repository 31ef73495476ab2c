package scenario

import "slices"

// Cohorts per site: a campus or school lists its own cohorts (Site.Cohorts)
// in the order its people are called, which overrides a testing step's
// cohorts parameter for that site. Its generated people take the list's
// shares; each person knows their site and their cohort's rank in it.

// siteCohorts checks a site's own cohorts: only a campus or school has
// them, and they follow the rules of generate_residents' cohorts.
func (v *validator) siteCohorts(s Site, path string) {
	if len(s.Cohorts) == 0 {
		return
	}
	if s.Kind != "campus" && s.Kind != "school" {
		v.add(s.line, path+".cohorts", "only a campus or a school calls its own cohorts (kind %s)", s.Kind)
		return
	}
	v.cohorts(s.line, path+".cohorts", s.Cohorts)
}

// siteCohortLists returns the cohorts of every campus and school, by site
// code (expanded), for the residents file's site column.
func (f *File) siteCohortLists() map[string][]CohortShare {
	out := map[string][]CohortShare{}
	var walk func(as []Area)
	walk = func(as []Area) {
		for _, a := range as {
			for _, s := range a.Sites {
				if s.Kind == "campus" || s.Kind == "school" {
					for _, code := range expand(s.Code, s.Count) {
						out[code] = s.Cohorts
					}
				}
			}
			walk(a.Areas)
		}
	}
	walk(f.Areas)
	return out
}

// cohortRank is a cohort's place in a site's list, from 1; 0 when the list
// does not name it.
func cohortRank(cohorts []CohortShare, cohort string) int {
	return slices.IndexFunc(cohorts, func(c CohortShare) bool { return c.Cohort == cohort }) + 1
}

// placeAtSite marks a generated campus's people with their site and their
// cohort's rank in its list.
func placeAtSite(rows []ResidentRow, site string, cohorts []CohortShare) {
	for i := range rows {
		rows[i].Site, rows[i].CohortRank = site, cohortRank(cohorts, rows[i].Cohort)
	}
}
