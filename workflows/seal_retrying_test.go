package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/activities"
)

// A seal's compliance check fails its first three attempts while the seal
// holds: the response's tree shows the seal retrying, with the failing
// step and the last error, from the first failed attempt; when the check
// works again the seal reads holding again, and the response closes with
// the lift.
func TestResponseShowsSealRetrying(t *testing.T) {
	// The third compliance check of an undisturbed run: when it starts.
	base := newResponseTest(t, sealOnlyRunbook)
	base.UpdateAt(24*time.Hour, UpdateLift, LiftInput{Reason: "clear", By: "district-hq"})
	base.Run(testResponseInput())
	checks := base.Calls("CheckCompliance")
	if len(checks) < 3 {
		t.Fatalf("CheckCompliance called %d times in a day, want at least 3", len(checks))
	}
	third := checks[2].At.Sub(testStart)

	rt := newResponseTest(t, sealOnlyRunbook)
	healthy := rt.CheckCompliance
	n := 0
	rt.CheckCompliance = func(in activities.ComplianceInput) (activities.ComplianceResult, error) {
		n++
		if n >= 3 && n <= 5 {
			return activities.ComplianceResult{}, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
		}
		return healthy(in)
	}
	before := rt.ProgressAt(third - time.Second)
	// Attempts at +0s, +1s and +3s fail; the fourth, at +7s, works.
	during := rt.ProgressAt(third + 2*time.Second)
	after := rt.ProgressAt(third + 5*time.Minute)
	lift := rt.UpdateAt(24*time.Hour, UpdateLift, LiftInput{Reason: "clear", By: "district-hq"})
	rt.Run(testResponseInput())
	p, err := rt.Result()
	if err != nil {
		t.Fatalf("Response() error = %v", err)
	}
	const path = "seal/longbao-jiayuan"
	for name, q := range map[string]*ResponseProgress{"before": before, "after": after} {
		if s := nodeOf(*q, path); s.State != StateDone || !s.Held || q.State != ResponseHolding {
			t.Errorf("%s the outage: response %s, %s = %s held %v (%s); want holding, the seal done and held", name, q.State, path, s.State, s.Held, s.Detail)
		}
	}
	s := nodeOf(*during, path)
	if s.State != StateRetrying || s.Inner != "compliance-check" || !strings.Contains(s.LastError, "connection refused") {
		t.Errorf("during the outage: %s = %s, inner %q, last error %q; want retrying, compliance-check, connection refused", path, s.State, s.Inner, s.LastError)
	}
	if during.State != ResponseHolding {
		t.Errorf("during the outage: response %s, want %s (the seal still holds the compound)", during.State, ResponseHolding)
	}
	var attempts []time.Duration
	for _, c := range rt.Calls("CheckCompliance") {
		if at := c.At.Sub(testStart); at >= third && at < third+time.Minute {
			attempts = append(attempts, at-third)
		}
	}
	if len(attempts) != 4 || attempts[3] != 7*time.Second {
		t.Errorf("attempts of the third check at %v after it began, want four, the last at 7s", attempts)
	}
	if !lift.Accepted || p.State != ResponseClosed {
		t.Errorf("lift accepted %v, Response() = %s; want accepted and closed", lift.Accepted, p.State)
	}
}
