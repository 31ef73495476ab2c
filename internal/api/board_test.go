package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/store"
)

type boardAreasReply struct {
	Areas []store.BoardArea `json:"areas"`
}

// TestBoardPageAndAreas covers the board's page, its assets and the area
// drill-down, which read the database alone.
func TestBoardPageAndAreas(t *testing.T) {
	ctx := context.Background()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test")

	for _, tt := range []struct{ accept, lang, want string }{
		{"", "en", "Muster live board"},
		{"zh-CN,zh;q=0.9,en;q=0.5", "zh-CN", "Muster 实时看板"},
		{"fr-FR", "en", "Muster live board"},
	} {
		r := c.doWith("GET", "/board", nil, map[string]string{"Accept-Language": tt.accept})
		body := string(r.body)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /board (%s) = %d %s", tt.accept, r.status, r.header.Get("Content-Type"))
		}
		if !strings.Contains(body, `<html lang="`+tt.lang+`">`) || !strings.Contains(body, tt.want) {
			t.Errorf("GET /board with Accept-Language %q: want lang %s and %q in\n%s", tt.accept, tt.lang, tt.want, body)
		}
		if strings.Contains(body, `src="http`) || strings.Contains(body, `href="http`) {
			t.Errorf("GET /board loads something from elsewhere:\n%s", body)
		}
	}
	if r := c.doWith("GET", "/board/assets/board.js", nil, nil); r.status != 200 || !strings.Contains(string(r.body), "/v1/board/") {
		t.Errorf("GET /board/assets/board.js = %d", r.status)
	}
	if r := c.doWith("GET", "/board/assets/board.css", nil, nil); r.status != 200 || r.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("GET /board/assets/board.css = %d %s", r.status, r.header.Get("Content-Type"))
	}
	c.wantError(404, "file", "GET", "/board/assets/secret.txt", nil)
	if r := c.doWith("GET", "/v1/board/xd-b1/areas", nil, nil); r.status != 401 {
		t.Errorf("GET /v1/board/xd-b1/areas without a token = %d, want 401", r.status)
	}

	// A testing round over Longbao, with samples from one compound.
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Now().Add(-time.Hour)
	plan, err := st.OpenRound(ctx, "xd-b1", longbao.ID, 1, opens, opens.Add(7*time.Hour),
		store.Event{Incident: "xd-b1", WorkflowID: "response/xd-b1/testing", Step: "open-round", State: "done", Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	roster, err := st.Roster(ctx, plan.RoundID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.SampleRow
	for i, r := range roster {
		if !r.HomeVisit {
			rows = append(rows, store.SampleRow{Tube: "B" + r.Code, Resident: r.Code, Point: r.Point, TakenAt: opens.Add(time.Duration(i) * time.Minute)})
		}
	}
	res, err := st.IngestSamples(ctx, store.IngestBatch{Incident: "xd-b1", Rows: rows})
	if err != nil || res.Accepted < 40 {
		t.Fatalf("IngestSamples() = %+v, %v; want most of %d accepted", res, err, len(rows))
	}
	accepted := res.Accepted

	level := func(parent string) map[string]store.BoardArea {
		t.Helper()
		path := "/v1/board/xd-b1/areas"
		if parent != "" {
			path += "?parent=" + parent
		}
		var got boardAreasReply
		c.want(200, "GET", path, nil).decode(t, &got)
		out := map[string]store.BoardArea{}
		for _, a := range got.Areas {
			out[a.Code] = a
		}
		return out
	}
	top := level("")
	if a, ok := top["xiaodian"]; !ok || a.State != "testing" || a.Children != 12 || a.Sampled != accepted {
		t.Errorf("top level = %+v, want xiaodian testing with 12 sub-districts and %d sampled", top, accepted)
	}
	parts := strings.Split(longbao.Path, "/")
	subs := level("xiaodian")
	testing := 0
	for code, a := range subs {
		if a.State == "testing" {
			testing++
			if code != parts[1] {
				t.Errorf("sub-district %s is testing; only %s holds Longbao", code, parts[1])
			}
		} else if a.State != "calm" {
			t.Errorf("sub-district %s state %q, want calm", code, a.State)
		}
	}
	if len(subs) != 12 || testing != 1 {
		t.Errorf("sub-districts: %d, %d testing; want 12, 1", len(subs), testing)
	}
	compounds := level("longbao")
	pop, sampled := 0, 0
	for _, a := range compounds {
		pop += a.Population
		sampled += a.Sampled
		if a.State != "testing" || a.Level != "compound" || a.Compounds != 1 {
			t.Errorf("compound %+v, want testing, level compound", a)
		}
	}
	if len(compounds) != 6 || pop != 7013 || sampled != accepted {
		t.Errorf("Longbao: %d compounds, population %d, sampled %d; want 6, 7013, %d", len(compounds), pop, sampled, accepted)
	}
	c.wantError(404, "parent", "GET", "/v1/board/xd-b1/areas?parent=atlantis", nil)
	c.wantError(400, "depth", "GET", "/v1/board/xd-b1/areas?depth=3", nil)
}
