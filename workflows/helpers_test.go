package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// testStart is when every test seal starts on the workflow clock, so tests
// can name points in workflow time.
var testStart = time.Date(2022, 4, 3, 8, 0, 0, 0, time.UTC)

// testCompound is the plan the fake PlanSeal returns: Longbao Jiayuan from
// the reference scenario, with three gates (the north one the entrance),
// three road sections (Longbao Street the entrance) and five public areas.
var testCompound = activities.PlanSealResult{
	AreaID:    42,
	Code:      "longbao-jiayuan",
	Name:      "Longbao Jiayuan",
	Path:      "xiaodian/beiying/longbao/longbao-jiayuan",
	Residents: 1486,
	Gates: []activities.GatePlan{
		{ID: 1, Code: "north", Name: "North gate", Entrance: true},
		{ID: 2, Code: "east", Name: "East gate"},
		{ID: 3, Code: "west", Name: "West gate"},
	},
	Roads: []activities.RoadPlan{
		{ID: 11, Code: "taihang-east-south-lane-3", Name: "Taihang East Street South Lane 3"},
		{ID: 12, Code: "wucheng-east-extension", Name: "Wucheng East Road extension"},
		{ID: 13, Code: "longbao-street", Name: "Longbao Street", Entrance: true},
	},
	PublicAreas:    []string{"gates", "stairwells", "lift lobbies", "refuse points", "car park"},
	StaffAvailable: 30,
}

// testInput is a valid seal of testCompound.
func testInput() SealCompoundInput {
	return SealCompoundInput{Incident: "xd-0403", Compound: "longbao-jiayuan", RequestedBy: "district-hq"}
}

// sealTest is one SealCompound run in the SDK's test environment. Every
// activity is mocked by a fake that records its input and the workflow time
// of the call; a test replaces a fake, or sets a delay, before Run.
type sealTest struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	PlanSeal       func(activities.PlanSealInput) (activities.PlanSealResult, error)
	PublishNotice  func(activities.NoticeInput) error
	OpenCheckpoint func(activities.CheckpointInput) (activities.CheckpointResult, error)
	// OpenCheckpoints, when set, answers the batch instead of the
	// OpenCheckpoint fake gate by gate.
	OpenCheckpoints func(activities.CheckpointsInput) (activities.CheckpointsResult, error)
	CloseRoads      func(activities.CloseRoadsInput) (activities.CloseRoadsResult, error)
	Disinfect       func(activities.DisinfectInput) (activities.DisinfectResult, error)
	CheckCompliance func(activities.ComplianceInput) (activities.ComplianceResult, error)
	Reopen          func(activities.ReopenInput) (activities.ReopenResult, error)
	RecordEvent     func(domain.Event) error
	RelieveShift    func(activities.RelieveInput) (activities.RelieveResult, error)
	// Delay makes the named activity take that long on the workflow clock.
	Delay map[string]time.Duration

	mu    sync.Mutex
	calls []activityCall
	sa    map[string]any
	// saSets lists every value set, by attribute, in order.
	saSets map[string][]any
	// upserts counts the search attribute upserts.
	upserts int
}

// activityCall is one attempt of an activity as the fake saw it.
type activityCall struct {
	Name  string
	Input any
	At    time.Time
}

// newSealTest builds a test environment with SealCompound registered as the
// worker registers it and every activity answering as a healthy store would
// for testCompound.
func newSealTest(t *testing.T) *sealTest {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	// Warnings and errors (a stalled step, say) show up with the test's
	// output when it fails or runs with -v.
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))))
	st := &sealTest{t: t, env: suite.NewTestWorkflowEnvironment(), Delay: map[string]time.Duration{}, sa: map[string]any{}, saSets: map[string][]any{}}
	st.env.SetStartTime(testStart)
	st.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: SealWorkflowID("xd-0403", "longbao-jiayuan")})
	// A seal that never ends (a step stalling for ever, a lift that never
	// takes) fails after two days of workflow time instead of spinning.
	st.env.SetWorkflowRunTimeout(48 * time.Hour)
	Register(st.env, nil)

	st.PlanSeal = func(activities.PlanSealInput) (activities.PlanSealResult, error) { return testCompound, nil }
	st.PublishNotice = func(activities.NoticeInput) error { return nil }
	st.OpenCheckpoint = func(in activities.CheckpointInput) (activities.CheckpointResult, error) {
		res := activities.CheckpointResult{Gate: in.Gate.Code, Mode: "closed"}
		if in.Gate.Entrance {
			res.Mode = "entry"
		}
		for i := range in.RequiredStaff {
			res.Staff = append(res.Staff, fmt.Sprintf("longbao-worker-%s-%d", in.Gate.Code, i+1))
		}
		return res, nil
	}
	st.CloseRoads = func(in activities.CloseRoadsInput) (activities.CloseRoadsResult, error) {
		var res activities.CloseRoadsResult
		for _, r := range in.Roads {
			if r.Entrance {
				res.Entrances = append(res.Entrances, r.Name)
			} else {
				res.Closed++
			}
		}
		return res, nil
	}
	st.Disinfect = func(in activities.DisinfectInput) (activities.DisinfectResult, error) {
		return activities.DisinfectResult{Zones: len(in.Zones)}, nil
	}
	st.CheckCompliance = func(in activities.ComplianceInput) (activities.ComplianceResult, error) {
		return activities.ComplianceResult{Round: in.Round, Checked: 3, Passed: 3}, nil
	}
	st.Reopen = func(activities.ReopenInput) (activities.ReopenResult, error) {
		return activities.ReopenResult{Checkpoints: 3, StaffReleased: 6, RoadsReopened: 2}, nil
	}
	st.RecordEvent = func(domain.Event) error { return nil }
	st.RelieveShift = func(in activities.RelieveInput) (activities.RelieveResult, error) {
		return activities.RelieveResult{Relieved: 2 * len(testCompound.Gates)}, nil
	}

	mockActivity(st, a.PlanSeal, "PlanSeal", func() func(activities.PlanSealInput) (activities.PlanSealResult, error) { return st.PlanSeal })
	mockActivity(st, a.OpenCheckpoint, "OpenCheckpoint", func() func(activities.CheckpointInput) (activities.CheckpointResult, error) { return st.OpenCheckpoint })
	// OpenCheckpoints answers gate by gate through the OpenCheckpoint fake,
	// each gate recorded as an OpenCheckpoint call: a gate the fake fails
	// is reported failed, as the activity does.
	st.env.OnActivity(a.OpenCheckpoints, mock.Anything, mock.Anything).
		AfterFn(func() time.Duration { return st.Delay["OpenCheckpoints"] }).
		Return(func(_ context.Context, in activities.CheckpointsInput) (activities.CheckpointsResult, error) {
			st.record("OpenCheckpoints", in)
			if st.OpenCheckpoints != nil {
				return st.OpenCheckpoints(in)
			}
			return activities.OpenEachGate(in, func(one activities.CheckpointInput) (activities.CheckpointResult, error) {
				st.record("OpenCheckpoint", one)
				return st.OpenCheckpoint(one)
			}), nil
		}).Maybe()
	mockActivity(st, a.CloseRoads, "CloseRoads", func() func(activities.CloseRoadsInput) (activities.CloseRoadsResult, error) { return st.CloseRoads })
	mockActivity(st, a.Disinfect, "Disinfect", func() func(activities.DisinfectInput) (activities.DisinfectResult, error) { return st.Disinfect })
	mockActivity(st, a.CheckCompliance, "CheckCompliance", func() func(activities.ComplianceInput) (activities.ComplianceResult, error) {
		return st.CheckCompliance
	})
	mockActivity(st, a.RelieveShift, "RelieveShift", func() func(activities.RelieveInput) (activities.RelieveResult, error) { return st.RelieveShift })
	mockActivity(st, a.Reopen, "Reopen", func() func(activities.ReopenInput) (activities.ReopenResult, error) { return st.Reopen })
	st.mockErrActivity(a.PublishNotice, "PublishNotice", func(ctx context.Context, in activities.NoticeInput) error {
		st.record("PublishNotice", in)
		return st.PublishNotice(in)
	})
	st.mockErrActivity(a.RecordEvent, "RecordEvent", func(ctx context.Context, e domain.Event) error {
		st.record("RecordEvent", e)
		return st.RecordEvent(e)
	})

	// The test environment keeps no search attributes a test can read, so a
	// mock of the upsert keeps the latest value of each.
	st.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		st.mu.Lock()
		defer st.mu.Unlock()
		st.upserts++
		for k, v := range sa.GetUntypedValues() {
			st.sa[k.GetName()] = v
			st.saSets[k.GetName()] = append(st.saSets[k.GetName()], v)
		}
	}).Return().Maybe()
	return st
}

// mockActivity mocks an activity that returns a result: each attempt is
// recorded, then answered by the fake that get returns at that moment.
func mockActivity[In, Out any](st *sealTest, fn any, name string, get func() func(In) (Out, error)) {
	st.env.OnActivity(fn, mock.Anything, mock.Anything).
		AfterFn(func() time.Duration { return st.Delay[name] }).
		Return(func(_ context.Context, in In) (Out, error) {
			st.record(name, in)
			return get()(in)
		}).Maybe()
}

func (st *sealTest) mockErrActivity(fn any, name string, impl any) {
	st.env.OnActivity(fn, mock.Anything, mock.Anything).
		AfterFn(func() time.Duration { return st.Delay[name] }).
		Return(impl).Maybe()
}

func (st *sealTest) record(name string, in any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.calls = append(st.calls, activityCall{Name: name, Input: in, At: st.env.Now()})
}

// Calls returns the attempts of the named activity so far, or of every
// activity when name is empty.
func (st *sealTest) Calls(name string) []activityCall {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []activityCall
	for _, c := range st.calls {
		if name == "" || c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// inputs returns the inputs of the named activity's attempts, in order.
func inputs[T any](st *sealTest, name string) []T {
	var out []T
	for _, c := range st.Calls(name) {
		out = append(out, c.Input.(T))
	}
	return out
}

// SearchAttributes returns the latest upserted value of every search attribute.
func (st *sealTest) SearchAttributes() map[string]any {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]any, len(st.sa))
	for k, v := range st.sa {
		if l, ok := v.([]string); ok {
			v = slices.Clone(l)
		}
		out[k] = v
	}
	return out
}

// At runs fn when the workflow clock is d past testStart.
func (st *sealTest) At(d time.Duration, fn func()) {
	st.env.RegisterDelayedCallback(fn, d)
}

// Progress answers the progress query now.
func (st *sealTest) Progress() SealProgress {
	st.t.Helper()
	var p SealProgress
	v, err := st.env.QueryWorkflow(QueryProgress)
	if err != nil {
		st.t.Errorf("QueryWorkflow(%s) at %s: %v", QueryProgress, st.env.Now().Sub(testStart), err)
		return p
	}
	if err := v.Get(&p); err != nil {
		st.t.Errorf("decode progress: %v", err)
	}
	return p
}

// updateOutcome is how an update went.
type updateOutcome struct {
	Sent      bool
	Accepted  bool
	Rejected  error
	Completed bool
	Result    any
	Err       error
}

// Update sends an update now; the outcome fills in as the workflow handles it.
func (st *sealTest) Update(name string, arg any) *updateOutcome {
	o := &updateOutcome{}
	st.send(o, name, arg)
	return o
}

// UpdateAt sends an update when the workflow clock is d past testStart.
func (st *sealTest) UpdateAt(d time.Duration, name string, arg any) *updateOutcome {
	o := &updateOutcome{}
	st.At(d, func() { st.send(o, name, arg) })
	return o
}

func (st *sealTest) send(o *updateOutcome, name string, arg any) {
	o.Sent = true
	st.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnAccept: func() { o.Accepted = true },
		OnReject: func(err error) { o.Rejected = err },
		OnComplete: func(res any, err error) {
			o.Completed, o.Result, o.Err = true, res, err
		},
	}, arg)
}

// Run runs the workflow to its end: completion, failure or continue-as-new.
func (st *sealTest) Run(in SealCompoundInput) {
	st.t.Helper()
	st.env.ExecuteWorkflow(SealCompoundName, in)
	if !st.env.IsWorkflowCompleted() {
		st.t.Fatalf("SealCompound did not complete")
	}
}

// Result returns the workflow's result and error.
func (st *sealTest) Result() (SealCompoundResult, error) {
	var res SealCompoundResult
	if err := st.env.GetWorkflowError(); err != nil {
		return res, err
	}
	if err := st.env.GetWorkflowResult(&res); err != nil {
		st.t.Fatalf("GetWorkflowResult: %v", err)
	}
	return res, nil
}
