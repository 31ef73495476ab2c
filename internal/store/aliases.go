package store

import "github.com/musterhq/muster/internal/domain"

// The names below re-export the domain's types, constants and errors for
// callers that still reach them through the store. They go once every
// caller imports internal/domain.

type (
	Event            = domain.Event
	Unit             = domain.Unit
	InspectionSite   = domain.InspectionSite
	InspectionPlan   = domain.InspectionPlan
	NewFinding       = domain.NewFinding
	Finding          = domain.Finding
	SiteReportResult = domain.SiteReportResult
	Talk             = domain.Talk
	Tally            = domain.Tally
	FindingGroup     = domain.FindingGroup
	PostSummary      = domain.PostSummary
	PendingAck       = domain.PendingAck
	Mobilization     = domain.Mobilization
	Assignment       = domain.Assignment
	VolunteerDrive   = domain.VolunteerDrive
	SupplyLevel      = domain.SupplyLevel
	Shipment         = domain.Shipment
	SupplyStatus     = domain.SupplyStatus
)

const (
	FindingOpen         = domain.FindingOpen
	FindingAssigned     = domain.FindingAssigned
	FindingRectified    = domain.FindingRectified
	FindingReopened     = domain.FindingReopened
	FindingClosed       = domain.FindingClosed
	FindingWithdrawn    = domain.FindingWithdrawn
	CategoryCompliance  = domain.CategoryCompliance
	DeliveryPending     = domain.DeliveryPending
	DeliverySent        = domain.DeliverySent
	DeliveryDelivered   = domain.DeliveryDelivered
	DeliveryUndelivered = domain.DeliveryUndelivered
	MessageRunbookText  = domain.MessageRunbookText
)

var (
	Severities     = domain.Severities
	DeliveryStates = domain.DeliveryStates
	CheckFinding   = domain.CheckFinding
	PathPrefixes   = domain.PathPrefixes
	ErrNotFound    = domain.ErrNotFound
	ErrStaffBusy   = domain.ErrStaffBusy
	ErrNotCompound = domain.ErrNotCompound
)

// twinError is a domain error that also matches the store's own error of
// the same meaning. The store's ErrInvalid and ErrConflict are still
// declared apart from the domain's (with mass testing); errors the store
// makes must match both until they become aliases of the domain's, when
// errInvalid and errConflict give way to domain.ErrInvalid and
// domain.ErrConflict.
type twinError struct{ err, also error }

func (e *twinError) Error() string   { return e.err.Error() }
func (e *twinError) Unwrap() []error { return []error{e.err, e.also} }

var (
	errInvalid  error = &twinError{domain.ErrInvalid, ErrInvalid}
	errConflict error = &twinError{domain.ErrConflict, ErrConflict}
)
