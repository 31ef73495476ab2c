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

// TestPublishNoticeMessage: a notice keeps the message key and arguments it
// was written from, for the dispatcher to render in each route's locale.
func TestPublishNoticeMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := newActivities(t)
	rf := ref("inc-message")
	plan, err := a.PlanSeal(ctx, PlanSealInput{Ref: rf, Compound: "longbao-jiayuan"})
	if err != nil {
		t.Fatal(err)
	}
	in := NoticeInput{Ref: rf, Step: "notify-lifted", AreaID: plan.AreaID, Kind: "seal-lifted", Audience: "residents",
		Body: "The seal is lifted.", Message: "seal-lifted", Args: map[string]string{"compound": "Longbao Jiayuan", "incident": rf.Incident}}
	bad := in
	bad.Message = ""
	checkAppError(t, "PublishNotice args without a message", a.PublishNotice(ctx, bad), ErrBadInput)
	for range 2 {
		if err := a.PublishNotice(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var key, args string
	if err := a.Store.DB().QueryRowContext(ctx, `SELECT message_key, message_args->>'compound' FROM notices WHERE incident = $1`, rf.Incident).Scan(&key, &args); err != nil {
		t.Fatal(err)
	}
	if key != "seal-lifted" || args != "Longbao Jiayuan" {
		t.Errorf("notice message = %q, compound %q; want seal-lifted, Longbao Jiayuan", key, args)
	}
	if n := count(t, a, `SELECT count(*) FROM notices WHERE incident = $1 AND message_key IS NULL`, rf.Incident); n != 0 {
		t.Errorf("notices without a message key = %d, want 0", n)
	}
}
