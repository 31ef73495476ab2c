package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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
		store.Event{Incident: f.incident, WorkflowID: "response/" + f.incident, Step: "notify-lifted", State: "done"})
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
