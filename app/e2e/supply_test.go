package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func (s *stack) supplyProgress(t *testing.T, id string) workflows.SupplyProgress {
	t.Helper()
	var p workflows.SupplyProgress
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := s.c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		t.Logf("QueryWorkflow(%s) = %v", id, err)
		return p
	}
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSupplyContentionEndToEnd runs two staff-supply steps of two
// responses at once over Longbao, each wanting 40 people at each of its 4
// sampling points: 160 each from a pool of 240 (Longbao's 40 volunteers and
// the district's 200 teachers). Together they get the whole pool, and
// nobody is booked twice.
func TestSupplyContentionEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	area, err := s.st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	ref := &workflows.AreaRef{ID: area.ID, Code: area.Code, Name: area.Name, Path: area.Path, Level: area.Level}
	params := map[string]any{
		"duration": "2h", "shift": "12h", "check_every": "1h", "ack_within": "1h", "reassign_rounds": 0,
		"per_sampling_point": 40, "per_community": 0, "per_supplier": 0, "per_checkpoint": 0, "volunteers": 0, "signup_for": "1h",
		"need": workflows.DefaultNeed, "min_days": 3.0, "target_days": 7.0, "delivery_within": "6h", "escalate_after": "12h",
	}
	var runs []client.WorkflowRun
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, name := range []string{"a", "b"} {
		inc := pgtest.Name("contend-" + name)
		wg.Go(func() {
			run, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.ResponseWorkflowID(inc) + "/supply", TaskQueue: s.taskQueue},
				workflows.StaffSupplyStepName, workflows.StepInput{Incident: inc, Runbook: "e2e", Path: "supply", Kind: workflows.KindStaffSupply,
					Title: "Staff the sampling points", Params: params, Area: ref, TimeScale: 3600})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			runs = append(runs, run)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(runs) != 2 {
		t.FailNow()
	}
	total := 0
	for _, run := range runs {
		var res workflows.StepResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("%s: %v", run.GetID(), err)
		}
		if got := res.Outputs["assigned"] + res.Outputs["shortfall"]; got != 160 {
			t.Errorf("%s: %v assigned + %v short = %v, want 160", run.GetID(), res.Outputs["assigned"], res.Outputs["shortfall"], got)
		}
		total += int(res.Outputs["assigned"])
	}
	if total != 240 {
		t.Errorf("assigned across both responses = %d, want the whole pool of 240", total)
	}
	var twice int
	if err := s.st.DB().GetContext(ctx, &twice, `SELECT count(*) FROM staff_assignments a JOIN staff_assignments b ON a.staff_id = b.staff_id AND a.id < b.id
		AND a.shift && b.shift AND a.state IN ('notified', 'acknowledged') AND b.state IN ('notified', 'acknowledged')`); err != nil || twice != 0 {
		t.Errorf("people booked twice at once = %d, %v; want 0", twice, err)
	}
}

// supplyRunbook seals Longbao's compounds, runs a staff-supply step and
// lifts the seals: the step's passes must not outlive the seals.
const supplyRunbook = `name: %s
title: Supply under seal (test)
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas: {level: compound, under: response}
      steps:
        - id: seal-compound
          kind: seal
          params: {check_every: 12h}
  - id: supply
    kind: staff-supply
    params:
      duration: 5h
      shift: 12h
      check_every: 1h
      ack_within: 1h
      reassign_rounds: 1
      per_sampling_point: 2
      per_supplier: 0
      need: vegetables=0.5,milk=0.25,grain=0.4
      min_days: 3
      target_days: 7
      delivery_within: 2h
      escalate_after: 12h
  - id: lift
    kind: lift
    params: {reason: supply test over}
`

// TestSupplyEndToEnd: the field acknowledges all but one assignment
// through the API's path (an update of the running step); the one left is
// reminded and reassigned. Longbao's vegetables and milk are below three
// days: restocks are ordered; the vegetables are delivered and the area is
// no longer short; the milk is late and escalated. Lifting the seals
// revokes the passes.
func TestSupplyEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	name := "supply-e2e"
	if _, _, err := s.st.PublishRunbook(ctx, name, "Supply under seal (test)", []byte(fmt.Sprintf(supplyRunbook, name)), "e2e"); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("supply")
	// An hour is 10 s: the step runs 50 s; acknowledgements are due 10 s
	// after assignment, shipments 20 s after they are ordered.
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{Incident: incident, Runbook: name, Area: "longbao", TimeScale: 360, RequestedBy: "e2e"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	supplyID := id + "/supply"

	var first []domain.Assignment
	eventually(t, 60*time.Second, "assignments", func() (bool, string) {
		first, _ = s.st.Assignments(ctx, incident, "")
		return len(first) == 8, fmt.Sprintf("%d assignments", len(first))
	})
	// Everyone but the last acknowledges; one tries someone else's.
	skip := first[len(first)-1]
	if _, err := api.Acknowledge(ctx, s.st, s.c, first[0].ID, first[1].Staff); err == nil || !strings.Contains(err.Error(), "not "+first[1].Staff+"'s") {
		t.Errorf("Acknowledge(someone else's) = %v, want a refusal", err)
	}
	for _, as := range first[:len(first)-1] {
		got, err := api.Acknowledge(ctx, s.st, s.c, as.ID, as.Staff)
		if err != nil || got.State != "acknowledged" {
			t.Fatalf("Acknowledge(%d, %s) = %+v, %v; want acknowledged", as.ID, as.Staff, got, err)
		}
	}
	if p := s.supplyProgress(t, supplyID); p.Staff.Acknowledged != 7 {
		t.Errorf("progress right after the acknowledgements = %+v, want 7 acknowledged (the step hears at once)", p.Staff)
	}

	// The one left unacknowledged is reminded, then lapses and is replaced.
	eventually(t, 40*time.Second, "reassignment", func() (bool, string) {
		p := s.supplyProgress(t, supplyID)
		return p.Staff.Lapsed == 1 && p.Staff.Assigned == 8, fmt.Sprintf("%+v", p.Staff)
	})
	if as, err := s.st.AssignmentByID(ctx, skip.ID); err != nil || as.State != "lapsed" {
		t.Errorf("unacknowledged assignment = %+v, %v; want lapsed", as, err)
	}
	var reminded int
	if err := s.st.DB().GetContext(ctx, &reminded, `SELECT count(*) FROM notices WHERE incident = $1 AND kind LIKE 'mobilization-reminder/%' AND dedup_key = $2`,
		incident, fmt.Sprintf("remind|%d", skip.ID)); err != nil || reminded != 1 {
		t.Errorf("reminders of the silent assignment %d = %d, %v; want 1", skip.ID, reminded, err)
	}
	if _, err := api.Acknowledge(ctx, s.st, s.c, skip.ID, skip.Staff); err == nil || !strings.Contains(err.Error(), "lapsed") || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("Acknowledge(lapsed) = %v, want a refusal saying it lapsed", err)
	}

	// Restock: orders for the short commodities; the vegetables arrive.
	var open []domain.Shipment
	eventually(t, 20*time.Second, "restock orders", func() (bool, string) {
		open, _ = s.st.Shipments(ctx, incident, true)
		return len(open) == 2, fmt.Sprintf("%d open shipments", len(open))
	})
	var veg domain.Shipment
	for _, sh := range open {
		if sh.Commodity == "vegetables" {
			veg = sh
		}
	}
	if veg.ID == 0 || veg.Area != "longbao" {
		t.Fatalf("open shipments = %+v, want vegetables and milk for Longbao", open)
	}
	if _, err := s.st.ConfirmDelivery(ctx, store.Delivery{Shipment: veg.ID, Tonnes: -veg.Tonnes}, time.Now()); err == nil {
		t.Errorf("ConfirmDelivery(negative) = nil, want an error")
	}
	if _, err := s.st.ConfirmDelivery(ctx, store.Delivery{Shipment: veg.ID, Tonnes: veg.Tonnes, By: "meiteihao-kangning"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "vegetables restocked", func() (bool, string) {
		p := s.supplyProgress(t, supplyID)
		for _, l := range p.Levels {
			if l.Commodity == "vegetables" {
				return !l.Low && p.Delivered == 1, fmt.Sprintf("%+v, %d delivered", l, p.Delivered)
			}
		}
		return false, "no vegetables level"
	})
	// The milk is not delivered: late, escalated once.
	eventually(t, 40*time.Second, "late milk escalated", func() (bool, string) {
		var n int
		_ = s.st.DB().GetContext(ctx, &n, `SELECT count(*) FROM notices WHERE incident = $1 AND kind LIKE 'supply/shortage/late/%' AND body LIKE '%milk%'`, incident)
		return n == 1, fmt.Sprintf("%d late-shipment escalations", n)
	})

	// Passes were valid while Longbao was sealed, and the lift revokes them.
	passes, err := s.st.PassesOf(ctx, incident)
	if err != nil || len(passes) < 9 {
		t.Fatalf("passes = %d, %v; want the staff's and the shipments' vehicles'", len(passes), err)
	}
	if c, err := s.st.VerifyPass(ctx, passes[0].Code, time.Now(), "longbao-jiayuan"); err != nil || c.Status != store.PassValid {
		t.Errorf("VerifyPass(%s) before the lift = %s, %v; want valid", passes[0].Code, c.Status, err)
	}
	run := s.c.GetWorkflow(ctx, id, "")
	var final workflows.ResponseProgress
	if err := run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if n := final.Find("supply"); n == nil || n.State != workflows.StateDone || n.Outputs["lapsed"] != 1 || n.Outputs["escalations"] < 1 {
		t.Errorf("supply step = %+v, want done with 1 lapsed and an escalation", n)
	}
	// The replacement's shift outlasts the step: acknowledged after the step
	// ended, it is recorded directly.
	after, err := s.st.Assignments(ctx, incident, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, as := range after {
		if as.State == "notified" {
			if got, err := api.Acknowledge(ctx, s.st, s.c, as.ID, as.Staff); err != nil || got.State != "acknowledged" {
				t.Errorf("Acknowledge(%d) after the step ended = %+v, %v; want acknowledged", as.ID, got, err)
			}
		}
	}
	for _, p := range passes {
		c, err := s.st.VerifyPass(ctx, p.Code, time.Now(), "")
		if err != nil || c.Status != store.PassRevoked {
			t.Errorf("VerifyPass(%s, %s) after the lift = %s, %v; want revoked", p.Code, p.Holder, c.Status, err)
		}
	}
	// A Prometheus scraping the worker sees the stock and the staffing.
	text := s.scrape(t)
	for _, want := range []string{`muster_supply_days{`, `commodity="vegetables"`, `muster_staff_shortfall{`, `muster_shipments_late{`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics have no %s", want)
		}
	}
	// The step ran its activities without any stall.
	if ev, err := s.st.Events(ctx, incident, supplyID); err != nil || len(ev) == 0 {
		t.Errorf("events of %s = %d, %v", supplyID, len(ev), err)
	} else {
		for _, e := range ev {
			if e.State == workflows.StateStalled {
				t.Errorf("stalled: %+v", e)
			}
		}
	}
}

// TestDistrictSupplyEndToEnd runs the built-in district-supply runbook
// (shortened to 3 hours, sign-ups open throughout) over the reference district: teachers to the
// sampling points, the education bureau's cadres to Pingyang Road's
// communities, everyone acknowledging through the update; the one place
// the cadres cannot cover is filled by a volunteer who signs up; Longbao's
// short commodities are ordered.
func TestDistrictSupplyEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcs, err := builtin.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, src := range srcs {
		if src.Name == "district-supply.yaml" {
			text = strings.Replace(string(src.Data), "duration: 24h", "duration: 3h", 1)
			text = strings.Replace(text, "name: district-supply", "name: district-supply-e2e", 1)
			// Sign-ups stay open long enough for the test to see the gap.
			text = strings.Replace(text, "signup_for: 1h", "signup_for: 3h", 1)
		}
	}
	if _, _, err := s.st.PublishRunbook(ctx, "district-supply-e2e", "District supply (3 hours)", []byte(text), "e2e"); err != nil {
		t.Fatal(err)
	}
	incident := pgtest.Name("district")
	// An hour is 12 s: 238 people have that long to acknowledge.
	id, _, err := service.StartResponse(ctx, s.c, s.taskQueue, workflows.ResponseInput{Incident: incident, Runbook: "district-supply-e2e", Area: "xiaodian", TimeScale: 300, RequestedBy: "e2e"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	supplyID := id + "/supply"

	// The field: everyone acknowledges as soon as the step knows them.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for ctx.Err() == nil {
			as, _ := s.st.Assignments(ctx, incident, "")
			var acks sync.WaitGroup
			for _, x := range as {
				if x.State == "notified" {
					acks.Go(func() { _, _ = api.Acknowledge(ctx, s.st, s.c, x.ID, x.Staff) })
				}
			}
			acks.Wait()
			time.Sleep(300 * time.Millisecond)
		}
	})

	var p workflows.SupplyProgress
	eventually(t, 60*time.Second, "staff assigned and the volunteer drive open", func() (bool, string) {
		p = s.supplyProgress(t, supplyID)
		return p.Staff.Assigned > 0 && p.Volunteers != nil && p.Volunteers.Quota == 80, fmt.Sprintf("%+v", p.Staff)
	})
	short := p.Staff.Shortfall
	if short == 0 {
		t.Fatalf("shortfall after the first assignment = 0, want the cadres one short of Pingyang Road's communities; %+v", p.Staff)
	}
	for i := range short + 2 {
		if _, err := s.st.SignUpVolunteer(ctx, store.SignUp{Incident: incident, Area: "xiaodian", Key: fmt.Sprint("form-", i), Name: "Student volunteer"}, time.Now()); err != nil {
			t.Fatalf("SignUpVolunteer(%d) = %v", i, err)
		}
	}
	eventually(t, 30*time.Second, "volunteers fill the places left", func() (bool, string) {
		p = s.supplyProgress(t, supplyID)
		if p.Volunteers == nil {
			return false, "no progress"
		}
		return p.Staff.Shortfall == 0 && p.Volunteers.SignedUp == short+2, fmt.Sprintf("%+v, %d signed up", p.Staff, p.Volunteers.SignedUp)
	})

	var final workflows.ResponseProgress
	if err := s.c.GetWorkflow(ctx, id, "").Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	n := final.Find("supply")
	if n == nil || n.State != workflows.StateDone || n.Outputs["shortfall"] != 0 || n.Outputs["orders"] != 2 || n.Outputs["lapsed"] != 0 {
		t.Fatalf("supply step = %+v, want done, nobody short or lapsed, 2 restock orders (Longbao's vegetables and milk)", n)
	}
	var cadres, teachers int
	if err := s.st.DB().GetContext(ctx, &cadres, `SELECT count(*) FROM staff_assignments x JOIN staff st ON st.id = x.staff_id JOIN staff_posts p ON p.id = x.post_id
		JOIN areas a ON a.id = p.area_id WHERE x.incident = $1 AND st.role = 'cadre' AND a.path LIKE 'xiaodian/pingyang-road/%'`, incident); err != nil {
		t.Fatal(err)
	}
	if err := s.st.DB().GetContext(ctx, &teachers, `SELECT count(*) FROM staff_assignments x JOIN staff st ON st.id = x.staff_id JOIN staff_posts p ON p.id = x.post_id
		WHERE x.incident = $1 AND st.role = 'teacher' AND p.kind = 'sampling-point'`, incident); err != nil {
		t.Fatal(err)
	}
	if cadres != 101 || teachers == 0 {
		t.Errorf("cadres at Pingyang Road's communities = %d, teachers at sampling points = %d; want all 101 cadres and some teachers", cadres, teachers)
	}
}
