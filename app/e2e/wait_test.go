package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/workflows"
)

// observationRunbook waits out an observation period between two notices;
// nobody deciding on the approval in time approves it.
const observationRunbook = `name: observation
title: Observation period
level: 2
area: community
steps:
  - id: announce
    title: Tell residents an observation period starts
    kind: notice
    params:
      audience: residents
      topic: observation-started
      body: "{area} is under observation (incident {incident})."
  - id: observe
    title: Observe for two hours
    kind: wait
    params:
      duration: 2h
  - id: confirm
    title: End the observation?
    kind: approval
    params:
      question: End the observation of {area}?
      timeout: 1h
      default: approve
  - id: ended
    title: Tell residents the observation ended
    kind: notice
    params:
      audience: residents
      topic: observation-ended
      body: "The observation of {area} has ended."
`

// TestObservationWaitEndToEnd runs a wait step on a real dev server: the
// response waits the runbook's period, the approval's timeout applies its
// default, and the response closes with every step done.
func TestObservationWaitEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	if _, err := runbook.Parse("observation", []byte(observationRunbook), workflows.Kinds); err != nil {
		t.Fatalf("observation runbook: %v", err)
	}
	if _, _, err := s.st.PublishRunbook(ctx, "observation", "Observation period", []byte(observationRunbook), "e2e"); err != nil {
		t.Fatal(err)
	}
	const scale = 3600
	in := workflows.ResponseInput{Incident: pgtest.Name("obs"), Runbook: "observation", Area: "longbao", TimeScale: scale, RequestedBy: "e2e"}
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test")
	if err != nil {
		t.Fatalf("StartResponse() = %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var final workflows.ResponseProgress
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		t.Fatalf("response result = %v", err)
	}
	if final.State != workflows.ResponseClosed {
		t.Errorf("response = %s, want closed", final.State)
	}
	for _, n := range final.Leaves() {
		if n.State != workflows.StateDone {
			t.Errorf("step %s = %s, want done", n.Path, n.State)
		}
	}
	observe := final.Find("observe")
	if observe == nil {
		t.Fatal("no observe step in the progress")
	}
	if took := observe.FinishedAt.Sub(observe.StartedAt); took < 2*time.Hour/scale {
		t.Errorf("wait step took %s, want at least %s (2h at time scale %d)", took, 2*time.Hour/scale, scale)
	}
}

// sealNowhereRunbook seals compounds under an area Xiaodian does not have,
// beside a notice, then goes on to testing: published before the scenario
// was loaded, it reaches a worker unchecked.
const sealNowhereRunbook = `name: seal-nowhere
title: Seal under an unknown area
level: 1
area: community
steps:
  - id: setup
    title: Seal and tell
    parallel:
      - id: seal
        title: Seal every compound
        for_each:
          areas:
            level: compound
            under: xiaodian/nowhere
          steps:
            - id: seal-compound
              title: Seal the compound
              kind: seal
      - id: tell
        title: Tell residents
        kind: notice
        params: {audience: residents, topic: told, body: "Stay home."}
  - id: test
    title: Testing starts
    kind: notice
    params: {audience: residents, topic: testing, body: "Testing starts."}
`

// TestUnknownAreaRefusedAtOpen: a response whose runbook names an unknown
// area fails at once when it opens, naming the runbook path and the
// area's code, before anything is sealed, told or recorded.
func TestUnknownAreaRefusedAtOpen(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	if _, _, err := s.st.PublishRunbook(ctx, "seal-nowhere", "Seal under an unknown area", []byte(sealNowhereRunbook), "e2e"); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("nowhere")
	in := workflows.ResponseInput{Incident: incident, Runbook: "seal-nowhere", Area: "longbao", TimeScale: 3600, RequestedBy: "e2e"}
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, in, "test")
	if err != nil {
		t.Fatalf("StartResponse() = %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = s.c.GetWorkflow(rctx, id, "").Get(rctx, nil)
	if err == nil || !strings.Contains(err.Error(), `steps[0].parallel[0].for_each.areas.under: unknown area "xiaodian/nowhere"`) {
		t.Fatalf("response = %v, want a failure naming the path and the area", err)
	}
	var rows int
	if err := s.st.DB().GetContext(ctx, &rows, `SELECT (SELECT count(*) FROM responses WHERE incident = $1) + (SELECT count(*) FROM notices WHERE incident = $1)`, incident); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("rows written for the refused response = %d, want 0", rows)
	}
}
