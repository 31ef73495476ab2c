package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/scenario"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// unknownUnder seals the compounds under an area that Xiaodian does not
// have, inside a parallel: the shape that once sealed nothing and went on.
const unknownUnder = `name: seal-unknown
title: Seal under an unknown area
level: 1
area: community
steps:
  - id: setup
    title: Set up
    parallel:
      - id: seal
        title: Seal every compound
        for_each:
          areas:
            level: compound
            under: xiaodian/nowhere
          steps:
            - id: seal-compound
              title: Seal
              kind: seal
      - id: pick
        title: Named compounds
        for_each:
          areas:
            codes: [longbao-jiayuan, no-such-compound]
          steps:
            - id: tell
              title: Tell
              kind: notice
              params: {audience: residents, topic: t, body: b}
`

// TestPublishRefusesUnknownArea: with a scenario loaded, publishing a
// runbook whose for_each names an area the scenario lacks is refused with
// the runbook path and the area's code, and nothing is published; with no
// scenario loaded it is published.
func TestPublishRefusesUnknownArea(t *testing.T) {
	ctx := context.Background()
	empty := pgtest.New(t)
	if _, err := PublishRunbook(ctx, empty, "seal-unknown.yaml", []byte(unknownUnder), "test"); err != nil {
		t.Fatalf("PublishRunbook() with no scenario loaded = %v, want it published", err)
	}

	st := pgtest.New(t)
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	_, err = PublishRunbook(ctx, st, "seal-unknown.yaml", []byte(unknownUnder), "test")
	var errs runbook.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("PublishRunbook() = %v, want two runbook errors", err)
	}
	for i, want := range []string{
		`steps[0].parallel[0].for_each.areas.under: unknown area "xiaodian/nowhere"`,
		`steps[0].parallel[1].for_each.areas.codes[1]: unknown area "no-such-compound"`,
	} {
		if !strings.Contains(errs[i].Error(), want) || !strings.HasPrefix(errs[i].Error(), "seal-unknown.yaml:") {
			t.Errorf("error %d = %q, want the source and %q", i, errs[i].Error(), want)
		}
	}
	if _, err := st.Runbook(ctx, "seal-unknown", 0); err == nil {
		t.Error("the refused runbook was published")
	}
	// Known areas pass.
	fixed := strings.NewReplacer("xiaodian/nowhere", "xiaodian/beiying/longbao", ", no-such-compound", "").Replace(unknownUnder)
	if _, err := PublishRunbook(ctx, st, "seal-unknown.yaml", []byte(fixed), "test"); err != nil {
		t.Errorf("PublishRunbook() of the fixed runbook = %v", err)
	}
}
