package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/runbook"
)

// testKinds is a registry of one kind with a default, as the worker's is.
var testKinds = runbook.Registry{
	"notice": {Name: "notice", Params: map[string]runbook.Param{
		"body":     {Type: runbook.TypeString, Required: true},
		"audience": {Type: runbook.TypeString, Default: "residents"},
	}},
}

const tellCompounds = `name: tell-compounds
title: Tell every compound
level: 2
area: community
steps:
  - id: tell
    for_each:
      areas:
        level: compound
        under: %s
      steps:
        - id: tell-compound
          kind: notice
          params: {body: stay home}
`

// TestOpenResponseParses: the activity that opens a response returns the
// runbook parsed and completed with the defaults of its registry, so the
// workflow never parses it; a runbook naming an area the scenario lacks is
// refused as bad input, with its path and code, and nothing is recorded.
func TestOpenResponseParses(t *testing.T) {
	a, _ := newActivities(t)
	a.Kinds = testKinds
	ctx := context.Background()
	for _, c := range []struct{ name, under string }{{"tell-ok", "longbao"}, {"tell-bad", "xiaodian/nowhere"}} {
		src := strings.Replace(strings.Replace(tellCompounds, "%s", c.under, 1), "name: tell-compounds", "name: "+c.name, 1)
		if _, _, err := a.Store.PublishRunbook(ctx, c.name, "Tell", []byte(src), "test"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.OpenResponse(ctx, OpenResponseInput{Ref: ref("open-0001"), Runbook: "tell-ok", Area: "longbao"})
	if err != nil {
		t.Fatalf("OpenResponse() = %v", err)
	}
	if res.Definition == nil {
		t.Fatal("OpenResponse().Definition = nil, want the parsed runbook")
	}
	var audience any
	res.Definition.Walk(func(_ string, s *runbook.Step) {
		if s.Kind == "notice" {
			audience = s.Params["audience"]
		}
	})
	if audience != "residents" {
		t.Errorf("notice audience = %v, want the registry's default residents", audience)
	}

	_, err = a.OpenResponse(ctx, OpenResponseInput{Ref: ref("open-0002"), Runbook: "tell-bad", Area: "longbao"})
	checkAppError(t, "OpenResponse(unknown area)", err, ErrBadInput)
	if err == nil || !strings.Contains(err.Error(), `steps[0].for_each.areas.under: unknown area "xiaodian/nowhere"`) {
		t.Errorf("OpenResponse(unknown area) = %v, want the path and the code", err)
	}
	if n := count(t, a, `SELECT count(*) FROM responses WHERE incident = 'open-0002'`); n != 0 {
		t.Errorf("responses recorded for the refused runbook = %d, want 0", n)
	}
}
