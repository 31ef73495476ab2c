package store

import "github.com/musterhq/muster/internal/domain"

// The mass-testing types that travel in workflow histories live in package
// domain. These aliases keep the callers that still name them store.X
// compiling; they go once those callers import domain.
type (
	RoundPlan       = domain.RoundPlan
	RoundPoint      = domain.RoundPoint
	CohortCount     = domain.CohortCount
	SiteCohortCount = domain.SiteCohortCount
	RoundProgress   = domain.RoundProgress
	PointProgress   = domain.PointProgress
	CohortProgress  = domain.CohortProgress
	VisitProgress   = domain.VisitProgress
)
