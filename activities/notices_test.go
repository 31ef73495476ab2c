package activities

import (
	"context"
	"maps"
	"testing"
)

// TestCountNotices: the counts a response shows are the store's, every
// state present; an unrouted notice counts as pending.
func TestCountNotices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	_, err := a.CountNotices(ctx, "")
	checkAppError(t, "CountNotices no incident", err, ErrBadInput)
	rf := ref("inc-count")
	plan, err := a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "longbao-jiayuan"})
	if err != nil {
		t.Fatal(err)
	}
	empty := map[string]int{"pending": 0, "sent": 0, "delivered": 0, "undelivered": 0}
	if got, err := a.CountNotices(ctx, rf.Incident); err != nil || !maps.Equal(got, empty) {
		t.Errorf("CountNotices() before any notice = %v, %v; want %v", got, err, empty)
	}
	for _, kind := range []string{"seal-announced", "schools-postponed"} {
		in := NoticeInput{Ref: rf, Step: "notify-" + kind, AreaID: plan.AreaID, Kind: kind, Audience: "residents", Body: "Sealed."}
		if err := a.PublishNotice(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"pending": 2, "sent": 0, "delivered": 0, "undelivered": 0}
	if got, err := a.CountNotices(ctx, rf.Incident); err != nil || !maps.Equal(got, want) {
		t.Errorf("CountNotices() = %v, %v; want %v", got, err, want)
	}
}
