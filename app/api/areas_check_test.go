package api

import (
	"context"
	"testing"

	"go.temporal.io/sdk/client"
)

// sealNowhere was published before the scenario it names was loaded: its
// for_each looks under an area Xiaodian does not have.
const sealNowhere = `name: seal-nowhere
title: Seal under an unknown area
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas:
        level: compound
        under: xiaodian/nowhere
      steps:
        - id: seal-compound
          kind: seal
`

// TestRespondRefusesUnknownArea: a response with a runbook that names an
// area the loaded scenario lacks is refused before anything starts, with
// the runbook path and the area's code.
func TestRespondRefusesUnknownArea(t *testing.T) {
	st := referenceStore(t)
	if _, _, err := st.PublishRunbook(context.Background(), "seal-nowhere", "Seal under an unknown area", []byte(sealNowhere), "test"); err != nil {
		t.Fatal(err)
	}
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)
	c.wantError(400, "runbook", "POST", "/v1/responses",
		map[string]any{"incident": "xd-0404", "runbook": "seal-nowhere", "area": "longbao"},
		`steps[0].for_each.areas.under`, `unknown area "xiaodian/nowhere"`)
}
