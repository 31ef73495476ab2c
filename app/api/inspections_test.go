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

// TestInspectionOverHTTPBadInput checks the inspection endpoints' answers
// that the records settle before any workflow is asked: unknown incidents
// and findings, missing fields, a closed finding.
func TestInspectionOverHTTPBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test")

	const inc, wf = "insp-http", "response/insp-http/inspect"
	ev := func(step string) domain.Event {
		return domain.Event{Incident: inc, WorkflowID: wf, Step: step, State: "done"}
	}
	plan, err := st.OpenInspectionRound(ctx, store.RoundOrder{Incident: inc, Step: "inspect", WorkflowID: wf, Round: 1, Area: "xiaodian",
		SiteKinds: []string{"key-site"}, Inspectors: []string{"inspector-01"}}, ev("round"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := st.ReportSite(ctx, store.SiteReport{RoundID: plan.RoundID, Site: "beiying-key-01",
		Findings: []domain.NewFinding{{Category: "mask-checks", Severity: "high", Description: "no checks"}}}, ev("report"))
	if err != nil {
		t.Fatal(err)
	}
	id := rep.Findings[0].ID
	if _, err := st.AssignFinding(ctx, id, time.Now().Add(time.Hour), ev("assign")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RectifyFinding(ctx, id, ev("rectify")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReinspectFinding(ctx, store.Reinspection{FindingID: id, By: "inspector-01", Passed: true}, ev("reinspect")); err != nil {
		t.Fatal(err)
	}

	var report store.InspectionReport
	r := c.do("GET", "/v1/incidents/"+inc+"/inspection", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET inspection = %s, want 200", r)
	}
	r.decode(t, &report)
	if report.Sites != 55 || report.SitesReported != 1 || report.Total.Found != 1 || report.Total.Rectified != 1 {
		t.Errorf("GET inspection = %d sites, %d reported, %+v; want 55, 1, one found and rectified", report.Sites, report.SitesReported, report.Total)
	}
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
		field, want  string
	}{
		{"GET", "/v1/incidents/nobody-here/inspection", nil, 404, "incident", "no inspection"},
		{"POST", "/v1/incidents/nobody-here/inspection/sites", map[string]any{"site": "beiying"}, 404, "incident", "no inspection"},
		{"POST", "/v1/incidents/" + inc + "/inspection/sites", map[string]any{}, 400, "site", "site is required"},
		{"POST", "/v1/incidents/" + inc + "/inspection/sites", map[string]any{"site": "beiying", "colour": "red"}, 400, "colour", "unknown field"},
		{"POST", "/v1/incidents/" + inc + "/findings/abc/rectify", map[string]any{}, 400, "finding", "finding number"},
		{"POST", "/v1/incidents/" + inc + "/findings/999999/rectify", map[string]any{}, 404, "finding", "no finding 999999"},
		{"POST", "/v1/incidents/other-incident/findings/" + fmt.Sprint(id) + "/rectify", map[string]any{}, 404, "finding", "no finding"},
		{"POST", "/v1/incidents/" + inc + "/findings/" + fmt.Sprint(id) + "/rectify", map[string]any{}, 409, "", "is closed"},
		{"POST", "/v1/incidents/" + inc + "/findings/" + fmt.Sprint(id) + "/reinspect", map[string]any{}, 400, "passed", "passed is required"},
		{"POST", "/v1/incidents/" + inc + "/findings/" + fmt.Sprint(id) + "/reinspect", map[string]any{"by": "inspector-01", "passed": true}, 403, "by", "you act as test-inspector"},
		{"POST", "/v1/incidents/" + inc + "/findings/" + fmt.Sprint(id) + "/reinspect", map[string]any{"passed": true}, 409, "", "is closed"},
	} {
		r := c.do(tt.method, tt.path, tt.body)
		e := r.errorBody(t)
		if r.status != tt.status || e.Field != tt.field || !strings.Contains(e.Error, tt.want) {
			t.Errorf("%s %s = %s (field %q), want %d naming %q with %q", tt.method, tt.path, r, e.Field, tt.status, tt.field, tt.want)
		}
	}
}
