package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// TestDistrictParameter: with two districts that share codes loaded, a
// shared code is refused without ?district=, naming both districts, and
// resolved in the district given with it.
func TestDistrictParameter(t *testing.T) {
	st := referenceStore(t)
	f, err := scenario.ReadFile("../../internal/scenario/testdata/districts/tuanbo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(context.Background(), f.Rows()); err != nil {
		t.Fatal(err)
	}
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)
	c.wantError(400, "district", "GET", "/v1/areas?under=longbao", nil, "districts tuanbo, xiaodian", "?district=")
	c.wantError(400, "district", "GET", "/v1/areas/longbao/stock", nil, "districts tuanbo, xiaodian")
	c.wantError(400, "district", "POST", "/v1/responses",
		map[string]any{"incident": "tb-0405", "runbook": "community-outbreak-level-1", "area": "longbao"}, "districts tuanbo, xiaodian")
	c.wantError(404, "under", "GET", "/v1/areas?under=heping-yuan&district=tuanbo", nil, "unknown area")

	r := c.do("GET", "/v1/areas?under=longbao&district=tuanbo&level=compound", nil)
	var got struct{ Areas []AreaView }
	r.decode(t, &got)
	areas := got.Areas
	if len(areas) != 2 {
		t.Errorf("GET /v1/areas?under=longbao&district=tuanbo = %s, want tuanbo's 2 compounds", r)
	}
	for _, a := range areas {
		if !strings.HasPrefix(a.Path, "tuanbo/") {
			t.Errorf("area %s of district tuanbo, want a path under tuanbo/", a.Path)
		}
	}
	r = c.do("GET", "/v1/areas/longbao/stock?district=tuanbo", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "meiteihao-kangning") {
		t.Errorf("GET /v1/areas/longbao/stock?district=tuanbo = %s, want tuanbo's supplier", r)
	}
}

// TestCredentialDistrict: a station's scope names sampling points by code,
// and another district may use the same codes; a credential of one
// district uploads to that district's incidents only.
func TestCredentialDistrict(t *testing.T) {
	ctx := context.Background()
	st := referenceStore(t)
	f, err := scenario.ReadFile("../../internal/scenario/testdata/districts/tuanbo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, f.Rows()); err != nil {
		t.Fatal(err)
	}
	for inc, path := range map[string]string{"xd-0501": "xiaodian/beiying/longbao", "tb-0501": "tuanbo/beiying/longbao"} {
		if err := st.OpenResponse(ctx, store.Response{Incident: inc, Runbook: "r", Level: 1, AreaPath: path},
			domain.Event{Incident: inc, WorkflowID: "wf-" + inc, Step: "open", State: "done", Actor: "api-test"}); err != nil {
			t.Fatal(err)
		}
	}
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)
	tok, digest, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCredential(ctx, store.Credential{Name: "xd-station", Role: RoleStation, Scope: []string{"longbao-sampling-01"}, District: "xiaodian"}, digest, "api-test"); err != nil {
		t.Fatal(err)
	}
	station := c.as(tok)
	const row = "tube,resident,point,taken_at\nT1,r1,longbao-sampling-01,2022-04-03 17:05\n"
	station.wantError(http.StatusForbidden, "incident", "POST", "/v1/incidents/tb-0501/samples", row, "district tuanbo", "district xiaodian only")
	if r := station.do("POST", "/v1/incidents/xd-0501/samples", row); r.status == http.StatusForbidden {
		t.Errorf("POST samples to its own district's incident = %s, want no refusal of the credential", r)
	}
}
