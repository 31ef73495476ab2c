package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// fakeStaff is an in-memory mobilization: four posts' worth of demand
// filled from a pool, as the store would.
type fakeStaff struct {
	mu       sync.Mutex
	needed   int
	pool     []string
	next     int
	assigned []fakeAssignment
	reminded int
	// checks counts supply checks; late makes every shipment late from
	// that check on.
	checks, lateFrom int
}

type fakeAssignment struct {
	id    int64
	staff string
	state string
	ackBy time.Time
}

func (f *fakeStaff) fill(ackBy time.Time) {
	active := 0
	for _, a := range f.assigned {
		if a.state == "notified" || a.state == "acknowledged" {
			active++
		}
	}
	for ; active < f.needed && f.next < len(f.pool); active++ {
		f.assigned = append(f.assigned, fakeAssignment{id: int64(len(f.assigned) + 1), staff: f.pool[f.next], state: "notified", ackBy: ackBy})
		f.next++
	}
}

func (f *fakeStaff) mobilization() domain.Mobilization {
	m := domain.Mobilization{Posts: 2, Needed: f.needed, Reminded: f.reminded}
	for _, a := range f.assigned {
		switch a.state {
		case "notified":
			m.Pending++
			m.PendingAcks = append(m.PendingAcks, domain.PendingAck{ID: a.id, Staff: a.staff})
		case "acknowledged":
			m.Acknowledged++
		case "lapsed":
			m.Lapsed++
		}
	}
	m.Assigned = m.Pending + m.Acknowledged
	m.Shortfall = max(0, m.Needed-m.Assigned)
	m.Passes = m.Assigned
	return m
}

func supplyInput() StepInput {
	return StepInput{
		Incident: "xd-0403", Runbook: "district-supply", Path: "supply", Kind: KindStaffSupply, Title: "Staff and supplies",
		Area: &testCommunity,
		Params: map[string]any{
			"duration": "8h", "check_every": "1h", "ack_within": "1h", "reassign_rounds": 2, "per_sampling_point": 2,
			"need": "vegetables=0.5", "min_days": 3.0, "target_days": 7.0, "delivery_within": "3h", "escalate_after": "4h", "volunteers": 0,
		},
	}
}

// newSupplyTest runs StaffSupplyStep over fakes: a pool of six for four
// places, and one area whose vegetables are low with a restock on order
// that is late from check lateFrom on (0: never).
func newSupplyTest(t *testing.T, lateFrom int) (*sealTest, *fakeStaff) {
	st := newSealTest(t)
	st.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "response/xd-0403/supply"})
	return st, mockSupply(st, lateFrom)
}

// mockSupply makes the staff-supply activities of st's environment answer
// from a fake pool of six for four places (see newSupplyTest).
func mockSupply(st *sealTest, lateFrom int) *fakeStaff {
	f := &fakeStaff{needed: 4, pool: []string{"teacher-01", "teacher-02", "teacher-03", "teacher-04", "teacher-05", "teacher-06"}, lateFrom: lateFrom}
	mockActivity(st, a.PlanStaff, "PlanStaff", func() func(activities.PlanStaffInput) (domain.PostSummary, error) {
		return func(activities.PlanStaffInput) (domain.PostSummary, error) {
			return domain.PostSummary{Posts: 2, Needed: 4, ByKind: map[string]int{"sampling-point": 4}}, nil
		}
	})
	mockActivity(st, a.AssignStaff, "AssignStaff", func() func(activities.AssignStaffInput) (domain.Mobilization, error) {
		return func(in activities.AssignStaffInput) (domain.Mobilization, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.fill(in.AckBy)
			return f.mobilization(), nil
		}
	})
	mockActivity(st, a.ReassignLapsed, "ReassignLapsed", func() func(activities.ReassignInput) (domain.Mobilization, error) {
		return func(in activities.ReassignInput) (domain.Mobilization, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for i := range f.assigned {
				if f.assigned[i].state == "notified" && !f.assigned[i].ackBy.After(in.Now) {
					f.assigned[i].state = "lapsed"
				}
			}
			f.fill(in.AckBy)
			return f.mobilization(), nil
		}
	})
	mockActivity(st, a.AcknowledgeAssignment, "AcknowledgeAssignment", func() func(activities.AcknowledgeInput) (domain.Assignment, error) {
		return func(in activities.AcknowledgeInput) (domain.Assignment, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, a := range f.assigned {
				if a.id == in.Assignment && a.staff == in.Staff {
					f.assigned[i].state = "acknowledged"
					return domain.Assignment{ID: a.id, Staff: a.staff, State: "acknowledged"}, nil
				}
			}
			return domain.Assignment{}, temporal.NewNonRetryableApplicationError("not yours", activities.ErrBadInput, nil)
		}
	})
	mockActivity(st, a.RemindStaff, "RemindStaff", func() func(activities.RemindInput) (int, error) {
		return func(activities.RemindInput) (int, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reminded += f.mobilization().Pending
			return f.reminded, nil
		}
	})
	mockActivity(st, a.ReleaseStaff, "ReleaseStaff", func() func(activities.ReleaseStaffInput) (int, error) {
		return func(activities.ReleaseStaffInput) (int, error) { return 4, nil }
	})
	mockActivity(st, a.CheckSupply, "CheckSupply", func() func(activities.CheckSupplyInput) (domain.SupplyStatus, error) {
		return func(in activities.CheckSupplyInput) (domain.SupplyStatus, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.checks++
			order := &domain.Shipment{ID: 9, Area: "longbao", Site: "meiteihao-kangning", Commodity: "vegetables", Tonnes: 16.5, State: "ordered", DueAt: testStart.Add(3 * time.Hour)}
			st := domain.SupplyStatus{Orders: 1, Levels: []domain.SupplyLevel{{Area: "longbao", Population: 7013, Commodity: "vegetables", Stock: 8, NeedPerDay: 3.5, Days: 2.29, Low: true, Order: order}}}
			if f.lateFrom > 0 && f.checks >= f.lateFrom {
				order.State = "late"
				st.Late = []domain.Shipment{*order}
			}
			return st, nil
		}
	})
	return f
}

func (st *sealTest) supplyResult() (StepResult, error) {
	var res StepResult
	if err := st.env.GetWorkflowError(); err != nil {
		return res, err
	}
	if err := st.env.GetWorkflowResult(&res); err != nil {
		st.t.Fatalf("GetWorkflowResult: %v", err)
	}
	return res, nil
}

func (st *sealTest) supplyProgressAt(d time.Duration) *SupplyProgress {
	p := &SupplyProgress{}
	st.At(d, func() {
		v, err := st.env.QueryWorkflow(QueryProgress)
		if err != nil {
			st.t.Errorf("QueryWorkflow(progress) at %s = %v", d, err)
			return
		}
		if err := v.Get(p); err != nil {
			st.t.Error(err)
		}
	})
	return p
}

// TestStaffSupplyReassignsUnacknowledged: two of four acknowledge in time,
// the others are reminded halfway and reassigned at the deadline; a wrong
// person's or an unknown acknowledgement is refused by the validator.
func TestStaffSupplyReassignsUnacknowledged(t *testing.T) {
	st, f := newSupplyTest(t, 0)
	ok1 := st.UpdateAt(10*time.Minute, UpdateAcknowledge, AcknowledgeInput{Assignment: 1, Staff: "teacher-01"})
	ok2 := st.UpdateAt(20*time.Minute, UpdateAcknowledge, AcknowledgeInput{Assignment: 2, Staff: "teacher-02"})
	wrong := st.UpdateAt(25*time.Minute, UpdateAcknowledge, AcknowledgeInput{Assignment: 3, Staff: "teacher-01"})
	unknown := st.UpdateAt(26*time.Minute, UpdateAcknowledge, AcknowledgeInput{Assignment: 99, Staff: "teacher-01"})
	empty := st.UpdateAt(27*time.Minute, UpdateAcknowledge, AcknowledgeInput{Assignment: 3})
	before := st.supplyProgressAt(50 * time.Minute)
	after := st.supplyProgressAt(70 * time.Minute)
	st.env.ExecuteWorkflow(StaffSupplyStepName, supplyInput())
	res, err := st.supplyResult()
	if err != nil {
		t.Fatalf("StaffSupplyStep() error = %v", err)
	}
	for name, o := range map[string]*updateOutcome{"own 1": ok1, "own 2": ok2} {
		if !o.Completed || o.Err != nil {
			t.Errorf("acknowledge (%s) = completed %v, %v; want done", name, o.Completed, o.Err)
		}
	}
	for name, c := range map[string]struct {
		o    *updateOutcome
		want string
	}{"someone else's": {wrong, "not teacher-01's"}, "unknown": {unknown, "not waiting"}, "no staff": {empty, "staff"}} {
		if c.o.Rejected == nil || !strings.Contains(c.o.Rejected.Error(), c.want) {
			t.Errorf("acknowledge (%s) rejected = %v, want a refusal naming %q", name, c.o.Rejected, c.want)
		}
	}
	if before.Staff.Acknowledged != 2 || before.Staff.Pending != 2 || before.Staff.Lapsed != 0 {
		t.Errorf("progress at 0:50 = %+v, want 2 acknowledged, 2 waiting", before.Staff)
	}
	if after.Staff.Lapsed != 2 || after.Staff.Assigned != 4 || after.Staff.Pending != 2 {
		t.Errorf("progress at 1:10 = %+v, want 2 lapsed and 2 new waiting, 4 assigned", after.Staff)
	}
	if r := st.Calls("RemindStaff"); len(r) < 1 || r[0].At.Sub(testStart) != 30*time.Minute {
		t.Errorf("RemindStaff calls = %v, want the first at 0:30", r)
	}
	if r := st.Calls("ReassignLapsed"); len(r) != 2 || r[0].At.Sub(testStart) != time.Hour {
		t.Errorf("ReassignLapsed calls = %d (first at %v), want 2 (reassign_rounds), the first at 1:00", len(r), r)
	}
	// Nobody acknowledged after the first wave; the second reassignment
	// lapsed the replacements too, and the pool ran dry.
	if f.next != 6 || res.Outputs["lapsed"] != 4 || res.Outputs["acknowledged"] != 2 {
		t.Errorf("StaffSupplyStep() outputs = %v (pool used %d), want 4 lapsed, 2 acknowledged, all 6 used", res.Outputs, f.next)
	}
	if len(st.Calls("ReleaseStaff")) != 1 {
		t.Errorf("ReleaseStaff calls = %d, want 1", len(st.Calls("ReleaseStaff")))
	}
}

// TestStaffSupplyCountsSignalledAcknowledgements: acknowledgements the
// field recorded arrive as signals; each counts once, whoever repeats it,
// and an unknown assignment changes nothing.
func TestStaffSupplyCountsSignalledAcknowledgements(t *testing.T) {
	st, _ := newSupplyTest(t, 0)
	for _, sig := range []struct {
		at time.Duration
		id int64
	}{{10 * time.Minute, 1}, {11 * time.Minute, 1}, {12 * time.Minute, 99}, {20 * time.Minute, 2}} {
		st.At(sig.at, func() {
			st.env.SignalWorkflow(SignalAcknowledged, AcknowledgeInput{Assignment: sig.id, Staff: "teacher-0" + strconv.FormatInt(sig.id, 10)})
		})
	}
	after := st.supplyProgressAt(25 * time.Minute)
	st.env.ExecuteWorkflow(StaffSupplyStepName, supplyInput())
	if _, err := st.supplyResult(); err != nil {
		t.Fatalf("StaffSupplyStep() error = %v", err)
	}
	if after.Staff.Acknowledged != 2 || after.Staff.Pending != 2 {
		t.Errorf("progress at 0:25 = %+v, want 2 acknowledged (a repeat and an unknown one change nothing), 2 waiting", after.Staff)
	}
	if n := len(st.Calls("AcknowledgeAssignment")); n != 0 {
		t.Errorf("AcknowledgeAssignment calls = %d, want 0: the field recorded them", n)
	}
}

// TestStaffSupplyEscalatesShortage: a shipment late from the third check is
// escalated once; stock low for longer than escalate_after is escalated
// once; the per-area table is in the progress.
func TestStaffSupplyEscalatesShortage(t *testing.T) {
	st, _ := newSupplyTest(t, 3)
	mid := st.supplyProgressAt(150 * time.Minute)
	var state any
	st.At(150*time.Minute, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		state = st.sa[SAStepState.GetName()]
	})
	st.env.ExecuteWorkflow(StaffSupplyStepName, supplyInput())
	res, err := st.supplyResult()
	if err != nil {
		t.Fatalf("StaffSupplyStep() error = %v", err)
	}
	if state != StateOverdue {
		t.Errorf("%s at 2:30 (a shipment late) = %v, want %s", SAStepState.GetName(), state, StateOverdue)
	}
	if len(mid.Levels) != 1 || mid.Levels[0].Commodity != "vegetables" || !mid.Levels[0].Low || mid.Levels[0].Order == nil {
		t.Errorf("progress levels = %+v, want low vegetables in Longbao with an order", mid.Levels)
	}
	var late, low []string
	for _, c := range st.Calls("PublishNotice") {
		n := c.Input.(activities.NoticeInput)
		switch {
		case strings.HasPrefix(n.Kind, "supply/shortage/late/"):
			wantMessage(t, n, MsgSupplyLate)
			late = append(late, fmt.Sprintf("%s@%s", n.Kind, c.At.Sub(testStart)))
		case strings.HasPrefix(n.Kind, "supply/shortage/low/"):
			wantMessage(t, n, MsgSupplyShortage)
			low = append(low, fmt.Sprintf("%s@%s", n.Kind, c.At.Sub(testStart)))
		}
	}
	// Checks run at 0:00, 1:00, 2:00, …: the third (2:00) finds it late.
	if len(late) != 1 || !strings.HasSuffix(late[0], "@2h0m0s") {
		t.Errorf("late-shipment escalations = %v, want one at 2:00", late)
	}
	// Low since the first check (0:00); escalated at the check 4 hours on.
	if len(low) != 1 || !strings.HasSuffix(low[0], "@4h0m0s") {
		t.Errorf("low-stock escalations = %v, want one at 4:00", low)
	}
	if res.Outputs["late"] != 1 || res.Outputs["escalations"] != 2 {
		t.Errorf("StaffSupplyStep() outputs = %v, want late 1, escalations 2", res.Outputs)
	}
}

// TestStaffSupplyBadParams fails at once, naming the parameter.
func TestStaffSupplyBadParams(t *testing.T) {
	for _, c := range []struct {
		name, param string
		value       any
		want        string
	}{
		{"need not a number", "need", "vegetables=lots", "need"},
		{"need absurd", "need", "vegetables=400", "need.vegetables"},
		{"target below min", "target_days", 1.0, "target_days"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, _ := newSupplyTest(t, 0)
			in := supplyInput()
			in.Params[c.param] = c.value
			st.env.ExecuteWorkflow(StaffSupplyStepName, in)
			_, err := st.supplyResult()
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != activities.ErrBadInput || !strings.Contains(err.Error(), c.want) {
				t.Errorf("StaffSupplyStep(%s=%v) error = %v, want a non-retryable bad input naming %s", c.param, c.value, err, c.want)
			}
			if n := len(st.Calls("PlanStaff")); n != 0 {
				t.Errorf("PlanStaff calls = %d, want none", n)
			}
		})
	}
}
