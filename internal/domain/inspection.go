package domain

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Finding states.
const (
	FindingOpen      = "open"
	FindingAssigned  = "assigned"
	FindingRectified = "rectified"
	FindingReopened  = "reopened"
	FindingClosed    = "closed"
	FindingWithdrawn = "withdrawn"
)

// Severities of a finding, lowest first.
var Severities = []string{"low", "medium", "high"}

// CategoryCompliance is the category of findings opened by failed
// checkpoint compliance checks.
const CategoryCompliance = "checkpoint-compliance"

// Unit is a unit a finding is laid at: a sub-district's office or a
// department, with the post of the person responsible.
type Unit struct {
	Code   string `db:"code" json:"code"`
	Name   string `db:"name" json:"name"`
	Kind   string `db:"kind" json:"kind"`
	Person string `db:"person" json:"person"`
}

// InspectionSite is one site of a round and who inspects it.
type InspectionSite struct {
	Site        string `db:"site" json:"site"`
	Name        string `db:"name" json:"name"`
	Kind        string `db:"kind" json:"kind"`
	SubDistrict string `db:"sub_district" json:"sub_district"`
	Unit        string `db:"unit" json:"unit"`
	Inspector   string `db:"inspector" json:"inspector"`
	Reported    bool   `db:"reported" json:"reported"`
}

// InspectionPlan is an open round: its sites with their inspectors, and the
// units findings may name.
type InspectionPlan struct {
	RoundID int64
	Round   int
	Sites   []InspectionSite
	Units   []Unit
}

// NewFinding is one problem an inspector reports at a site.
type NewFinding struct {
	Category    string `json:"category"`
	Severity    string `json:"severity"`
	Description string `json:"description"`
	// Unit is the unit responsible; empty means the site's own unit.
	Unit string `json:"unit,omitempty"`
}

// Finding is a recorded finding.
type Finding struct {
	ID          int64      `db:"id" json:"id"`
	Incident    string     `db:"incident" json:"incident"`
	Source      string     `db:"source" json:"source"`
	Site        string     `db:"site" json:"site"`
	SubDistrict string     `db:"sub_district" json:"sub_district"`
	Unit        string     `db:"unit" json:"unit"`
	Category    string     `db:"category" json:"category"`
	Severity    string     `db:"severity" json:"severity"`
	Description string     `db:"description" json:"description"`
	Inspector   string     `db:"inspector" json:"inspector"`
	State       string     `db:"state" json:"state"`
	Repeat      bool       `db:"repeat" json:"repeat"`
	Overdue     bool       `db:"overdue" json:"overdue"`
	Escalated   bool       `db:"escalated" json:"escalated"`
	Reopened    int        `db:"reopened" json:"reopened"`
	DeadlineAt  *time.Time `db:"deadline_at" json:"deadline_at,omitempty"`
	OpenedAt    time.Time  `db:"opened_at" json:"opened_at"`
	ClosedAt    *time.Time `db:"closed_at" json:"closed_at,omitempty"`
	// FollowedBy is the incident whose inspection follows the finding;
	// empty until an inspection claims a finding of a compliance check.
	FollowedBy string `db:"followed_by" json:"followed_by,omitempty"`
}

// Follower is the incident whose inspection follows the finding, and so
// the one its workflow ID is under.
func (f Finding) Follower() string {
	if f.FollowedBy != "" {
		return f.FollowedBy
	}
	return f.Incident
}

// SiteReportResult is the findings a report recorded; Duplicate says the
// site had been reported already and nothing was written.
type SiteReportResult struct {
	Findings  []Finding
	Duplicate bool
}

// CheckFinding names the first bad field of the i-th finding of a report;
// units are the codes of the units a finding may name.
func CheckFinding(i int, f NewFinding, units []string) error {
	switch {
	case strings.TrimSpace(f.Category) == "":
		return fmt.Errorf("findings[%d].category is required (e.g. mask-checks, registration, staffing): %w", i, ErrInvalid)
	case !slices.Contains(Severities, f.Severity):
		return fmt.Errorf("findings[%d].severity %q: want one of %s: %w", i, f.Severity, strings.Join(Severities, ", "), ErrInvalid)
	case strings.TrimSpace(f.Description) == "":
		return fmt.Errorf("findings[%d].description is required: %w", i, ErrInvalid)
	case !slices.Contains(units, f.Unit):
		sorted := append([]string(nil), units...)
		sort.Strings(sorted)
		return fmt.Errorf("findings[%d].unit %q: unknown unit (units: %s): %w", i, f.Unit, strings.Join(sorted, ", "), ErrInvalid)
	}
	return nil
}

// Talk is a recorded talk with the person responsible for a unit.
type Talk struct {
	Incident  string    `db:"incident" json:"incident"`
	FindingID int64     `db:"finding_id" json:"finding_id"`
	Unit      string    `db:"unit" json:"unit"`
	UnitName  string    `db:"unit_name" json:"unit_name"`
	Person    string    `db:"person" json:"person"`
	Reason    string    `db:"reason" json:"reason"`
	At        time.Time `db:"at" json:"at"`
}

// Tally counts findings of one sub-district or unit.
type Tally struct {
	Key       string `db:"key" json:"key"`
	Found     int    `db:"found" json:"found"`
	Rectified int    `db:"rectified" json:"rectified"`
	// Withdrawn findings were still open when their response ended: they
	// were never rectified.
	Withdrawn int `db:"withdrawn" json:"withdrawn"`
	Open      int `db:"open" json:"open"`
	Overdue   int `db:"overdue" json:"overdue"`
	Escalated int `db:"escalated" json:"escalated"`
}

// FindingGroup is a category of problem found at several sites of one unit:
// the office takes it up with the unit once.
type FindingGroup struct {
	Category string   `db:"category" json:"category"`
	Unit     string   `db:"unit" json:"unit"`
	Sites    []string `db:"sites" json:"sites"`
	Open     int      `db:"open" json:"open"`
}
