package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// A testing round over Longbao on a real dev server: residents come to
// their points at the seed's rate, some never come, first home visits
// partly miss and are visited again, a batch is sent twice; the round
// closes with the missing list and reports its figures to the response.
func TestTestingRoundEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	const runbook = `name: testing-e2e
title: One testing round
level: 1
area: community
steps:
  - id: test
    kind: mass-testing
    params: {deadline: 7h, check_every: 15m, revisit_after: 30m, cohorts: "student,teacher"}
`
	if _, _, err := s.st.PublishRunbook(ctx, "testing-e2e", "One testing round", []byte(runbook), "e2e"); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("test")
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{Incident: incident, Runbook: "testing-e2e", Area: "longbao", TimeScale: 1800}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var round store.RoundInfo
	eventually(t, 30*time.Second, "round open", func() (bool, string) {
		rs, err := s.st.OpenRoundsFor(ctx, incident)
		if err != nil || len(rs) == 0 {
			return false, fmt.Sprint(err)
		}
		round = rs[0]
		return true, ""
	})
	plan, err := s.st.RoundPlan(ctx, round.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Points) != 4 || plan.Expected != 7013 {
		t.Fatalf("round plan = %d points, %d expected; want Longbao's 4 points and 7,013 residents", len(plan.Points), plan.Expected)
	}

	// The field: everyone but a few comes, at full speed; a batch is re-sent.
	queues, err := s.st.RoundQueues(ctx, round.ID, []string{"student", "teacher"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.SampleRow
	noShow := map[string]bool{}
	for _, q := range queues {
		for i, code := range q.Residents {
			if i%100 == 7 {
				noShow[code] = true
				continue
			}
			rows = append(rows, store.SampleRow{Tube: "T-" + code, Resident: code, Point: q.PointCode, TakenAt: time.Now(), Result: "negative"})
		}
	}
	first, err := s.st.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows[:1000], Max: 10000})
	if err != nil || first.Accepted != 1000 {
		t.Fatalf("first batch = %+v, %v", first, err)
	}
	again, err := s.st.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows[:1000], Max: 10000})
	if err != nil || again.Accepted != 0 || again.AlreadyRecorded != 1000 {
		t.Errorf("re-sent batch = %+v, %v; want nothing added", again, err)
	}
	for i := 1000; i < len(rows); i += 5000 {
		if _, err := s.st.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows[i:min(i+5000, len(rows))], Max: 10000}); err != nil {
			t.Fatal(err)
		}
	}
	// Home visits: the first attempt misses for every other resident; the
	// revisit samples them.
	eventually(t, 30*time.Second, "home visits assigned", func() (bool, string) {
		vs, err := s.st.PendingVisits(ctx, round.ID)
		return err == nil && len(vs) == plan.HomeVisits, fmt.Sprintf("%d of %d", len(vs), plan.HomeVisits)
	})
	missed := 0
	vs, _ := s.st.PendingVisits(ctx, round.ID)
	for i, v := range vs {
		sampled := i%2 == 0
		if !sampled {
			missed++
		}
		if err := s.st.RecordHomeVisit(ctx, round.ID, v.Resident, v.Attempt, sampled, "H-"+v.Resident, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, "revisits", func() (bool, string) {
		vs, err := s.st.PendingVisits(ctx, round.ID)
		if err != nil {
			return false, err.Error()
		}
		for _, v := range vs {
			if v.Attempt == 2 {
				if err := s.st.RecordHomeVisit(ctx, round.ID, v.Resident, v.Attempt, true, "H2-"+v.Resident, time.Now()); err != nil {
					return false, err.Error()
				}
				missed--
			}
		}
		return missed == 0, fmt.Sprintf("%d visits still missed", missed)
	})

	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var final workflows.ResponseProgress
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		t.Fatalf("response = %v", err)
	}
	n := final.Find("test")
	if n == nil || n.State != workflows.StateDone {
		t.Fatalf("testing step = %+v, want done", n)
	}
	if got, want := int(n.Outputs["missing"]), len(noShow); got != want {
		t.Errorf("missing = %d, want %d (the residents who never came)", got, want)
	}
	if got, want := int(n.Outputs["sampled"]), 7013-len(noShow); got != want {
		t.Errorf("sampled = %d, want %d", got, want)
	}
	missing, err := s.st.Missing(ctx, round.ID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		if !noShow[m.Code] {
			t.Errorf("missing list has %s, who came", m.Code)
		}
	}
	var notices []string
	if err := s.st.DB().SelectContext(ctx, &notices, `SELECT kind FROM notices WHERE incident = $1 AND kind LIKE 'testing/%' ORDER BY id`, incident); err != nil {
		t.Fatal(err)
	}
	if len(notices) == 0 || !strings.HasPrefix(notices[0], "testing/1/") {
		t.Errorf("cohort notices = %v, want the calls of round 1", notices)
	}
}

// The built-in campus-closure runbook over Shanxi University: the campuses
// close, 21,811 students and teachers are tested with students called
// first, the round closes on coverage, and the reopening is approved.
func TestCampusClosureEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	if err := service.PublishBuiltins(ctx, s.st); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("campus")
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{Incident: incident, Runbook: "campus-closure", Area: "shanxi-university", TimeScale: 3600}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var round store.RoundInfo
	eventually(t, 30*time.Second, "round open", func() (bool, string) {
		rs, err := s.st.OpenRoundsFor(ctx, incident)
		if err != nil || len(rs) == 0 {
			return false, fmt.Sprint(err)
		}
		round = rs[0]
		return true, ""
	})
	plan, err := s.st.RoundPlan(ctx, round.ID)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Expected != 21811 {
		t.Errorf("round expects %d, want the 21,811 people of the two tested campuses", plan.Expected)
	}
	// Every station uploads everyone it expects; grid workers sample the
	// home visits.
	queues, err := s.st.RoundQueues(ctx, round.ID, []string{"student", "teacher"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.SampleRow
	for _, q := range queues {
		for _, code := range q.Residents {
			rows = append(rows, store.SampleRow{Tube: "C-" + code, Resident: code, Point: q.PointCode, TakenAt: time.Now(), Result: "negative"})
		}
	}
	for i := 0; i < len(rows); i += 10000 {
		if _, err := s.st.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows[i:min(i+10000, len(rows))], Max: 10000}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, "everyone sampled", func() (bool, string) {
		vs, err := s.st.PendingVisits(ctx, round.ID)
		if err != nil {
			return false, err.Error()
		}
		for _, v := range vs {
			if err := s.st.RecordHomeVisit(ctx, round.ID, v.Resident, v.Attempt, true, "CH-"+v.Resident, time.Now()); err != nil {
				return false, err.Error()
			}
		}
		n := s.responseProgress(t, id).Find("approve-reopen")
		return n != nil && n.State == workflows.StateAwaitingDecision, "not asked yet"
	})
	if err := sendUpdate(ctx, s.c, id, workflows.UpdateDecide, workflows.Decision{Step: "approve-reopen", Decision: "approve", By: "university"}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var final workflows.ResponseProgress
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, &final); err != nil {
		t.Fatalf("response = %v", err)
	}
	n := final.Find("test")
	if n.State != workflows.StateDone || n.Outputs["sampled"] != 21811 || n.Outputs["missing"] != 0 {
		t.Errorf("test step = %s, outputs %v; want done with 21,811 sampled and nobody missing", n.State, n.Outputs)
	}
	var calls []string
	if err := s.st.DB().SelectContext(ctx, &calls, `SELECT kind FROM notices WHERE incident = $1 AND kind LIKE 'testing/1/%' ORDER BY id`, incident); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 || calls[0] != "testing/1/student" || calls[1] != "testing/1/teacher" {
		t.Errorf("cohort calls = %v, want students first, then teachers", calls)
	}
	if final.Find("reopen").State != workflows.StateDone {
		t.Errorf("reopen notice = %s, want done", final.Find("reopen").State)
	}
}
