package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/store"
)

func TestCloseRoundAndMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	assigned := assignedPoints(t, s, plan.RoundID)
	codes := residentCodes(t, s, "longbao-jiayuan", false, 1000)
	rows := sampleRows(codes, assigned["longbao-jiayuan"], "T")
	for i := range rows {
		rows[i].TakenAt = opens.Add(time.Duration(i) * time.Second)
	}
	ingest(t, s, "xd-0403", rows)

	// While the round is open the list is live.
	live, err := s.Missing(ctx, plan.RoundID, 0, 10)
	if err != nil || len(live) != 10 {
		t.Fatalf("Missing(open round) = %d rows, %v, want a page of 10", len(live), err)
	}

	e := roundEvent("xd-0403", "close")
	closed, err := s.CloseRound(ctx, plan.RoundID, e)
	want := store.RoundClose{Expected: 7013, Sampled: 1000, Missing: 7013 - 1000, HomeVisitsOpen: closed.HomeVisitsOpen}
	if err != nil || closed != want {
		t.Fatalf("CloseRound() = %+v, %v, want %+v", closed, err, want)
	}
	if again, err := s.CloseRound(ctx, plan.RoundID, e); err != nil || again != closed {
		t.Errorf("CloseRound() again = %+v, %v, want %+v", again, err, closed)
	}
	if n := count(t, s, `SELECT count(*) FROM step_events WHERE step = 'close'`); n != 1 {
		t.Errorf("close events = %d, want 1", n)
	}

	var all []store.MissingResident
	var after int64
	for {
		page, err := s.Missing(ctx, plan.RoundID, after, 2500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != closed.Missing {
		t.Errorf("Missing() pages hold %d residents, want %d", len(all), closed.Missing)
	}
	sampled := map[string]bool{}
	for _, c := range codes {
		sampled[c] = true
	}
	home := 0
	for i, m := range all {
		if sampled[m.Code] {
			t.Errorf("Missing() lists %s, who was sampled", m.Code)
		}
		if i > 0 && m.ID <= all[i-1].ID {
			t.Errorf("Missing() IDs not increasing at %d", i)
		}
		if m.HomeVisit {
			home++
		}
	}
	if home != 70 {
		t.Errorf("Missing() home-visit residents = %d, want 70", home)
	}
	contacts, err := s.MissingContacts(ctx, plan.RoundID, 0, 3, "call-back test")
	if err != nil || len(contacts) != 3 {
		t.Fatalf("MissingContacts() = %v, %v, want 3", contacts, err)
	}
	for i, c := range contacts {
		if c.MissingResident != all[i] || !strings.HasSuffix(c.Name, "(fake)") || !strings.HasPrefix(c.Phone, "000-") {
			t.Errorf("MissingContacts()[%d] = %s, %+v, want %+v with a name and phone", i, c.Code, c.MissingResident, all[i])
		}
		if s := fmt.Sprint(c); strings.Contains(s, c.Name) || strings.Contains(s, c.Phone) {
			t.Errorf("printing a contact shows personal details: %q", s)
		}
	}

	// A closed round takes no new samples; a re-sent batch is still known.
	res := ingest(t, s, "xd-0403", rows[:5])
	if res.AlreadyRecorded != 5 || res.Accepted != 0 {
		t.Errorf("IngestSamples(re-sent after close) = %+v, want 5 already recorded", res)
	}
	// After its late grace a closed round takes positives only (see
	// TestLateResults for samples within the grace).
	if err := s.SetLateGrace(ctx, plan.RoundID, 0); err != nil {
		t.Fatal(err)
	}
	late := sampleRows(residentCodes(t, s, "heping-yuan", false, 1), assigned["heping-yuan"], "LATE")
	res = ingest(t, s, "xd-0403", late)
	if len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Reason, "only positive results are taken") {
		t.Errorf("IngestSamples(after close and grace) = %+v, want the row rejected: only positives after the grace", res)
	}
}

// TestMissingOfOpenRoundFails checks that a failed read of an open round's
// missing list is an error, not an empty list: an empty call-back list
// reads as "everybody has been sampled".
func TestMissingOfOpenRoundFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	live, err := s.Missing(ctx, plan.RoundID, 0, 5)
	if err != nil || len(live) != 5 {
		t.Fatalf("Missing(open round) = %d rows, %v, want a page of 5", len(live), err)
	}
	// A row the list cannot read: the driver refuses a NULL building, an
	// error on the reader's side that leaves the transaction able to commit.
	if _, err := s.DB().ExecContext(ctx, `ALTER TABLE residents ALTER COLUMN building DROP NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE residents SET building = NULL WHERE id = $1`, live[0].ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Missing(ctx, plan.RoundID, 0, 5); err == nil {
		t.Errorf("Missing(open round, a row unreadable) = %d rows, nil; want an error", len(got))
	}
	if got, err := s.MissingContacts(ctx, plan.RoundID, 0, 5, "call-back test"); err == nil {
		t.Errorf("MissingContacts(open round, a row unreadable) = %d rows, nil; want an error", len(got))
	}
}

func TestRoster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testingStore(t)
	plan := openRound(t, s, "xd-0403", "longbao", 1)
	assigned := assignedPoints(t, s, plan.RoundID)
	var all []store.RosterEntry
	var after int64
	for {
		page, err := s.Roster(ctx, plan.RoundID, after, 3000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != 7013 {
		t.Fatalf("Roster() = %d residents, want 7013", len(all))
	}
	_, split := assignments(t, s, plan.RoundID)
	for _, r := range all {
		compound := strings.TrimSuffix(r.Code[2:], r.Code[strings.LastIndex(r.Code, "-"):])
		switch {
		case r.HomeVisit && r.Point != "":
			t.Errorf("Roster() %s is visited at home but has point %s", r.Code, r.Point)
		case !r.HomeVisit && split[compound] != nil:
			// Split by building: the point of the resident's building.
			if !slices.Contains(split[compound], r.Point) {
				t.Errorf("Roster() %s point = %q, want one of its compound's buildings' %v", r.Code, r.Point, split[compound])
			}
		case !r.HomeVisit && r.Point != assigned[compound]:
			t.Errorf("Roster() %s point = %s, want %s (its compound's)", r.Code, r.Point, assigned[compound])
		}
	}
}
