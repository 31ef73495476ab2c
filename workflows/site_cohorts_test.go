package workflows

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// A campus that lists its own cohorts has them called in its order, from
// the round's opening, beside everyone else's calls in the step's order:
// the university calls its teachers first although the step says
// students first. Each group has the share of the points' capacity its
// people need.
func TestMassTestingSiteCohorts(t *testing.T) {
	tt := newTestingTest(t)
	tt.OpenRound = func(activities.OpenRoundInput) (domain.RoundPlan, error) {
		p := testPlan()
		p.SiteCohorts = []domain.SiteCohortCount{
			{Site: "sxu", Name: "Shanxi University", Cohort: "teacher", Rank: 1, Count: 43},
			{Site: "sxu", Name: "Shanxi University", Cohort: "student", Rank: 2, Count: 100},
		}
		return p, nil
	}
	tt.Run(testingInput())
	if _, err := tt.Result(); err != nil {
		t.Fatalf("MassTestingStep() error = %v", err)
	}
	want := []struct{ kind, step, audience, from string }{
		{"testing/1/elderly", "testing/longbao/call/elderly", "elderlys of Longbao", "08:00"},
		{"testing/1/resident", "testing/longbao/call/resident", "residents of Longbao", "08:15"},
		{"testing/1/sxu/teacher", "testing/longbao/call/sxu/teacher", "teachers of Shanxi University", "08:00"},
		{"testing/1/sxu/student", "testing/longbao/call/sxu/student", "students of Shanxi University", "10:05"},
	}
	calls := tt.notices("testing/1/")
	if len(calls) != len(want) {
		t.Fatalf("cohort notices = %v, want %d", noticeKindsOf(calls), len(want))
	}
	for i, w := range want {
		n := calls[i]
		if n.Kind != w.kind || n.Step != w.step || n.Audience != w.audience || n.Args["from"] != w.from {
			t.Errorf("notice %d = %s %s %q from %s, want %s %s %q from %s", i, n.Kind, n.Step, n.Audience, n.Args["from"], w.kind, w.step, w.audience, w.from)
		}
	}
	if n := calls[2]; !strings.Contains(n.Body, "Shanxi University") || n.Args["area"] != "Shanxi University (Longbao)" {
		t.Errorf("site call Body, area = %q, %q; want the site named", n.Body, n.Args["area"])
	}
	p := tt.Progress()
	if len(p.Slots) != 4 || p.Slots[2].Site != "sxu" || p.Slots[2].SiteName != "Shanxi University" || p.Slots[0].Site != "" {
		t.Errorf("Progress().Slots = %+v, want the site's slots with its code and name", p.Slots)
	}
}
