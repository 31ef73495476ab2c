// Package browser checks the board and the Temporal Web UI in a real
// headless Chromium: the stack runs (dev server with its UI, worker, API),
// a response runs with a step that stalls, and the test looks at what a
// supervisor sees.
package browser

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// EnvChromium names the browser to drive; otherwise chromium is looked up
// on PATH. EnvScreenshots names the folder screenshots go to (default: the
// test's temporary folder).
const (
	EnvChromium    = "MUSTER_CHROMIUM"
	EnvScreenshots = "MUSTER_SCREENSHOTS"
)

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", EnvChromium, p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("no Chromium found: install it (apt-get install -y chromium) or set %s to a Chrome or Chromium binary", EnvChromium)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stallingRunbook is the built-in level-1 runbook with the schools notice
// stalling after two quick attempts and waiting for an operator.
func stallingRunbook(t *testing.T, name string) []byte {
	t.Helper()
	srcs, err := builtin.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Name != "community-outbreak-level-1.yaml" {
			continue
		}
		text := strings.Replace(string(s.Data), "name: community-outbreak-level-1", "name: "+name, 1)
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			if strings.TrimSpace(l) == "- id: schools" {
				indent := strings.Repeat(" ", strings.Index(l, "-")+2)
				retry := []string{indent + "retry:", indent + "  max_attempts: 2", indent + "  initial_interval: 100ms",
					indent + "  maximum_interval: 100ms", indent + "  stall_retry: 1000h"}
				lines = append(lines[:i+1], append(retry, lines[i+1:]...)...)
				return []byte(strings.Join(lines, "\n"))
			}
		}
	}
	t.Fatal("no built-in community-outbreak-level-1 with a schools step")
	return nil
}

func TestBoardAndWebUIInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack and a browser")
	}
	bin := chromium(t)
	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	uiPort := freePort(t)
	srv := temporaltest.ServerWithUI(t, uiPort)
	st := pgtest.New(t)
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	if err := service.PublishBuiltins(ctx, st); err != nil {
		t.Fatal(err)
	}
	name := "outbreak-browser"
	if _, _, err := st.PublishRunbook(ctx, name, "Level-1 response (stalling schools notice)", stallingRunbook(t, name), "test"); err != nil {
		t.Fatal(err)
	}
	// The outbox refuses the schools notice, so that step stalls.
	if _, err := st.DB().ExecContext(ctx, `
		CREATE FUNCTION refuse_schools() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		    IF NEW.kind = 'schools-postponed' THEN RAISE EXCEPTION 'outbox unavailable'; END IF;
		    RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_schools BEFORE INSERT ON notices FOR EACH ROW EXECUTE FUNCTION refuse_schools();`); err != nil {
		t.Fatal(err)
	}
	taskQueue, _ := temporaltest.Worker(t, srv.Client(), st, "browser")
	uiURL := fmt.Sprintf("http://127.0.0.1:%d", uiPort)
	// The board is opened as a supervisor would: with a credential of that role.
	token, digest, err := api.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCredential(ctx, store.Credential{Name: "supervisor-01", Role: api.RoleSupervisor}, digest, "browser-test"); err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Store: st, Temporal: srv.Client(), TaskQueue: taskQueue, UIURL: uiURL, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(s.Handler())
	defer web.Close()

	incident := pgtest.Name("web")
	in := workflows.ResponseInput{Incident: incident, Runbook: name, Area: "longbao", TimeScale: 3600, RequestedBy: "browser-test"}
	id, _, err := service.StartResponse(ctx, srv.Client(), taskQueue, in, "browser test")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "schools stalled", func() (bool, string) {
		p, err := api.QueryResponse(ctx, srv.Client(), id)
		if err != nil {
			return false, err.Error()
		}
		n := p.Find("schools")
		if n == nil {
			return false, "no step yet"
		}
		return n.State == workflows.StateStalled, n.State
	})

	// A testing round over Longbao with part of its residents sampled, so
	// the board has coverage to show. The round is opened the way the
	// testing step opens it; the response's own round comes later.
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Now().Add(-2 * time.Hour)
	plan, err := st.OpenRound(ctx, incident, longbao.ID, 1, opens, opens.Add(7*time.Hour),
		domain.Event{Incident: incident, WorkflowID: id + "/testing/longbao/round-1", Step: "open-round", State: "done", Actor: "browser-test"})
	if err != nil {
		t.Fatal(err)
	}
	sampled := sampleHalf(t, st, incident, plan.RoundID, opens)

	allocCtx, cancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1280, 1000),
		chromedp.Flag("lang", "en-US"))...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	// The board: the tree, the coverage figures and the stalled step.
	var tree, coverage, attention string
	var png []byte
	if err := chromedp.Run(bctx,
		chromedp.Navigate(web.URL+"/board?incident="+incident+"#token="+token),
		chromedp.WaitVisible(`body[data-loaded="1"]`),
		chromedp.WaitVisible(`#tree li[data-area="xiaodian"]`),
		chromedp.Click(`#tree li[data-area="xiaodian"] > button`),
		chromedp.WaitVisible(`#tree li[data-area="`+strings.Split(longbao.Path, "/")[1]+`"]`),
		chromedp.Click(`#tree li[data-area="`+strings.Split(longbao.Path, "/")[1]+`"] > button`),
		chromedp.WaitVisible(`#tree li[data-area="longbao"]`),
		chromedp.Click(`#tree li[data-area="longbao"] > button`),
		chromedp.WaitVisible(`#tree li[data-area="longbao-jiayuan"]`),
		chromedp.Text(`#tree`, &tree),
		chromedp.Text(`#rounds`, &coverage),
		chromedp.Text(`#attention`, &attention),
		chromedp.FullScreenshot(&png, 100),
	); err != nil {
		t.Fatalf("board: %v", err)
	}
	save(t, shots, "board.png", png)
	for _, want := range []string{"Xiaodian District", "Longbao Community", "sealed"} {
		if !strings.Contains(tree, want) {
			t.Errorf("board tree lacks %q:\n%s", want, tree)
		}
	}
	if want := fmt.Sprintf("%s / 7,013", num(sampled)); !strings.Contains(coverage, want) {
		t.Errorf("board coverage lacks %q:\n%s", want, coverage)
	}
	for _, want := range []string{"schools", "stalled", "outbox unavailable", "muster step retry " + incident + " schools"} {
		if !strings.Contains(attention, want) {
			t.Errorf("board attention lacks %q:\n%s", want, attention)
		}
	}

	// The board follows the browser's language.
	var zhBody string
	if err := chromedp.Run(bctx,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": "zh-CN,zh;q=0.9"}),
		chromedp.Navigate(web.URL+"/board?incident="+incident),
		chromedp.WaitVisible(`body[data-loaded="1"]`),
		chromedp.Text(`body`, &zhBody),
		chromedp.FullScreenshot(&png, 100),
		network.SetExtraHTTPHeaders(network.Headers{}),
	); err != nil {
		t.Fatalf("board in Chinese: %v", err)
	}
	save(t, shots, "board-zh.png", png)
	for _, want := range []string{"Muster 实时看板", "需要处理", "核酸检测覆盖", "封控中", "muster step retry " + incident + " schools"} {
		if !strings.Contains(zhBody, want) {
			t.Errorf("board with Accept-Language zh-CN lacks %q", want)
		}
	}

	// The Temporal Web UI: filter by area and by step state, then open the
	// response.
	query := fmt.Sprintf("MusterAreaPath = '%s' AND MusterStepState = 'stalled'", longbao.Path)
	var list string
	if err := chromedp.Run(bctx,
		chromedp.Navigate(uiURL+"/namespaces/default/workflows?query="+urlQuery(query)),
		chromedp.WaitVisible(`a[href*="`+strings.ReplaceAll(id, "/", "%2F")+`"]`),
		chromedp.Sleep(time.Second),
		chromedp.Text(`body`, &list),
		chromedp.FullScreenshot(&png, 100),
	); err != nil {
		t.Fatalf("Web UI list: %v", err)
	}
	save(t, shots, "ui-filtered.png", png)
	if !strings.Contains(list, id) {
		t.Errorf("filtered list lacks %s", id)
	}
	// The response's page: its summary and current details (the step
	// table) under User Metadata, its child steps under Relationships.
	var details, frames, children string
	page := uiURL + "/namespaces/default/workflows/" + strings.ReplaceAll(id, "/", "%2F")
	if err := chromedp.Run(bctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(`//a[contains(., "User Metadata")]`, chromedp.BySearch),
		chromedp.Click(`//a[contains(., "User Metadata")]`, chromedp.BySearch),
		chromedp.Sleep(2*time.Second),
		chromedp.Text(`main`, &details, chromedp.ByQuery),
		// The UI renders summaries and details (markdown) in frames.
		chromedp.Evaluate(`Array.from(document.querySelectorAll("iframe")).map(f => (f.contentDocument && f.contentDocument.body) ? f.contentDocument.body.innerText : (f.srcdoc || "")).join("\n")`, &frames),
		chromedp.FullScreenshot(&png, 100),
	); err != nil {
		t.Fatalf("Web UI response details: %v", err)
	}
	details += "\n" + frames
	save(t, shots, "ui-response.png", png)
	for _, want := range []string{"Summary", "Current Details", "browser test", "seal/longbao-jiayuan", "holding", "schools", "stalled"} {
		if !strings.Contains(details, want) {
			t.Errorf("response page (User Metadata) lacks %q:\n%s", want, details)
		}
	}
	if err := chromedp.Run(bctx,
		chromedp.Click(`//a[contains(., "Relationships")]`, chromedp.BySearch),
		chromedp.WaitVisible(`//a[contains(., "seal/longbao-jiayuan")]`, chromedp.BySearch),
		chromedp.Text(`main`, &children, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100),
	); err != nil {
		t.Fatalf("Web UI child steps: %v", err)
	}
	save(t, shots, "ui-children.png", png)
	for _, want := range []string{id + "/seal/longbao-jiayuan", id + "/schools"} {
		if !strings.Contains(children, want) {
			t.Errorf("response page (Relationships) lacks child %q", want)
		}
	}
}

// sampleHalf samples half of the round's residents who come to points,
// a minute apart per point, and returns how many were accepted.
func sampleHalf(t *testing.T, st *store.Store, incident string, roundID int64, opens time.Time) int {
	t.Helper()
	ctx := context.Background()
	var rows []store.SampleRow
	var after int64
	for {
		page, err := st.Roster(ctx, roundID, after, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			after = r.ID
			if r.HomeVisit || r.Point == "" || r.ID%2 == 0 {
				continue
			}
			rows = append(rows, store.SampleRow{Tube: "W" + r.Code, Resident: r.Code, Point: r.Point, TakenAt: opens.Add(time.Duration(len(rows)) * time.Second)})
		}
	}
	res, err := st.IngestSamples(ctx, store.IngestBatch{Incident: incident, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	return res.Accepted
}

func num(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func urlQuery(q string) string {
	r := strings.NewReplacer(" ", "+", "'", "%27", "=", "%3D", "/", "%2F")
	return r.Replace(q)
}

func save(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last seen: %s", what, timeout, last)
}
