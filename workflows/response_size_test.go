package workflows

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/runbook"
)

// cityTestingRunbook tests every community of a district, one round each.
const cityTestingRunbook = `
name: city-round
title: City testing round
level: 2
area: district
steps:
  - id: testing
    title: Testing round
    for_each:
      areas:
        level: community
      steps:
        - id: round
          title: Mass testing round
          kind: mass-testing
          params:
            deadline: 7h
`

// cityResponse is a response whose for_each has tested n communities, its
// tree built as the interpreter builds it (build, child, the for_each's
// one-step items) and filled in as the steps' starts and final reports
// fill it.
func cityResponse(t testing.TB, n int) *response {
	t.Helper()
	def, err := runbook.Parse("city-round version 1", []byte(cityTestingRunbook), Kinds)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	district := activities.Area{ID: 1, Code: "xiaodian", Name: "Xiaodian", Path: "xiaodian", Level: "district"}
	r := &response{in: ResponseInput{Incident: "xd-0403", Runbook: "city-round", Area: "xiaodian"}.WithDefaults(),
		id: ResponseWorkflowID("xd-0403"), def: *def, nodes: map[string]*Node{}}
	r.p = ResponseProgress{Incident: "xd-0403", Runbook: "city-round", Version: 1, Title: def.Title, Level: 2, Area: district,
		State: ResponseClosed, TimeScale: 1, StartedAt: start, FinishedAt: start.Add(8 * time.Hour), Locale: "en",
		Root: &Node{ID: def.Name, Title: def.Title, Type: "sequence", State: StateDone, StartedAt: start, FinishedAt: start.Add(8 * time.Hour)}}
	r.index(r.p.Root)
	r.build(r.p.Root, def.Steps)
	fe := r.nodes["testing"]
	fe.State, fe.Detail, fe.StartedAt, fe.FinishedAt = StateDone, fmt.Sprintf("%d areas", n), start, start.Add(8*time.Hour)
	for i := range n {
		code := fmt.Sprintf("community-%04d", i)
		ar := activities.Area{ID: int64(100 + i), Code: code, Name: fmt.Sprintf("Community %04d", i),
			Path: "xiaodian/sub-district-" + fmt.Sprint(i%12) + "/" + code, Level: "community"}
		item := r.child(fe, join(fe.Path, ar.Code), ar.Code, KindMassTesting, &ar)
		item.Title = "Mass testing round"
		item.StartedAt = start.Add(time.Duration(i) * time.Second)
		item.WorkflowID = r.id + "/" + item.Path
		item.Outputs = map[string]float64{"positives": float64(i % 3), "sampled": 7013, "expected": 7100, "missing": 87}
		item.State = StateDone
		item.Detail = short(fmt.Sprintf("round 1: %d of %d sampled, %d positive, %d missing", 7013, 7100, i%3, 87))
		item.FinishedAt = start.Add(7*time.Hour + time.Duration(i)*time.Second)
	}
	// A few steps that stay whole among the packed ones: one still running,
	// one held, one that stalled on the way, one never started.
	items := fe.Children
	items[7].State, items[7].FinishedAt = StateRunning, time.Time{}
	items[100].Held = true
	items[1500].Stalls, items[1500].LastError = 2, "connection refused"
	items[1999].State, items[1999].StartedAt, items[1999].WorkflowID, items[1999].Outputs = StateSkipped, time.Time{}, "", nil
	items[1998].Area.Level = "compound"
	return r
}

// A city round over 2,000 communities: the result the response returns
// and the input it continues as new with stay under 512 KiB (the server
// warns at 512 KiB and refuses 2 MiB), and both decode to the whole tree.
func TestResponseResultSizeOfACity(t *testing.T) {
	const communities, budget = 2000, 512 << 10
	r := cityResponse(t, communities)
	full, _ := json.Marshal(r.p)
	res, next := r.result(true), r.nextInput(true)
	resSize, nextSize := payloadSize(t, res), payloadSize(t, next)
	t.Logf("%d communities: tree %d bytes as kept (%d per community); result %d bytes, continue-as-new input %d bytes",
		communities, len(full), len(full)/communities, resSize, nextSize)
	if resSize > budget {
		t.Errorf("result of %d communities = %d bytes, want at most %d", communities, resSize, budget)
	}
	if nextSize > budget {
		t.Errorf("continue-as-new input of %d communities = %d bytes, want at most %d", communities, nextSize, budget)
	}

	// Whoever reads the result (the CLI, the tests, the next run) sees
	// the tree the response kept.
	var got ResponseProgress
	decode(t, res, &got)
	if !reflect.DeepEqual(got, r.p) {
		t.Errorf("decoded result differs from the response's progress")
		diffTrees(t, got.Root, r.p.Root)
	}
	var in ResponseInput
	decode(t, next, &in)
	if in.Resume == nil {
		t.Fatalf("continue-as-new input carries no state")
	}
	nr := &response{in: in, nodes: map[string]*Node{}}
	nr.resume()
	if !reflect.DeepEqual(nr.p, r.p) {
		t.Errorf("resumed progress differs from the response's progress")
		diffTrees(t, nr.p.Root, r.p.Root)
	}
}

func payloadSize(t *testing.T, v any) int {
	t.Helper()
	pl, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(pl.GetData())
}

func decode(t *testing.T, v, out any) {
	t.Helper()
	pl, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := converter.GetDefaultDataConverter().FromPayload(pl, out); err != nil {
		t.Fatal(err)
	}
}

// diffTrees reports the first nodes that differ.
func diffTrees(t *testing.T, got, want *Node) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("node = %v, want %v", got, want)
		}
		return
	}
	g, w := *got, *want
	g.Children, w.Children = nil, nil
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Errorf("node %q = %s, want %s", want.Path, gj, wj)
		return
	}
	if len(got.Children) != len(want.Children) {
		t.Errorf("node %q has %d children, want %d", want.Path, len(got.Children), len(want.Children))
		return
	}
	for i := range want.Children {
		diffTrees(t, got.Children[i], want.Children[i])
	}
}
