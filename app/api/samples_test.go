package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestSamplesOverHTTP uploads batches of samples over real HTTP; Temporal is
// not needed.
func TestSamplesOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test")

	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	opens := time.Date(2022, 4, 3, 17, 0, 0, 0, cst)
	plan, err := st.OpenRound(ctx, "xd-0403", longbao.ID, 1, opens, opens.Add(7*time.Hour),
		domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403/testing", Step: "open", State: "done"})
	if err != nil {
		t.Fatal(err)
	}
	roster, err := st.Roster(ctx, plan.RoundID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var people []store.RosterEntry
	for _, r := range roster {
		if !r.HomeVisit {
			people = append(people, r)
		}
	}
	line := func(tube string, r store.RosterEntry, at string) string {
		return fmt.Sprintf("%s,%s,%s,%s\n", tube, r.Code, r.Point, at)
	}
	csv := "tube,resident,point,taken_at\n" +
		line("H-1", people[0], "2022-04-03T17:05:00+08:00") +
		line("H-2", people[1], "2022-04-03T17:06:00+08:00") +
		line("H-3", people[2], "2022-04-03T08:00:00+08:00") +
		line("H-4", people[3], "soon")
	post := func(t *testing.T, path, contentType, body string) reply {
		t.Helper()
		return c.with(t).doAs("POST", path, body, map[string]string{"Content-Type": contentType})
	}

	t.Run("csv", func(t *testing.T) {
		r := post(t, "/v1/incidents/xd-0403/samples", "text/csv; charset=utf-8", csv)
		var res store.IngestResult
		r.decode(t, &res)
		if r.status != http.StatusOK || res.Rows != 4 || res.Accepted != 2 || len(res.Rejected) != 2 {
			t.Fatalf("POST samples (csv) = %s, want 200 with 2 accepted and 2 rejected", r)
		}
		if res.Rejected[0].Line != 4 || !strings.Contains(res.Rejected[0].Reason, "outside round 1") ||
			res.Rejected[1].Line != 5 || !strings.Contains(res.Rejected[1].Reason, `taken_at "soon" is not a time`) {
			t.Errorf("POST samples (csv) rejected = %+v, want line 4 outside the round and line 5 not a time", res.Rejected)
		}
		r = post(t, "/v1/incidents/xd-0403/samples", "text/csv", csv)
		r.decode(t, &res)
		if r.status != http.StatusOK || res.AlreadyRecorded != 2 || res.Accepted != 0 {
			t.Errorf("POST samples (csv) again = %s, want 200 with 2 already recorded", r)
		}
	})

	t.Run("json", func(t *testing.T) {
		body := SampleBatch{Batch: "station-3-0001", Rows: []store.SampleRow{
			{Tube: "J-1", Resident: people[5].Code, Point: people[5].Point, TakenAt: opens.Add(time.Hour)},
			{Tube: "H-1", Resident: people[0].Code, Point: people[0].Point, TakenAt: opens.Add(5 * time.Minute), Result: "negative"},
			{Tube: "J-3", Resident: "r-nobody", Point: people[5].Point, TakenAt: opens.Add(time.Hour)},
		}}
		r := c.with(t).want(http.StatusOK, "POST", "/v1/incidents/xd-0403/samples", body)
		var res store.IngestResult
		r.decode(t, &res)
		if res.BatchID != "station-3-0001" || res.Accepted != 1 || res.ResultsUpdated != 1 || len(res.Rejected) != 1 || res.Rejected[0].Line != 3 {
			t.Errorf("POST samples (json) = %s, want 1 accepted, 1 result, line 3 rejected", r)
		}
	})

	t.Run("nothing good", func(t *testing.T) {
		r := post(t, "/v1/incidents/xd-0403/samples", "text/csv", "tube,resident,point,taken_at\nX-1,r-nobody,longbao-sampling-01,2022-04-03T17:05:00+08:00\n")
		var res store.IngestResult
		r.decode(t, &res)
		if r.status != http.StatusUnprocessableEntity || len(res.Rejected) != 1 {
			t.Errorf("POST samples (all rejected) = %s, want 422 listing the row", r)
		}
	})

	t.Run("refused whole", func(t *testing.T) {
		before := 0
		if err := st.DB().GetContext(ctx, &before, `SELECT count(*) FROM samples`); err != nil {
			t.Fatal(err)
		}
		cc := c.with(t)
		for _, tt := range []struct {
			name, path, ct, body string
			status               int
			field, words         string
		}{
			{"missing column", "/v1/incidents/xd-0403/samples", "text/csv", "tube,resident,taken_at\nX,r,2022-04-03 17:00\n", 400, "body", `no "point" column`},
			{"wrong field count", "/v1/incidents/xd-0403/samples", "text/csv", "tube,resident,point,taken_at\nX-1,r,p,2022-04-03 17:00\nX-2,r\n", 400, "body", "body:3: wrong number of fields"},
			{"over max", "/v1/incidents/xd-0403/samples?max=1", "text/csv", csv, 400, "body", "more than 1 rows"},
			{"json over max", "/v1/incidents/xd-0403/samples?max=1", "application/json", `{"rows": [{"tube": "a", "resident": "b", "point": "", "taken_at": "2022-04-03T17:00:00Z"}, {"tube": "c", "resident": "d", "point": "", "taken_at": "2022-04-03T17:00:00Z"}]}`, 400, "rows", "more than the 1"},
			{"empty json", "/v1/incidents/xd-0403/samples", "application/json", `{"rows": []}`, 400, "rows", "no rows"},
			{"unknown json field", "/v1/incidents/xd-0403/samples", "application/json", `{"rows": [], "station": 3}`, 400, "station", "unknown field"},
			{"bad incident", "/v1/incidents/Bad_One/samples", "text/csv", csv, 400, "incident", "lower-case"},
			{"unknown parameter", "/v1/incidents/xd-0403/samples?round=1", "text/csv", csv, 400, "round", "unknown query parameter"},
			{"other media type", "/v1/incidents/xd-0403/samples", "application/xml", "<rows/>", 415, "", "text/csv"},
		} {
			r := cc.doAs("POST", tt.path, tt.body, map[string]string{"Content-Type": tt.ct})
			e := r.errorBody(t)
			if r.status != tt.status || e.Field != tt.field || !strings.Contains(e.Error, tt.words) {
				t.Errorf("POST samples (%s) = %s (field %q), want %d, field %q, mentioning %q", tt.name, r, e.Field, tt.status, tt.field, tt.words)
			}
		}
		after := 0
		if err := st.DB().GetContext(ctx, &after, `SELECT count(*) FROM samples`); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("samples after refused batches = %d, want %d", after, before)
		}
	})

	t.Run("larger than 1 MiB", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("tube,resident,point,taken_at\n")
		for i := 0; b.Len() < 2<<20; i++ {
			fmt.Fprintf(&b, "BIG-%07d,r-nobody,longbao-sampling-01,2022-04-03T17:05:00+08:00\n", i)
		}
		r := post(t, "/v1/incidents/xd-0403/samples?max=100000", "text/csv", b.String())
		var res store.IngestResult
		r.decode(t, &res)
		if r.status != http.StatusUnprocessableEntity || res.Rows < 30000 {
			t.Errorf("POST samples (2 MiB) = %d with %d rows, want 422 listing every row (the route takes up to 32 MiB)", r.status, res.Rows)
		}
	})
}
