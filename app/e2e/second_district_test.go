package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// secondDistrictScale is the responses' time scale: a scenario hour is
// five seconds.
const secondDistrictScale = 720

// secondRoundRunbook is one testing round that must sample 99% to count,
// followed by the lift question (nobody answers: it is rejected) and the
// lift.
const secondRoundRunbook = `name: second-round-e2e
title: One testing round, then the lift question
level: 1
area: community
steps:
  - id: testing
    repeat:
      max: 1
      until:
        all:
          - output: positives
            equals: 0
          - output: coverage
            at_least: 0.99
      steps:
        - id: test
          kind: mass-testing
          params: {deadline: 8h, check_every: 30m, revisit_after: 1h, min_coverage: 0.99, grace: 3h}
  - id: approve-lift
    kind: approval
    params:
      question: "Lift the seals of {area}? Testing: {evidence}."
      timeout: 1h
      default: reject
  - id: lift
    kind: lift
    params: {reason: second district test over}
`

// secondDistrict writes a district of another shape than the reference:
// one sub-district whose community "longbao" (the reference's code) has 11
// compounds of 12,000 residents between them, 2 to 14 gates each, and six
// sampling points of 150 to 400 residents an hour (two named like the
// reference's). Staff and sites reuse the reference's codes. The seed
// fixes every size.
func secondDistrict(seed uint64) (yaml string, residents int) {
	rng := rand.New(rand.NewPCG(seed, 0x5ec0))
	var b strings.Builder
	b.WriteString(`name: haihe-test
description: A generated second district that reuses the reference's codes.
generate_residents:
  seed: 20261205
  home_visit_share: 0.02
areas:
  - code: haihe
    name: Haihe District
    level: district
    staff:
      - {code: teacher, name: Haihe teacher, role: teacher, count: 20}
    sites:
      - code: supermarket
        name: Haihe supermarket
        kind: supermarket
        count: 3
        stock: {grain: 4, oil: 0.4, meat: 1, eggs: 0.6, vegetables: 2, milk: 1}
    areas:
      - code: hh-east
        name: Haihe East Sub-district
        level: sub-district
        areas:
          - code: longbao
            name: Haihe Longbao Community
            level: community
            staff:
              - {code: longbao-grid, name: Haihe grid worker, role: grid-worker, count: 10}
              - {code: longbao-worker, name: Haihe community worker, role: community-worker, count: 10}
            sites:
              - {code: longbao-sampling, name: Haihe sampling point, kind: sampling-point, capacity_per_hour: 400, count: 2}
              - {code: hh-point-300, name: Haihe gym point, kind: sampling-point, capacity_per_hour: 300}
              - {code: hh-point-250, name: Haihe school point, kind: sampling-point, capacity_per_hour: 250}
              - {code: hh-point-200, name: Haihe square point, kind: sampling-point, capacity_per_hour: 200}
              - {code: hh-point-150, name: Haihe clinic point, kind: sampling-point, capacity_per_hour: 150}
            areas:
`)
	// 11 compounds of 12,000 residents, from about 400 to about 2,400.
	const compounds, total = 11, 12000
	weights := make([]int, compounds)
	sum := 0
	for i := range weights {
		weights[i] = 1 + rng.IntN(6)
		sum += weights[i]
	}
	left := total
	for i := range compounds {
		pop := total * weights[i] / sum
		if i == compounds-1 {
			pop = left
		}
		left -= pop
		residents += pop
		fmt.Fprintf(&b, "              - code: hh-k%02d\n                name: Haihe compound %d\n                level: compound\n                population: %d\n                buildings: %d\n                gates:\n",
			i+1, i+1, pop, max(2, pop/150))
		gates := 2 + rng.IntN(13)
		for g := range gates {
			fmt.Fprintf(&b, "                  - {code: g%02d, name: Gate %d, entrance: %v}\n", g+1, g+1, g == 0)
		}
	}
	return b.String(), residents
}

// TestSecondDistrictRoundEndToEnd loads a generated district of another
// shape beside the reference one (a community larger than Longbao, points
// of unequal capacity, the reference's staff and site codes), and runs a
// testing round in each at once. The plan gives every point a finish
// within the deadline; the second district's round misses 2% of its
// residents, closes not clean and no lift follows; a late positive within
// the grace is recorded against the closed round, taken off the missing
// list and reported, and a negative after the grace is refused; nobody is
// both sampled and missing, the workflow's figures are the database's, and
// nothing of one district's response lands in the other's rows.
func TestSecondDistrictRoundEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	text, population := secondDistrict(12)
	f, err := scenario.Parse("haihe.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.LoadScenario(ctx, f.Rows()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.st.PublishRunbook(ctx, "second-round-e2e", "One testing round, then the lift question", []byte(secondRoundRunbook), "e2e"); err != nil {
		t.Fatal(err)
	}
	districts := []string{"haihe", "xiaodian"}
	incidents, ids := map[string]string{}, map[string]string{}
	for _, d := range districts {
		area, err := s.st.AreaIn(ctx, d, "longbao")
		if err != nil {
			t.Fatal(err)
		}
		incidents[d] = pgtest.Name("second-" + d[:2])
		ids[d], _, err = service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{
			Incident: incidents[d], Runbook: "second-round-e2e", Area: area.Path, TimeScale: secondDistrictScale, RequestedBy: "e2e"}, "test")
		if err != nil {
			t.Fatal(err)
		}
	}
	rounds := map[string]store.RoundInfo{}
	for _, d := range districts {
		eventually(t, 60*time.Second, d+" round open", func() (bool, string) {
			rs, err := s.st.OpenRoundsFor(ctx, incidents[d])
			if err != nil || len(rs) == 0 {
				return false, fmt.Sprint(err)
			}
			rounds[d] = rs[0]
			return true, ""
		})
	}

	// The plan: every point's work at its own capacity ends within the
	// deadline, which the points' total capacity allows.
	const deadlineHours = 8.0
	hr := rounds["haihe"]
	plan, err := s.st.RoundPlan(ctx, hr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Expected != population || population <= 7013 {
		t.Fatalf("haihe round expects %d residents, want the community's %d (more than Longbao's 7,013)", plan.Expected, population)
	}
	capacities := map[int]bool{}
	planned := map[string]float64{}
	totalCap, atPoints := 0, 0
	for _, p := range plan.Points {
		capacities[p.CapacityPerHour] = true
		totalCap += p.CapacityPerHour
		atPoints += p.Expected
		planned[p.Code] = float64(p.Expected) / float64(p.CapacityPerHour)
	}
	if len(plan.Points) != 6 || len(capacities) < 5 {
		t.Fatalf("haihe plan has %d points with capacities %v, want 6 of unequal capacity", len(plan.Points), capacities)
	}
	if float64(atPoints)/float64(totalCap) > deadlineHours {
		t.Fatalf("test setup: %d residents at %d an hour do not fit %gh", atPoints, totalCap, deadlineHours)
	}
	for code, h := range planned {
		if h > deadlineHours {
			t.Errorf("point %s planned to finish after %.2fh, past the %gh deadline (total work %.2fh)", code, h, deadlineHours, float64(atPoints)/float64(totalCap))
		}
	}

	// The field: each point samples its queue at its own capacity; in
	// haihe every 50th resident at a point never comes, in xiaodian
	// everyone does. Home-visit residents are sampled at home.
	noShows := map[string][]store.SampleRow{}
	for _, d := range districts {
		r := rounds[d]
		queues, err := s.st.RoundQueues(ctx, r.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		var rows []store.SampleRow
		for _, q := range queues {
			for i, code := range q.Residents {
				at := r.OpensAt.Add(scaledHours(float64(i+1) / float64(q.Capacity)))
				row := store.SampleRow{Tube: "S-" + code, Resident: code, Point: q.PointCode, TakenAt: at, Result: "negative"}
				if d == "haihe" && i%50 == 49 {
					noShows[d] = append(noShows[d], row)
					continue
				}
				rows = append(rows, row)
			}
		}
		var home []string
		if err := s.st.DB().SelectContext(ctx, &home, `SELECT res.code FROM residents res JOIN areas a ON a.id = res.area_id
			JOIN testing_rounds r ON r.id = $1 JOIN areas ra ON ra.id = r.area_id
			WHERE res.home_visit AND (a.path = ra.path OR a.path LIKE ra.path || '/%')`, r.ID); err != nil {
			t.Fatal(err)
		}
		for _, code := range home {
			rows = append(rows, store.SampleRow{Tube: "H-" + code, Resident: code, TakenAt: r.OpensAt.Add(scaledHours(1)), Result: "negative"})
		}
		for i := 0; i < len(rows); i += 5000 {
			res, err := s.st.IngestSamples(ctx, store.IngestBatch{Incident: incidents[d], Rows: rows[i:min(i+5000, len(rows))], Max: 10000})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rejected) > 0 {
				t.Fatalf("%s: batch refused %d rows, first %v", d, len(res.Rejected), res.Rejected[0])
			}
		}
	}

	// Both rounds close at their deadline (haihe) or once everyone is
	// sampled (xiaodian); the step reports what the database counted.
	for _, d := range districts {
		eventually(t, 90*time.Second, d+" testing step done", func() (bool, string) {
			n := testStep(s.responseProgress(t, ids[d]))
			if n == nil {
				return false, "not reached"
			}
			return n.State == workflows.StateDone, n.State
		})
	}
	steps := map[string]*workflows.Node{}
	for _, d := range districts {
		n := testStep(s.responseProgress(t, ids[d]))
		steps[d] = n
		tally, err := s.st.RoundTally(ctx, rounds[d].ID)
		if err != nil {
			t.Fatal(err)
		}
		o := n.Outputs
		if int(o["sampled"]) != tally.Sampled || int(o["missing"]) != tally.Missing || int(o["expected"]) != tally.Expected || int(o["positives"]) != tally.Positives {
			t.Errorf("%s: step outputs %v, database %+v: want the same figures", d, o, tally)
		}
		t.Logf("%s round %d: coverage %.2f%% (%d of %d sampled, %d missing, %d positive), clean=%v: %s",
			d, rounds[d].Round, 100*o["coverage"], tally.Sampled, tally.Expected, tally.Missing, tally.Positives, o["clean"] == 1, n.Detail)
	}
	if o := steps["haihe"].Outputs; o["clean"] != 0 || o["coverage"] >= 0.99 || int(o["missing"]) != len(noShows["haihe"]) {
		t.Errorf("haihe outputs %v, want not clean below 99%% with the %d no-shows missing", o, len(noShows["haihe"]))
	}
	if !strings.Contains(steps["haihe"].Detail, "not clean") {
		t.Errorf("haihe detail %q, want it to say not clean", steps["haihe"].Detail)
	}
	if o := steps["xiaodian"].Outputs; o["clean"] != 1 || o["coverage"] != 1 {
		t.Errorf("xiaodian outputs %v, want clean at 100%%", o)
	}

	// Planned and actual finish per point, in scenario hours from the
	// round's opening.
	for _, d := range districts {
		r := rounds[d]
		pl, err := s.st.RoundPlan(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := s.st.RoundProgress(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pl.Points {
			for _, q := range pr.Points {
				if q.SiteID != p.SiteID {
					continue
				}
				actual := q.LastAt.Sub(r.OpensAt).Hours() * secondDistrictScale
				t.Logf("%s point %-18s %3d/h: %5d expected, planned finish %.2fh, actual %.2fh (%d sampled), deadline %gh",
					d, p.Code, p.CapacityPerHour, p.Expected, float64(p.Expected)/float64(p.CapacityPerHour), actual, q.Sampled, deadlineHours)
				if actual > deadlineHours {
					t.Errorf("%s point %s finished at %.2fh, past the deadline", d, p.Code, actual)
				}
			}
		}
	}

	// Late results against haihe's closed round: a positive within the
	// grace is recorded, taken off the missing list and reported; after
	// the grace a negative is refused.
	hr, err = s.st.RoundByID(ctx, hr.ID)
	if err != nil || hr.Open() {
		t.Fatalf("haihe round = %+v, %v; want closed", hr, err)
	}
	latePos := noShows["haihe"][0]
	latePos.Result = "positive"
	res, err := s.st.IngestSamples(ctx, store.IngestBatch{Incident: incidents["haihe"], Rows: []store.SampleRow{latePos}})
	if err != nil || res.Accepted != 1 || res.Late != 1 || res.LatePositives != 1 {
		t.Fatalf("late positive within the grace = %+v, %v; want recorded late (closed %s ago)", res, err, time.Since(hr.ClosedAt))
	}
	missing, err := s.st.Missing(ctx, hr.ID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		if m.Code == latePos.Resident {
			t.Errorf("late positive %s still on the missing list", latePos.Resident)
		}
	}
	var notices []string
	if err := s.st.DB().SelectContext(ctx, &notices, `SELECT body FROM notices WHERE incident = $1 AND kind = 'testing/1/late-positive' AND audience = 'command center'`, incidents["haihe"]); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 {
		t.Errorf("late-positive notices = %q, want one to the command center", notices)
	}
	graceEnd := hr.ClosedAt.Add(scaledHours(3))
	time.Sleep(time.Until(graceEnd) + time.Second)
	lateNeg := noShows["haihe"][1]
	res, err = s.st.IngestSamples(ctx, store.IngestBatch{Incident: incidents["haihe"], Rows: []store.SampleRow{lateNeg}})
	if err != nil || res.Accepted != 0 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Reason, "after its grace") {
		t.Errorf("negative after the grace = %+v, %v; want refused", res, err)
	}
	tally, err := s.st.RoundTally(ctx, hr.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("haihe after the close: late positive recorded (%d late, %d positive, %d missing, coverage %.2f%%); negative after the grace refused: %s; notice: %s",
		tally.LateResults, tally.Positives, tally.Missing, 100*float64(tally.Sampled)/float64(tally.Expected), res.Rejected[0].Reason, strings.Join(notices, ""))
	if tally.LateResults != 1 || tally.Missing != len(noShows["haihe"])-1 || tally.Positives != 1 {
		t.Errorf("haihe tally after the late results = %+v, want 1 late positive and one fewer missing", tally)
	}

	// Nobody both sampled and missing; the lift is never done in haihe,
	// whose round is no evidence.
	for _, d := range districts {
		var both int
		if err := s.st.DB().GetContext(ctx, &both, `SELECT count(*) FROM round_missing m JOIN samples s ON s.round_id = m.round_id AND s.resident_id = m.resident_id WHERE m.round_id = $1`, rounds[d].ID); err != nil {
			t.Fatal(err)
		}
		if both != 0 {
			t.Errorf("%s: %d residents both sampled and missing", d, both)
		}
	}
	eventually(t, 60*time.Second, "haihe lift question decided", func() (bool, string) {
		n := s.responseProgress(t, ids["haihe"]).Find("approve-lift")
		if n == nil {
			return false, "not reached"
		}
		return n.State != workflows.StateAwaitingDecision && n.State != workflows.StateRunning && n.State != "", n.State
	})
	p := s.responseProgress(t, ids["haihe"])
	ask, lift := p.Find("approve-lift"), p.Find("lift")
	t.Logf("haihe: testing %s %q; approve-lift %s %q", p.Find("testing").State, p.Find("testing").Detail, ask.State, ask.Detail)
	if lift != nil && lift.State == workflows.StateDone {
		t.Errorf("haihe lift done after a round below coverage: %+v", lift)
	}
	question := ""
	if ask.Ask != nil {
		question = ask.Ask.Question["en"]
	}
	t.Logf("haihe lift question: %q", question)
	if !strings.Contains(question, "98% sampled") {
		t.Errorf("lift question %q, want it to show the round's 98%% coverage", question)
	}
	if testing := p.Find("testing"); !strings.Contains(testing.Detail, "without positives = 0 and coverage") {
		t.Errorf("haihe testing repeat %q, want its condition unmet", testing.Detail)
	}

	// Nothing of one district's response lands in the other's rows.
	for _, d := range districts {
		counts := map[string]string{
			"round points": `SELECT count(*), count(*) FILTER (WHERE si.district <> $2)
				FROM round_points rp JOIN sites si ON si.id = rp.site_id JOIN testing_rounds r ON r.id = rp.round_id WHERE r.incident = $1`,
			"samples": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2)
				FROM samples sa JOIN residents res ON res.id = sa.resident_id JOIN areas a ON a.id = res.area_id
				JOIN testing_rounds r ON r.id = sa.round_id WHERE r.incident = $1`,
			"home visits": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2 OR split_part(sa.path, '/', 1) <> $2)
				FROM home_visits h JOIN residents res ON res.id = h.resident_id JOIN areas a ON a.id = res.area_id
				JOIN staff st ON st.id = h.staff_id JOIN areas sa ON sa.id = st.area_id
				JOIN testing_rounds r ON r.id = h.round_id WHERE r.incident = $1`,
			"notices": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2)
				FROM notices n JOIN areas a ON a.id = n.area_id WHERE n.incident = $1`,
			"rounds": `SELECT count(*), count(*) FILTER (WHERE split_part(a.path, '/', 1) <> $2)
				FROM testing_rounds r JOIN areas a ON a.id = r.area_id WHERE r.incident = $1`,
		}
		for what, q := range counts {
			var all, other int
			if err := s.st.DB().QueryRowContext(ctx, q, incidents[d], d).Scan(&all, &other); err != nil {
				t.Fatalf("%s of %s: %v", what, d, err)
			}
			t.Logf("%s: %d %s, %d of another district", d, all, what, other)
			if all == 0 && what != "home visits" {
				t.Errorf("%s: no %s, want some", d, what)
			}
			if other != 0 {
				t.Errorf("%s: %d of %d %s are another district's, want 0", d, other, all, what)
			}
		}
	}
}

// scaledHours is h scenario hours at the test's time scale.
func scaledHours(h float64) time.Duration {
	return time.Duration(h * float64(time.Hour) / secondDistrictScale)
}

// testStep finds the first testing round's step in a response's tree.
func testStep(p workflows.ResponseProgress) *workflows.Node {
	var found *workflows.Node
	var walk func(n *workflows.Node)
	walk = func(n *workflows.Node) {
		if n == nil || found != nil {
			return
		}
		if n.ID == "test" && n.Type != "repeat" {
			found = n
			return
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(p.Root)
	return found
}
