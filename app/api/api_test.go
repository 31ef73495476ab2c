package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer collects the server's log lines from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// apiClient talks to a running API over real HTTP. It holds a credential
// of every role and sends, on each route, the token of the first role the
// route allows; token, when set, is sent instead on every route.
type apiClient struct {
	t      *testing.T
	base   string
	token  string
	tokens map[string]string
	st     *store.Store
	logs   *syncBuffer
}

// routeMux finds the Route of a request, to pick its role.
var routeMux = sync.OnceValue(func() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		mux.Handle(rt.Method+" "+rt.Path, http.NotFoundHandler())
	}
	return mux
})

// routeOf returns the route a method and path reach.
func routeOf(method, path string) (Route, bool) {
	req, _ := http.NewRequest(method, "http://x"+path, nil)
	_, pattern := routeMux().Handler(req)
	for _, rt := range Routes() {
		if rt.Method+" "+rt.Path == pattern {
			return rt, true
		}
	}
	return Route{}, false
}

// testCredential makes a credential and returns its token.
func testCredential(t *testing.T, st *store.Store, name, role string, scope ...string) string {
	t.Helper()
	tok, digest, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCredential(context.Background(), store.Credential{Name: name, Role: role, Scope: scope}, digest, "api-test"); err != nil {
		t.Fatal(err)
	}
	return tok
}

// as returns the client acting with one credential on every route.
func (c *apiClient) as(token string) *apiClient {
	cp := *c
	cp.token = token
	return &cp
}

// asNew makes a credential and returns the client acting with it.
func (c *apiClient) asNew(name, role string, scope ...string) *apiClient {
	c.t.Helper()
	return c.as(testCredential(c.t, c.st, name, role, scope...))
}

// with returns the client reporting to t.
func (c *apiClient) with(t *testing.T) *apiClient {
	cp := *c
	cp.t = t
	return &cp
}

// newAPI serves the real handler on a local port.
func newAPI(t *testing.T, st *store.Store, c client.Client, taskQueue string) *apiClient {
	t.Helper()
	return newAPIWith(t, st, c, taskQueue, Limits{})
}

// newAPIWith is newAPI with limits on requests at once.
func newAPIWith(t *testing.T, st *store.Store, c client.Client, taskQueue string, limits Limits) *apiClient {
	t.Helper()
	logs := &syncBuffer{}
	s, err := New(Options{Store: st, Temporal: c, TaskQueue: taskQueue, Limits: limits, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	var points []string
	if err := st.DB().SelectContext(context.Background(), &points, `SELECT code FROM sites WHERE kind = 'sampling-point' ORDER BY code`); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, role := range Roles {
		var scope []string
		if role == RoleStation {
			scope = points
		}
		var n int
		st.DB().GetContext(context.Background(), &n, `SELECT count(*) FROM api_credentials WHERE name = $1 AND revoked_at IS NULL`, "test-"+role)
		if n > 0 {
			// A second server over the same database: fresh tokens.
			if _, err := st.RevokeCredential(context.Background(), "test-"+role, "api-test"); err != nil {
				t.Fatal(err)
			}
		}
		tokens[role] = testCredential(t, st, "test-"+role, role, scope...)
	}
	return &apiClient{t: t, base: srv.URL, tokens: tokens, st: st, logs: logs}
}

// reply is an answer: its status, headers and body.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// decode reads the body into v.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

func (r reply) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	return e
}

// do sends a request; body is JSON unless it is a string (sent as is).
func (c *apiClient) do(method, path string, body any) reply {
	c.t.Helper()
	return c.doWith(method, path, body, map[string]string{"Authorization": "Bearer " + c.tokenFor(method, path)})
}

// tokenFor is the token the client sends on a route.
func (c *apiClient) tokenFor(method, path string) string {
	if c.token != "" {
		return c.token
	}
	if rt, ok := routeOf(method, path); ok && len(rt.Roles) > 0 {
		return c.tokens[rt.Roles[0]]
	}
	return c.tokens[RoleCommand]
}

// doAs sends a request with the route's token and extra headers.
func (c *apiClient) doAs(method, path string, body any, header map[string]string) reply {
	c.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + c.tokenFor(method, path)}
	for k, v := range header {
		h[k] = v
	}
	return c.doWith(method, path, body, h)
}

func (c *apiClient) doWith(method, path string, body any, header map[string]string) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// want checks an answer's status and returns it.
func (c *apiClient) want(status int, method, path string, body any) reply {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Fatalf("%s %s = %s, want %d", method, path, r, status)
	}
	return r
}

// wantError checks an error answer: its status, the field it names and
// words of its message.
func (c *apiClient) wantError(status int, field, method, path string, body any, words ...string) {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Errorf("%s %s = %s, want %d", method, path, r, status)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s %s Content-Type = %q, want application/json", method, path, ct)
	}
	e := r.errorBody(c.t)
	if e.Field != field {
		c.t.Errorf("%s %s field = %q (%s), want %q", method, path, e.Field, e.Error, field)
	}
	for _, w := range words {
		if !strings.Contains(e.Error, w) {
			c.t.Errorf("%s %s error = %q, want it to mention %q", method, path, e.Error, w)
		}
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last seen: %s", what, timeout, last)
}

// referenceStore is a database with the reference scenario and the
// built-in runbooks.
func referenceStore(t *testing.T) *store.Store {
	t.Helper()
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	// Loaded once per test process; each test copies it.
	return pgtest.Seeded(t, "reference+builtins", func(ctx context.Context, st *store.Store) error {
		if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
			return err
		}
		return service.PublishBuiltins(ctx, st)
	})
}

func TestNewRefusesAMissingStore(t *testing.T) {
	t.Parallel()
	_, err := New(Options{})
	if err == nil || !strings.Contains(err.Error(), "store") {
		t.Errorf("New without a store = %v, want an error naming the store", err)
	}
}

// TestOpenAPIDocument checks that the document describes exactly the
// routes the mux serves, and that it holds together.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Security   []map[string][]string                `json:"security"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if b := doc.Components.SecuritySchemes["bearerAuth"]; b.Type != "http" || b.Scheme != "bearer" {
		t.Errorf("securitySchemes.bearerAuth = %+v, want http bearer", b)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Errorf("security = %v, want bearerAuth for every operation by default", doc.Security)
	}

	s := &Server{log: slog.New(slog.DiscardHandler)}
	mux := s.newMux()
	served := map[string]Route{}
	for _, rt := range s.routes() {
		served[rt.Method+" "+rt.Path] = rt
	}
	documented := map[string]map[string]any{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	// sample fills a path's wildcards the way a client would.
	sample := func(path string) string {
		return regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(path, "x-1")
	}
	for key, rt := range served {
		op, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		req := httptest.NewRequest(rt.Method, sample(rt.Path), nil)
		if _, pattern := mux.Handler(req); pattern != key {
			t.Errorf("mux serves %s %s with %q, want %q", rt.Method, sample(rt.Path), pattern, key)
		}
		sec, hasSec := op["security"].([]any)
		switch {
		case rt.Public && !(hasSec && len(sec) == 0):
			t.Errorf("%s is public; openapi.json must give it security: []", key)
		case !rt.Public && hasSec:
			t.Errorf("%s needs the token; openapi.json must not override its security", key)
		}
		responses, _ := op["responses"].(map[string]any)
		if _, ok := responses["401"]; !rt.Public && !ok {
			t.Errorf("%s: openapi.json lists no 401", key)
		}
		if _, ok := responses["403"]; !rt.Public && !ok {
			t.Errorf("%s: openapi.json lists no 403", key)
		}
		if _, ok := responses["503"]; !rt.Public && !ok {
			t.Errorf("%s: openapi.json lists no 503 (too many requests at once)", key)
		}
		var roles []string
		if rs, ok := op["x-muster-roles"].([]any); ok {
			for _, r := range rs {
				roles = append(roles, fmt.Sprint(r))
			}
		}
		if !rt.Public && !slices.Equal(roles, rt.Roles) {
			t.Errorf("%s: openapi.json x-muster-roles = %v, want %v (the route's rule)", key, roles, rt.Roles)
		}
	}
	for key := range documented {
		if _, ok := served[key]; !ok {
			t.Errorf("openapi.json documents %s, which the mux does not serve", key)
		}
	}

	// Every reference resolves, every path parameter is declared, and
	// operation IDs are unique.
	var raw any
	if err := json.Unmarshal(OpenAPI(), &raw); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolve(raw, ref) == nil {
				t.Errorf("$ref %s does not resolve", ref)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(raw)
	ids := map[string]string{}
	for key, op := range documented {
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] != "" {
			t.Errorf("%s: operationId %q is missing or also used by %s", key, id, ids[id])
		}
		ids[id] = key
		var declared []string
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				pm, _ = resolve(raw, ref).(map[string]any)
			}
			if pm["in"] == "path" {
				declared = append(declared, pm["name"].(string))
			}
		}
		for _, m := range regexp.MustCompile(`\{([a-z]+)\}`).FindAllStringSubmatch(key, -1) {
			if !slices.Contains(declared, m[1]) {
				t.Errorf("%s: path parameter %s is not declared", key, m[1])
			}
		}
	}
}

// resolve follows a local JSON pointer, or returns nil.
func resolve(doc any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := doc
	for _, part := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	return cur
}

// TestBeforeTheEngine covers what the API answers from its own checks and
// the database alone; Temporal is unreachable.
func TestBeforeTheEngine(t *testing.T) {
	t.Parallel()
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	base := newAPI(t, st, nowhere, "api-test")

	t.Run("token", func(t *testing.T) {
		c := base.with(t)
		for _, tt := range []struct {
			name, header, want string
		}{
			{"missing", "", "missing token"},
			{"short", "Bearer not-the-token", "too short"},
			{"unknown", "Bearer " + strings.Repeat("0", 64), "unknown or revoked"},
			{"other scheme", "Basic " + c.tokens[RoleCommand], "Bearer"},
			{"token alone", c.tokens[RoleCommand], "Bearer"},
		} {
			h := map[string]string{}
			if tt.header != "" {
				h["Authorization"] = tt.header
			}
			r := c.doWith("GET", "/v1/runbooks", nil, h)
			if r.status != http.StatusUnauthorized || !strings.Contains(r.errorBody(t).Error, tt.want) {
				t.Errorf("%s token: GET /v1/runbooks = %s, want 401 mentioning %q", tt.name, r, tt.want)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s token: no WWW-Authenticate header", tt.name)
			}
		}
		// The scheme is case-insensitive.
		if r := c.doWith("GET", "/v1/runbooks", nil, map[string]string{"Authorization": "bearer " + c.tokens[RoleSupervisor]}); r.status != http.StatusOK {
			t.Errorf("lower-case bearer = %s, want 200", r)
		}
		// A 401 comes before anything else: no validation without a token.
		if r := c.doWith("POST", "/v1/responses", `{"bogus": 1}`, nil); r.status != http.StatusUnauthorized {
			t.Errorf("POST /v1/responses without a token = %s, want 401", r)
		}
		// The public endpoints need none.
		r := c.doWith("GET", "/openapi.json", nil, nil)
		if r.status != http.StatusOK || !bytes.Equal(r.body, OpenAPI()) {
			t.Errorf("GET /openapi.json without a token = %d, want 200 with the document", r.status)
		}
	})

	t.Run("healthz", func(t *testing.T) {
		c := base.with(t)
		r := c.doWith("GET", "/healthz", nil, nil)
		var h Health
		r.decode(t, &h)
		if r.status != http.StatusServiceUnavailable || h != (Health{"unavailable", "ok", "unavailable"}) {
			t.Errorf("GET /healthz with Temporal down = %s, want 503 with the database ok and Temporal unavailable", r)
		}
	})

	t.Run("bad responses", func(t *testing.T) {
		good := func(edit func(m map[string]any)) map[string]any {
			m := map[string]any{"incident": "xd-0403", "runbook": "seal-compound", "area": "longbao-jiayuan"}
			edit(m)
			return m
		}
		tests := []struct {
			name   string
			body   any
			status int
			field  string
			words  []string
		}{
			{"unknown field", good(func(m map[string]any) { m["colour"] = "red" }), 400, "colour", []string{"unknown field", "incident, runbook"}},
			{"bad incident", good(func(m map[string]any) { m["incident"] = "Bad One" }), 400, "incident", []string{"lower-case"}},
			{"missing incident", good(func(m map[string]any) { delete(m, "incident") }), 400, "incident", []string{"required"}},
			{"missing area", good(func(m map[string]any) { delete(m, "area") }), 400, "area", []string{"required"}},
			{"missing runbook", good(func(m map[string]any) { m["runbook"] = " " }), 400, "runbook", []string{"required"}},
			{"bad runbook name", good(func(m map[string]any) { m["runbook"] = "Seal Compound" }), 400, "runbook", []string{"lower-case"}},
			{"level too high", good(func(m map[string]any) { m["level"] = 5 }), 400, "level", []string{"1 (highest) to 4"}},
			{"level zero", good(func(m map[string]any) { m["level"] = 0 }), 400, "level", []string{"1 (highest) to 4"}},
			{"level of the wrong type", good(func(m map[string]any) { m["level"] = "one" }), 400, "level", []string{"whole number"}},
			{"time scale too small", good(func(m map[string]any) { m["time_scale"] = 0.5 }), 400, "time_scale", []string{"100000"}},
			{"time scale zero", good(func(m map[string]any) { m["time_scale"] = 0 }), 400, "time_scale", nil},
			{"time scale too large", good(func(m map[string]any) { m["time_scale"] = 1e6 }), 400, "time_scale", nil},
			{"negative version", good(func(m map[string]any) { m["version"] = -1 }), 400, "version", nil},
			{"empty body", "", 400, "", []string{"empty"}},
			{"not JSON", "incident=xd-0403", 400, "", []string{"not valid JSON"}},
			{"an array", "[]", 400, "", []string{"JSON object"}},
			{"two objects", `{"incident": "a"} {"incident": "b"}`, 400, "", []string{"more than one"}},
			{"too large", `{"incident": "` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "", []string{"larger than"}},
			{"unknown runbook", good(func(m map[string]any) { m["runbook"] = "no-such-runbook" }), 404, "runbook", []string{"not published"}},
			{"unknown version", good(func(m map[string]any) { m["version"] = 99 }), 404, "runbook", []string{"no version 99"}},
			{"unknown area", good(func(m map[string]any) { m["area"] = "nowhere" }), 404, "area", []string{"unknown area"}},
			{"area of the wrong level", good(func(m map[string]any) { m["area"] = "longbao" }), 400, "area", []string{"is for a compound", "longbao is a community"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := base.with(t)
				c.wantError(tt.status, tt.field, "POST", "/v1/responses", tt.body, tt.words...)
			})
		}
	})

	t.Run("bad actions", func(t *testing.T) {
		c := base.with(t)
		tests := []struct {
			path  string
			body  any
			field string
			words []string
		}{
			{"/v1/responses/Bad_One/lift", map[string]any{"reason": "x"}, "incident", []string{"lower-case"}},
			{"/v1/responses/xd-1/lift", map[string]any{"by": "me"}, "reason", []string{"required"}},
			{"/v1/responses/xd-1/lift", map[string]any{"reason": "x", "wait": true}, "wait", []string{"unknown field"}},
			{"/v1/responses/xd-1/escalate", map[string]any{"level": 9, "reason": "x"}, "level", []string{"1 (highest) to 4"}},
			{"/v1/responses/xd-1/escalate", map[string]any{"level": 2}, "reason", nil},
			{"/v1/responses/xd-1/areas", map[string]any{"area": "Not An Area", "reason": "x"}, "area", nil},
			{"/v1/responses/xd-1/steps/retry", map[string]any{}, "step", []string{"required"}},
			{"/v1/responses/xd-1/steps/retry", map[string]any{"step": "a", "reason": "x"}, "reason", []string{"unknown field"}},
			{"/v1/responses/xd-1/steps/skip", map[string]any{"step": "schools"}, "reason", []string{"required"}},
			{"/v1/responses/xd-1/steps/abort", map[string]any{"step": "schools", "reason": " "}, "reason", nil},
			{"/v1/responses/xd-1/steps/pause", map[string]any{"reason": "x"}, "step", nil},
			{"/v1/responses/xd-1/steps/decide", map[string]any{"step": "approve-lift", "decision": "maybe"}, "decision", []string{"approve or reject"}},
		}
		for _, tt := range tests {
			c.wantError(400, tt.field, "POST", tt.path, tt.body, tt.words...)
		}
		// An unknown area is caught before the workflow sees it.
		c.wantError(404, "area", "POST", "/v1/responses/xd-1/areas", map[string]any{"area": "nowhere", "reason": "x"}, "unknown area")
		c.wantError(400, "incident", "GET", "/v1/responses/Not_An_Incident", nil)
		c.wantError(400, "incident", "GET", "/v1/responses/Not_An_Incident/events", nil)
	})

	t.Run("bad lists", func(t *testing.T) {
		c := base.with(t)
		c.wantError(400, "state", "GET", "/v1/responses?state=sleeping", nil, "stalled")
		c.wantError(400, "running", "GET", "/v1/responses?running=perhaps", nil)
		c.wantError(400, "incident", "GET", "/v1/responses?incident=Bad_One", nil)
		c.wantError(400, "colour", "GET", "/v1/responses?colour=red", nil, "unknown query parameter")
		c.wantError(400, "area", "GET", "/v1/responses?area=x'%20OR%20'1", nil)
		c.wantError(404, "area", "GET", "/v1/responses?area=nowhere", nil, "unknown area")
	})

	t.Run("areas", func(t *testing.T) {
		c := base.with(t)
		var res struct{ Areas []AreaView }
		c.want(200, "GET", "/v1/areas?under=longbao&level=compound", nil).decode(t, &res)
		var codes []string
		for _, a := range res.Areas {
			codes = append(codes, a.Code)
			if a.Level != "compound" || !strings.HasPrefix(a.Path, "xiaodian/beiying/longbao/") {
				t.Errorf("area %+v: want a compound under xiaodian/beiying/longbao", a)
			}
		}
		if len(codes) != 6 || !slices.Contains(codes, "longbao-jiayuan") {
			t.Errorf("compounds of longbao = %v, want 6 with longbao-jiayuan", codes)
		}
		c.want(200, "GET", "/v1/areas", nil).decode(t, &res)
		if len(res.Areas) < 10 || res.Areas[0].Path != "xiaodian" || !sort.SliceIsSorted(res.Areas, func(i, j int) bool { return res.Areas[i].Path < res.Areas[j].Path }) {
			t.Errorf("GET /v1/areas = %d areas starting with %+v, want the whole tree by path from xiaodian", len(res.Areas), res.Areas[0])
		}
		c.wantError(404, "under", "GET", "/v1/areas?under=nowhere", nil, "unknown area")
		c.wantError(400, "level", "GET", "/v1/areas?level=compund", nil, "compound")
		c.wantError(400, "deep", "GET", "/v1/areas?deep=1", nil)
	})

	t.Run("runbooks", func(t *testing.T) {
		c := base.with(t)
		var list struct{ Runbooks []RunbookSummary }
		c.want(200, "GET", "/v1/runbooks", nil).decode(t, &list)
		var names []string
		for _, r := range list.Runbooks {
			names = append(names, r.Name)
		}
		if !slices.Contains(names, "seal-compound") || !slices.Contains(names, "community-outbreak-level-1") {
			t.Errorf("GET /v1/runbooks = %v, want the built-in runbooks", names)
		}
		var rb RunbookDetail
		c.want(200, "GET", "/v1/runbooks/seal-compound?version=1", nil).decode(t, &rb)
		if rb.Version != 1 || rb.Definition == nil || len(rb.Definition.Steps) != 4 || !strings.Contains(rb.Source, "approve-lift") {
			t.Errorf("GET /v1/runbooks/seal-compound = version %d, definition %v; want version 1 with 4 steps and its source", rb.Version, rb.Definition)
		}
		c.wantError(404, "name", "GET", "/v1/runbooks/no-such-runbook", nil, "not published")
		c.wantError(404, "version", "GET", "/v1/runbooks/seal-compound?version=99", nil, "no version 99")
		c.wantError(400, "version", "GET", "/v1/runbooks/seal-compound?version=latest", nil)
		c.wantError(400, "name", "GET", "/v1/runbooks/Seal_Compound", nil)
	})

	bad := `name: broken-runbook
title: Broken
level: 1
steps:
  - id: seal
    for_each:
      areas:
        level: compund
      steps:
        - id: s
          kind: seal
  - id: tell
    kind: no-such-kind
`
	good := `name: api-test-runbook
title: API test
level: 2
area: community
steps:
  - id: tell
    kind: notice
    params: {audience: residents, topic: api-test, body: "hello"}
`

	t.Run("validate", func(t *testing.T) {
		c := base.with(t)
		var v ValidateResult
		c.want(200, "POST", "/v1/runbooks/validate", bad).decode(t, &v)
		if v.Valid || len(v.Errors) < 2 {
			t.Fatalf("validate of a broken runbook = %+v, want invalid with at least 2 problems", v)
		}
		found := map[string]Problem{}
		for _, p := range v.Errors {
			found[p.Path] = p
		}
		if p := found["steps[0].for_each.areas.level"]; p.Line != 8 || !strings.Contains(p.Message, `"compund"`) {
			t.Errorf("problems = %+v, want steps[0].for_each.areas.level at line 8 naming \"compund\"", v.Errors)
		}
		if p, ok := found["steps[1].kind"]; !ok || p.Line != 13 {
			t.Errorf("problems = %+v, want steps[1].kind at line 13", v.Errors)
		}
		c.want(200, "POST", "/v1/runbooks/validate", "steps: [unclosed").decode(t, &v)
		if v.Valid || len(v.Errors) == 0 || v.Errors[0].Line == 0 {
			t.Errorf("validate of broken YAML = %+v, want a problem with its line", v)
		}
		c.want(200, "POST", "/v1/runbooks/validate", good).decode(t, &v)
		if !v.Valid || v.Name != "api-test-runbook" || v.Steps != 1 || !slices.Equal(v.Kinds, []string{"notice"}) {
			t.Errorf("validate of a good runbook = %+v, want valid with 1 notice step", v)
		}
		c.wantError(400, "", "POST", "/v1/runbooks/validate", "  \n", "empty")
	})

	t.Run("publish", func(t *testing.T) {
		c := base.with(t)
		r := c.do("POST", "/v1/runbooks", bad)
		e := r.errorBody(t)
		if r.status != http.StatusUnprocessableEntity || len(e.Errors) < 2 || e.Errors[0].Path == "" || e.Errors[0].Line == 0 {
			t.Errorf("publish of a broken runbook = %s, want 422 with every problem's path and line", r)
		}
		c.wantError(404, "name", "GET", "/v1/runbooks/broken-runbook", nil)

		var p service.Published
		r = c.want(201, "POST", "/v1/runbooks?by=test-admin", good)
		r.decode(t, &p)
		if p.Name != "api-test-runbook" || p.Version != 1 || !p.Created || r.header.Get("Location") != "/v1/runbooks/api-test-runbook?version=1" {
			t.Errorf("publish = %+v (Location %q), want version 1 created", p, r.header.Get("Location"))
		}
		c.want(200, "POST", "/v1/runbooks", good).decode(t, &p)
		if p.Version != 1 || p.Created {
			t.Errorf("publishing the same text again = %+v, want version 1, not created", p)
		}
		c.want(201, "POST", "/v1/runbooks", strings.Replace(good, "hello", "hello again", 1)).decode(t, &p)
		if p.Version != 2 || !p.Created {
			t.Errorf("publishing a new text = %+v, want version 2", p)
		}
		var rb RunbookDetail
		c.want(200, "GET", "/v1/runbooks/api-test-runbook?version=1", nil).decode(t, &rb)
		if rb.PublishedBy != "test-admin" || rb.Versions != 2 {
			t.Errorf("version 1 = published by %q, %d versions; want test-admin (the credential), 2", rb.PublishedBy, rb.Versions)
		}
		c.wantError(403, "by", "POST", "/v1/runbooks?by=someone-else", good, "you act as test-admin")
	})

	t.Run("not routed", func(t *testing.T) {
		c := base.with(t)
		c.wantError(404, "", "GET", "/v1/nothing-here", nil, "no endpoint")
		r := c.do("DELETE", "/v1/runbooks", nil)
		if r.status != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") || r.errorBody(t).Error == "" {
			t.Errorf("DELETE /v1/runbooks = %s (Allow %q), want a JSON 405 allowing GET", r, r.header.Get("Allow"))
		}
		c.wantError(404, "", "POST", "/v1/responses/xd-1/steps/dance", map[string]any{"step": "a"})
	})

	t.Run("log", func(t *testing.T) {
		logs := base.logs.String()
		if strings.Contains(logs, base.tokens[RoleCommand]) {
			t.Error("the request log holds the token")
		}
		for _, w := range []string{"method=GET", "path=/v1/runbooks", "status=401", "status=200", "duration="} {
			if !strings.Contains(logs, w) {
				t.Errorf("request log has no %q:\n%s", w, logs)
			}
		}
	})
}

// engine is a dev server, a database with the reference scenario and the
// built-in runbooks, a worker and the API over them.
func engine(t *testing.T) *apiClient {
	t.Helper()
	srv := temporaltest.Server(t)
	st := referenceStore(t)
	taskQueue, _ := temporaltest.Worker(t, srv.Client(), st, "api")
	return newAPI(t, st, srv.Client(), taskQueue)
}

// progress reads a response's tree over the API.
func (c *apiClient) progress(incident string) workflows.ResponseProgress {
	c.t.Helper()
	var p workflows.ResponseProgress
	c.want(200, "GET", "/v1/responses/"+incident, nil).decode(c.t, &p)
	return p
}

// awaitStep waits until a step of a response is in a state.
func (c *apiClient) awaitStep(incident, step, state string) {
	c.t.Helper()
	eventually(c.t, 90*time.Second, step+" "+state, func() (bool, string) {
		n := c.progress(incident).Find(step)
		if n == nil {
			return false, "no step yet"
		}
		return n.State == state, n.State
	})
}

func TestResponsesOverHTTP(t *testing.T) {
	t.Parallel()
	base := engine(t)
	outbreak := pgtest.Name("api")

	t.Run("healthz", func(t *testing.T) {
		c := base.with(t)
		var h Health
		c.want(200, "GET", "/healthz", nil).decode(t, &h)
		if h != (Health{"ok", "ok", "ok"}) {
			t.Errorf("GET /healthz = %+v, want all ok", h)
		}
	})

	t.Run("open twice", func(t *testing.T) {
		c := base.with(t)
		body := map[string]any{"incident": outbreak, "runbook": "community-outbreak-level-1", "area": "longbao", "time_scale": 3600, "by": "test-command"}
		var first, second StartResult
		r := c.want(201, "POST", "/v1/responses", body)
		r.decode(t, &first)
		// Warnings of short capacity are service.TestingCapacityWarnings'.
		first.Warnings = nil
		want := StartResult{WorkflowID: "response/" + outbreak, Incident: outbreak, Existing: false, Runbook: "community-outbreak-level-1", Version: 1}
		if !reflect.DeepEqual(first, want) || r.header.Get("Location") != "/v1/responses/"+outbreak {
			t.Errorf("first POST /v1/responses = %+v (Location %q), want %+v", first, r.header.Get("Location"), want)
		}
		// Once the response has pinned its runbook, a second trigger is
		// answered with it, whatever it asks for.
		eventually(t, 30*time.Second, "version pinned", func() (bool, string) {
			v := c.progress(outbreak).Version
			return v == 1, fmt.Sprint("version ", v)
		})
		body["runbook"] = "seal-compound"
		body["area"] = "longbao-jiayuan"
		c.want(200, "POST", "/v1/responses", body).decode(t, &second)
		want.Existing = true
		if !reflect.DeepEqual(second, want) {
			t.Errorf("second POST /v1/responses = %+v, want %+v", second, want)
		}
	})

	t.Run("progress", func(t *testing.T) {
		c := base.with(t)
		var seals []string
		eventually(t, 90*time.Second, "six seals holding", func() (bool, string) {
			seals = nil
			for _, n := range c.progress(outbreak).Leaves() {
				if n.Type == workflows.KindSeal && n.Held {
					seals = append(seals, n.Path)
				}
			}
			return len(seals) == 6, fmt.Sprint(seals)
		})
		if !slices.Contains(seals, "seal/longbao-jiayuan") {
			t.Errorf("seal steps = %v, want seal/longbao-jiayuan among them", seals)
		}
		p := c.progress(outbreak)
		if p.Incident != outbreak || p.Runbook != "community-outbreak-level-1" || p.Area.Code != "longbao" || p.Level != 1 {
			t.Errorf("progress = %s %s %s level %d, want the Longbao level-1 response", p.Incident, p.Runbook, p.Area.Code, p.Level)
		}
		c.wantError(404, "incident", "GET", "/v1/responses/no-such-incident", nil, "no response")
	})

	t.Run("refused by a validator", func(t *testing.T) {
		c := base.with(t)
		c.awaitStep(outbreak, "declare", workflows.StateDone)
		path := "/v1/responses/" + outbreak
		c.wantError(409, "", "POST", path+"/steps/retry", map[string]any{"step": "declare"}, "step declare is done, not stalled")
		c.wantError(409, "", "POST", path+"/steps/skip", map[string]any{"step": "declare", "reason": "late"}, "nothing to skip")
		c.wantError(409, "", "POST", path+"/escalate", map[string]any{"level": 1, "reason": "same"}, "already at level 1")
		c.wantError(409, "", "POST", path+"/areas", map[string]any{"area": "longbao", "reason": "again"}, "the response's own area")
		c.wantError(409, "", "POST", path+"/steps/resume", map[string]any{"step": "declare"}, "not paused")
		c.wantError(409, "", "POST", path+"/steps/pause", map[string]any{"step": "declare"}, "nothing to pause")
		c.wantError(409, "", "POST", path+"/steps/decide", map[string]any{"step": "declare", "decision": "approve"}, "not an approval")
		c.wantError(404, "step", "POST", path+"/steps/retry", map[string]any{"step": "no-such-step"}, "unknown step", "seal/longbao-jiayuan")
		c.wantError(404, "incident", "POST", "/v1/responses/no-such-incident/lift", map[string]any{"reason": "x"})
	})

	t.Run("steer", func(t *testing.T) {
		c := base.with(t)
		path := "/v1/responses/" + outbreak
		var res ActionResult
		c.want(200, "POST", path+"/escalate", map[string]any{"level": 2, "reason": "cases contained"}).decode(t, &res)
		if res.Action != workflows.UpdateEscalate || res.WorkflowID != "response/"+outbreak {
			t.Errorf("escalate = %+v", res)
		}
		if p := c.progress(outbreak); p.Level != 2 {
			t.Errorf("level after escalate = %d, want 2", p.Level)
		}
		c.want(200, "POST", path+"/areas", map[string]any{"area": "binhe", "reason": "cases next door"}).decode(t, &res)
		if res.Area == nil || res.Area.Path != "xiaodian/pingyang-road/binhe" {
			t.Errorf("add-area = %+v, want binhe with its path", res)
		}
		if p := c.progress(outbreak); len(p.Added) != 1 || p.Added[0].Code != "binhe" {
			t.Errorf("added areas = %+v, want binhe", p.Added)
		}
		c.wantError(409, "", "POST", path+"/areas", map[string]any{"area": "binhe", "reason": "again"}, "already part of the response")
	})

	t.Run("list", func(t *testing.T) {
		c := base.with(t)
		id := "response/" + outbreak
		for _, q := range []string{"?area=longbao&running=true", "?area=xiaodian/beiying", "?area=binhe", "?incident=" + outbreak, ""} {
			eventually(t, 20*time.Second, "GET /v1/responses"+q, func() (bool, string) {
				var res struct{ Responses []Execution }
				c.want(200, "GET", "/v1/responses"+q, nil).decode(t, &res)
				for _, e := range res.Responses {
					if !strings.HasPrefix(e.ID, "response/") || strings.Count(e.ID, "/") != 1 {
						t.Fatalf("GET /v1/responses%s lists %s, which is not a response", q, e.ID)
					}
					if e.ID == id {
						return e.Status == "running" && e.Runbook == "community-outbreak-level-1" && slices.Contains(e.AreaPath, "xiaodian/beiying/longbao"), fmt.Sprintf("%+v", e)
					}
				}
				return false, fmt.Sprintf("%d responses", len(res.Responses))
			})
		}
		var res struct{ Responses []Execution }
		c.want(200, "GET", "/v1/responses?area=longbao&running=false", nil).decode(t, &res)
		for _, e := range res.Responses {
			if e.ID == id {
				t.Errorf("running=false lists the running response %s", id)
			}
		}
	})

	t.Run("lift", func(t *testing.T) {
		c := base.with(t)
		path := "/v1/responses/" + outbreak
		c.want(200, "POST", path+"/lift", map[string]any{"reason": "two rounds negative"})
		// A second lift is refused: the response is being lifted, or closed.
		r := c.do("POST", path+"/lift", map[string]any{"reason": "again"})
		if e := r.errorBody(t); r.status != http.StatusConflict || !(strings.Contains(e.Error, "being lifted") || strings.Contains(e.Error, "ended")) {
			t.Errorf("second lift = %s, want 409 saying it is being lifted or has ended", r)
		}
		eventually(t, 60*time.Second, "closed", func() (bool, string) {
			p := c.progress(outbreak)
			return p.State == workflows.ResponseClosed, p.State
		})
		if p := c.progress(outbreak); p.LiftedBy != "test-command" {
			t.Errorf("lifted by %q, want test-command (the credential)", p.LiftedBy)
		}
		c.wantError(409, "", "POST", path+"/lift", map[string]any{"reason": "again"}, "closed")
		c.wantError(409, "", "POST", "/v1/responses", map[string]any{"incident": outbreak, "runbook": "community-outbreak-level-1", "area": "longbao"}, "already ended")
	})

	t.Run("events", func(t *testing.T) {
		c := base.with(t)
		var res struct{ Events []domain.Event }
		c.want(200, "GET", "/v1/responses/"+outbreak+"/events", nil).decode(t, &res)
		seen := map[string]string{}
		for _, e := range res.Events {
			seen[e.Step+" "+e.State] = e.Actor
		}
		for k, actor := range map[string]string{
			"response opened": "test-command", "response level-changed": "test-command", "response area-added": "test-command", "response closed": "",
		} {
			got, ok := seen[k]
			if !ok || (actor != "" && got != actor) {
				t.Errorf("event %q = %v (actor %q), want it by %q", k, ok, got, actor)
			}
		}
		seal := "response/" + outbreak + "/seal/longbao-jiayuan"
		c.want(200, "GET", "/v1/responses/"+outbreak+"/events?workflow="+seal, nil).decode(t, &res)
		if len(res.Events) == 0 {
			t.Errorf("no events of %s", seal)
		}
		for _, e := range res.Events {
			if e.WorkflowID != seal {
				t.Errorf("events of %s include one of %s", seal, e.WorkflowID)
			}
		}
		c.wantError(404, "incident", "GET", "/v1/responses/no-such-incident/events", nil)
		c.wantError(400, "workflow", "GET", "/v1/responses/"+outbreak+"/events?workflow=response/other", nil)
	})

	t.Run("decide to closed", func(t *testing.T) {
		c := base.with(t)
		incident := pgtest.Name("api-seal")
		path := "/v1/responses/" + incident
		c.want(201, "POST", "/v1/responses", map[string]any{"incident": incident, "runbook": "seal-compound", "area": "longbao-jiayuan", "time_scale": 3600})
		c.awaitStep(incident, "approve-lift", workflows.StateAwaitingDecision)
		if n := c.progress(incident).Find("seal/longbao-jiayuan"); n == nil || !n.Held || n.Type != workflows.KindSeal {
			t.Fatalf("seal step = %+v, want the compound's seal holding", n)
		}
		c.wantError(409, "", "POST", path+"/steps/decide", map[string]any{"step": "notify", "decision": "approve"}, "not an approval")
		c.wantError(409, "", "POST", path+"/steps/skip", map[string]any{"step": "seal/longbao-jiayuan", "reason": "x"}, "lift it instead")
		c.want(200, "POST", path+"/steps/pause", map[string]any{"step": "approve-lift", "reason": "wait for the bureau"})
		if n := c.progress(incident).Find("approve-lift"); !n.Paused {
			t.Errorf("approve-lift after pause = %+v, want paused", n)
		}
		c.wantError(409, "", "POST", path+"/steps/pause", map[string]any{"step": "approve-lift"}, "already paused")
		c.want(200, "POST", path+"/steps/resume", map[string]any{"step": "approve-lift"})
		c.want(200, "POST", path+"/steps/decide", map[string]any{"step": "approve-lift", "decision": "approve", "reason": "two clean rounds"})
		eventually(t, 60*time.Second, "closed", func() (bool, string) {
			p := c.progress(incident)
			return p.State == workflows.ResponseClosed, p.State
		})
		for _, n := range c.progress(incident).Leaves() {
			if n.State != workflows.StateDone || n.Held {
				t.Errorf("step %s = %s (held %v), want done", n.Path, n.State, n.Held)
			}
		}
		var res struct{ Events []domain.Event }
		c.want(200, "GET", path+"/events", nil).decode(t, &res)
		var got []string
		for _, e := range res.Events {
			if e.WorkflowID == "response/"+incident {
				got = append(got, e.Step+" "+e.State)
			}
		}
		for _, w := range []string{"approve-lift paused", "approve-lift resumed", "approve-lift approved", "lift done", "response closed"} {
			if !slices.Contains(got, w) {
				t.Errorf("events of %s = %v, want %q", incident, got, w)
			}
		}
	})

	t.Run("log", func(t *testing.T) {
		if strings.Contains(base.logs.String(), base.tokens[RoleCommand]) {
			t.Error("the request log holds the token")
		}
	})
}
