package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// TestCopyTextKeepsEveryCharacter loads residents and samples whose text
// holds what COPY's text format escapes (backslash, tab, newline, carriage
// return) and reads them back unchanged.
func TestCopyTextKeepsEveryCharacter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loaded(t, reference(t))
	odd := []scenario.ResidentRow{
		{Code: `r-odd-1`, AreaCode: "longbao-jiayuan", Building: "b\\01", Name: "Li\tMing", IDNumber: `14\N`, Phone: "135\r\n0000"},
		{Code: `r-odd-2`, AreaCode: "longbao-jiayuan", Building: "", Cohort: "student", HomeVisit: true, Name: `\`, IDNumber: "", Phone: "\\t"},
	}
	if _, err := s.LoadResidents(ctx, "odd", odd); err != nil {
		t.Fatalf("LoadResidents() = %v", err)
	}
	for _, want := range odd {
		var got struct {
			Building  string `db:"building"`
			Cohort    string `db:"cohort"`
			HomeVisit bool   `db:"home_visit"`
			Name      string `db:"name"`
			IDNumber  string `db:"id_number"`
			Phone     string `db:"phone"`
		}
		if err := s.DB().GetContext(ctx, &got, `SELECT r.building, r.cohort, r.home_visit, c.name, c.id_number, c.phone
			FROM residents r JOIN muster_read_contacts(ARRAY[(SELECT id FROM residents WHERE code = $1)], 'copy test') c
			ON c.resident_id = r.id WHERE r.code = $1`, want.Code); err != nil {
			t.Fatal(err)
		}
		cohort := want.Cohort
		if cohort == "" {
			cohort = scenario.DefaultCohort
		}
		if got.Building != want.Building || got.Cohort != cohort || got.HomeVisit != want.HomeVisit ||
			got.Name != want.Name || got.IDNumber != want.IDNumber || got.Phone != want.Phone {
			t.Errorf("resident %s = %+v, want %+v", want.Code, got, want)
		}
	}

	// A tube with a tab and a backslash is refused as unknown resident,
	// and its text comes back as sent.
	res, err := s.IngestSamples(ctx, store.IngestBatch{Incident: "xd-odd", Rows: []store.SampleRow{
		{Tube: "T\\1\t2", Resident: "r-odd-1\nx", Point: "p", TakenAt: time.Now()},
	}})
	if err != nil {
		t.Fatalf("IngestSamples() = %v", err)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Tube != "T\\1\t2" || res.Rejected[0].Reason != `unknown resident "r-odd-1`+"\n"+`x"` {
		t.Errorf("IngestSamples() rejected = %+v, want the tube and resident as sent", res.Rejected)
	}
}
