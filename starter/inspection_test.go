package main

import (
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

func TestParseFinding(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    domain.NewFinding
		wantErr string
	}{
		{in: "category=mask-checks,severity=high,description=no checks, not even at the front", want: domain.NewFinding{Category: "mask-checks", Severity: "high", Description: "no checks, not even at the front"}},
		{in: "category=registration, severity=low, unit=market-regulation, description=register incomplete",
			want: domain.NewFinding{Category: "registration", Severity: "low", Unit: "market-regulation", Description: "register incomplete"}},
		{in: "category=x,colour=red", wantErr: `unknown key "colour"`},
		{in: "just words", wantErr: "key=value"},
	} {
		got, err := parseFinding(0, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseFinding(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseFinding(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestInspectionFlagsBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"inspection", "report-site", "xd-0403", "beiying"}, "--finding"},
		{[]string{"inspection", "report-site", "xd-0403", "beiying", "--none", "--finding", "category=x"}, "not both"},
		{[]string{"inspection", "report-site", "Bad Incident", "beiying", "--none"}, "incident"},
		{[]string{"inspection", "rectify", "xd-0403", "twelve"}, `finding "twelve"`},
		{[]string{"inspection", "reinspect", "xd-0403", "12", "--by", "inspector-01"}, "--pass or --fail"},
		{[]string{"inspection", "reinspect", "xd-0403", "12", "--by", "inspector-01", "--pass", "--fail"}, "--pass or --fail"},
	} {
		out, err := runCLI(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("muster %s = %v (%q), want an error containing %q", strings.Join(tt.args, " "), err, out, tt.want)
		}
	}
}

func TestRenderInspection(t *testing.T) {
	deadline := time.Date(2022, 4, 3, 22, 0, 0, 0, time.UTC)
	r := store.InspectionReport{
		Incident: "xd-0403", Rounds: 1, Sites: 55, SitesReported: 55,
		Total:         domain.Tally{Key: "total", Found: 25, Rectified: 24, Open: 1, Overdue: 1, Escalated: 2},
		BySubDistrict: []domain.Tally{{Key: "beiying", Found: 4, Rectified: 3, Open: 1, Overdue: 1, Escalated: 1}},
		ByUnit:        []domain.Tally{{Key: "beiying-office", Found: 4, Rectified: 3, Open: 1, Overdue: 1, Escalated: 1}},
		Groups:        []domain.FindingGroup{{Category: "mask-checks", Unit: "beiying-office", Sites: []string{"beiying-key-01", "beiying-key-02"}, Open: 1}},
		Open: []domain.Finding{{ID: 7, Site: "beiying-key-02", Unit: "beiying-office", Category: "mask-checks", Severity: "high",
			State: "assigned", Overdue: true, DeadlineAt: &deadline, Inspector: "inspector-01"}},
		Talks: []domain.Talk{{FindingID: 7, Unit: "beiying-office", UnitName: "Beiying Sub-district office", Person: "head of Beiying Sub-district", Reason: "overdue"}},
	}
	var b strings.Builder
	renderInspection(&b, r)
	for _, want := range []string{"55 of 55 sites reported", "25 findings: 24 rectified, 1 open, 1 overdue, 2 escalated",
		"SUB-DISTRICT", "beiying", "shared: mask-checks at 2 sites of beiying-office", "talk: head of Beiying Sub-district",
		"#7", "assigned OVERDUE", "inspector-01"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("renderInspection() has no %q:\n%s", want, b.String())
		}
	}
}

// TestRenderInspectionWithdrawn checks that findings withdrawn when the
// response was lifted are reported as withdrawn, never as rectified.
func TestRenderInspectionWithdrawn(t *testing.T) {
	r := store.InspectionReport{Incident: "xd-0403", Rounds: 1, Sites: 4, SitesReported: 4,
		Total: domain.Tally{Key: "total", Found: 3, Rectified: 2, Withdrawn: 1}}
	var b strings.Builder
	renderInspection(&b, r)
	if strings.Contains(b.String(), "all findings rectified") || !strings.Contains(b.String(), "3 findings: 2 rectified, 1 withdrawn, 0 open") {
		t.Errorf("renderInspection() with a withdrawn finding =\n%s\nwant 2 rectified and 1 withdrawn, not all rectified", b.String())
	}
	r.Total = domain.Tally{Key: "total", Found: 2, Rectified: 2}
	b.Reset()
	renderInspection(&b, r)
	if !strings.Contains(b.String(), "all findings rectified") {
		t.Errorf("renderInspection() with every finding rectified =\n%s\nwant all findings rectified", b.String())
	}
}
