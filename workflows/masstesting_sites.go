package workflows

// Cohorts per site: a campus or school that lists its own cohorts (the
// scenario's site cohorts) has them called in its own order, overriding
// the step's cohorts parameter for its people.

import (
	"time"

	"github.com/musterhq/muster/internal/domain"
)

// siteCohortSlots calls each listing site's cohorts in the site's order,
// and everyone else's in the step's priority, every group from the
// round's opening at the share of the points' capacity its people need,
// so that the groups finish together. Everyone else's slots come first,
// then each site's, by site code.
func siteCohortSlots(plan domain.RoundPlan, priority []string, opens time.Time, scale float64) []CohortSlot {
	capacity, total := 0, 0
	for _, p := range plan.Points {
		capacity += p.CapacityPerHour
	}
	rest := map[string]int{}
	for _, c := range plan.Cohorts {
		rest[c.Cohort] = c.Count
		total += c.Count
	}
	var sites []string
	bySite := map[string][]domain.SiteCohortCount{}
	for _, c := range plan.SiteCohorts {
		if _, ok := bySite[c.Site]; !ok {
			sites = append(sites, c.Site)
		}
		bySite[c.Site] = append(bySite[c.Site], c)
		rest[c.Cohort] -= c.Count
	}
	share := func(counts []domain.CohortCount) float64 {
		n := 0
		for _, c := range counts {
			n += c.Count
		}
		if total == 0 {
			return 0
		}
		return float64(capacity) * float64(n) / float64(total)
	}
	var others []domain.CohortCount
	for _, c := range plan.Cohorts {
		if rest[c.Cohort] > 0 {
			others = append(others, domain.CohortCount{Cohort: c.Cohort, Count: rest[c.Cohort]})
		}
	}
	out := layOutSlots(orderCohorts(others, priority), share(others), opens, scale)
	for _, site := range sites {
		// The store lists a site's cohorts in its order.
		var counts []domain.CohortCount
		for _, c := range bySite[site] {
			counts = append(counts, domain.CohortCount{Cohort: c.Cohort, Count: c.Count})
		}
		for _, s := range layOutSlots(counts, share(counts), opens, scale) {
			s.Site, s.SiteName = site, bySite[site][0].Name
			out = append(out, s)
		}
	}
	return out
}
