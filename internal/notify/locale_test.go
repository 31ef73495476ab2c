package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

// TestNoticeBodyInRouteLocale: a notice written from a message reaches a
// zh-CN route in Chinese, rendered from its key and arguments; a notice with
// free text keeps the text the workflow wrote.
func TestNoticeBodyInRouteLocale(t *testing.T) {
	f := newFixture(t, 1, 800)
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	routes := writeRoutes(t, t.TempDir(), strings.Replace(webhookRoutes(srv.URL, 1), "locale: en", "locale: zh-CN", 1))

	ctx := context.Background()
	var areaID int64
	if err := f.s.DB().GetContext(ctx, &areaID, `SELECT id FROM areas WHERE code = $1`, f.compounds[0]); err != nil {
		t.Fatal(err)
	}
	err := f.s.PublishNotice(ctx, store.Notice{Key: f.incident + "/lifted", Incident: f.incident, AreaID: areaID,
		Audience: "residents of Compound 01", Kind: "seal-lifted", Body: "The seal of Compound 01 is lifted. Thank you for your patience.",
		Message: "seal-lifted", Args: map[string]string{"compound": "龙宝一号院", "incident": f.incident}},
		domain.Event{Incident: f.incident, WorkflowID: "response/" + f.incident, Step: "notify-lifted", State: "done"})
	if err != nil {
		t.Fatal(err)
	}
	f.notice(t, "", "district command", "escalation/1", "Step 1 still not done.")

	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(2))

	mu.Lock()
	all := strings.Join(got, "\n")
	mu.Unlock()
	for _, want := range []string{"龙宝一号院封控已解除", "感谢您的配合", "Step 1 still not done."} {
		if !strings.Contains(all, want) {
			t.Errorf("delivered messages = %s\nwant them to contain %q", all, want)
		}
	}
	if strings.Contains(all, "Thank you for your patience") {
		t.Errorf("delivered messages = %s\nwant the lift notice in Chinese, not the stored English text", all)
	}
}

// TestRunbookNoticeInEachRouteLocale: a runbook notice written in English
// and Chinese reaches a zh-CN route with the Chinese text and an en route
// with the English one; a runbook notice with only English reaches both
// in English.
func TestRunbookNoticeInEachRouteLocale(t *testing.T) {
	f := newFixture(t, 1, 800)
	received := func() (*httptest.Server, func() string) {
		var mu sync.Mutex
		var got []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		return srv, func() string {
			mu.Lock()
			defer mu.Unlock()
			return strings.Join(got, "\n")
		}
	}
	zhSrv, zhGot := received()
	enSrv, enGot := received()
	routes := writeRoutes(t, t.TempDir(), fmt.Sprintf(`districts:
  xiaodian:
    locale: en
    channels:
      schools-zh:
        type: webhook
        url: %s
        secret: ${TEST_HOOK_SECRET}
      schools-en:
        type: webhook
        url: %s
        secret: ${TEST_HOOK_SECRET}
    routes:
      - audience: [school]
        channels: [schools-zh]
        locale: zh-CN
      - audience: [school]
        channels: [schools-en]
        locale: en
`, zhSrv.URL, enSrv.URL))

	ctx := context.Background()
	en := "All schools of Xiaodian postpone reopening and teach online (incident " + f.incident + ")."
	zh := "全区各学校推迟开学，实行线上教学（事件" + f.incident + "）。"
	err := f.s.PublishNotice(ctx, store.Notice{Key: f.incident + "/0/schools-postponed", Incident: f.incident,
		Audience: "all schools of the district", Kind: "schools-postponed", Body: en,
		Message: domain.MessageRunbookText, Args: map[string]string{"en": en, "zh-CN": zh}},
		domain.Event{Incident: f.incident, WorkflowID: "response/" + f.incident, Step: "schools", State: "done"})
	if err != nil {
		t.Fatal(err)
	}
	f.notice(t, "", "all schools of the district", "schools-reopen", "Schools reopen on Monday.")

	runDispatcher(t, dispatcher(t, f.s, routes, "d1"))
	// Two notices, each delivered on both routes.
	waitCounts(t, f.s, f.incident, 10*time.Second, allDone(4))

	// JSON escapes no Chinese, so the texts are found as written.
	if got := zhGot(); !strings.Contains(got, zh) || strings.Contains(got, "teach online") || !strings.Contains(got, "Schools reopen on Monday.") {
		t.Errorf("zh-CN route received %s\nwant %q, not the English text, and the English-only notice as written", got, zh)
	}
	if got := enGot(); !strings.Contains(got, en) || strings.Contains(got, "线上教学") || !strings.Contains(got, "Schools reopen on Monday.") {
		t.Errorf("en route received %s\nwant %q, not the Chinese text", got, en)
	}
}
