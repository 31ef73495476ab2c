// Mass testing: the plan of a testing round and its progress, as they
// travel in workflow inputs, results and continue-as-new state. Their
// field names are the JSON field names in workflow histories: renaming one
// changes what recorded histories decode to.

package domain

import "time"

// RoundPlan is what a testing round expects: its points and how many
// residents each serves, the residents coming to points by cohort, and the
// residents sampled at home.
type RoundPlan struct {
	RoundID int64
	Points  []RoundPoint
	// Cohorts counts the residents who come to a point, by cohort, largest
	// first.
	Cohorts []CohortCount
	// HomeVisits counts the residents sampled at home.
	HomeVisits int
	// Expected is everyone: residents coming to points and home visits.
	Expected int
	// SiteCohorts counts the people of each campus or school that lists
	// its own cohorts, by cohort in the site's order; they are also among
	// Cohorts.
	SiteCohorts []SiteCohortCount `json:",omitempty"`
}

// SiteCohortCount is the number of a site's people of one cohort who
// come to a point, and the cohort's rank in the site's order (0: after
// the listed ones).
type SiteCohortCount struct {
	Site, Name, Cohort string
	Rank, Count        int
}

// RoundPoint is a sampling point open in a round.
type RoundPoint struct {
	SiteID          int64
	Code            string
	Name            string
	CapacityPerHour int
	// Expected counts the residents of the compounds the point serves, plus
	// those it sampled from compounds since moved to another point.
	Expected int
}

// CohortCount is the number of residents of a cohort.
type CohortCount struct {
	Cohort string
	Count  int
}

// RoundProgress is a round's samples against what it expects.
type RoundProgress struct {
	Points     []PointProgress
	Cohorts    []CohortProgress
	HomeVisits VisitProgress
	// Sampled and Expected count everyone, points and home visits.
	Sampled   int
	Expected  int
	Positives int
	// FirstAt and LastAt bound the samples' times; zero before the first.
	FirstAt time.Time
	LastAt  time.Time
}

// PointProgress is one point's samples.
type PointProgress struct {
	SiteID          int64
	Code            string
	CapacityPerHour int
	Sampled         int
	Expected        int
	FirstAt         time.Time
	LastAt          time.Time
}

// CohortProgress counts a cohort's residents who come to points.
type CohortProgress struct {
	Cohort   string
	Sampled  int
	Expected int
}

// VisitProgress counts the residents sampled at home: Sampled have a
// sample, Missed were missed on their latest visit and have none, Pending
// are the rest (not visited yet, or a revisit is on its way).
type VisitProgress struct {
	Residents int
	Sampled   int
	Missed    int
	Pending   int
}
