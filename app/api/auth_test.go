package api

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/runbook/builtin"
)

// concretePath fills a route's wildcards with values of the reference
// scenario's shape.
func concretePath(path string) string {
	return regexp.MustCompile(`\{([a-z]+)\}`).ReplaceAllStringFunc(path, func(w string) string {
		switch w {
		case "{incident}":
			return "xd-0403"
		case "{name}":
			return "seal-compound"
		case "{area}":
			return "longbao"
		case "{code}":
			return "PASS-NOPE"
		}
		return "999999"
	})
}

// TestEveryRoleOnEveryRoute sends every role to every route of the router:
// a role a route does not allow gets 403 and nothing else; a role it
// allows gets past the check (no 401 or 403); no token gets 401. A route
// added without a rule fails here (and New refuses to serve it).
func TestEveryRoleOnEveryRoute(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)

	for _, rt := range Routes() {
		path := concretePath(rt.Path)
		if rt.Public {
			if r := c.doWith(rt.Method, path, nil, nil); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
				t.Errorf("%s %s without a token = %s, want it public", rt.Method, rt.Path, r)
			}
			continue
		}
		if len(rt.Roles) == 0 {
			t.Errorf("%s %s names no role: every route says who may call it", rt.Method, rt.Path)
		}
		for _, role := range rt.Roles {
			if !slices.Contains(Roles, role) {
				t.Errorf("%s %s allows unknown role %q", rt.Method, rt.Path, role)
			}
		}
		if r := c.doWith(rt.Method, path, "{}", nil); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token = %s, want 401", rt.Method, rt.Path, r)
		}
		for _, role := range Roles {
			var body any
			if rt.Method == http.MethodPost {
				body = "{}"
			}
			start := time.Now()
			r := c.as(c.tokens[role]).doWith(rt.Method, path, body, map[string]string{"Authorization": "Bearer " + c.tokens[role], "Content-Type": "application/json"})
			allowed := slices.Contains(rt.Roles, role)
			switch {
			case allowed && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
				t.Errorf("%s %s as %s = %s, want it allowed", rt.Method, rt.Path, role, r)
			case !allowed && r.status != http.StatusForbidden:
				t.Errorf("%s %s as %s = %s, want 403", rt.Method, rt.Path, role, r)
			case !allowed && !strings.Contains(r.errorBody(t).Error, "role "+role+" may not"):
				t.Errorf("%s %s as %s = %s, want the refusal to name the role", rt.Method, rt.Path, role, r)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Logf("%s %s as %s took %s", rt.Method, rt.Path, role, d)
			}
		}
	}
}

// TestFakeBuiltinRefused: publishing a built-in runbook's name through the
// API, or claiming to be the built-in publisher, is refused, and responses
// keep getting the text Muster ships.
func TestFakeBuiltinRefused(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)
	ctx := context.Background()

	fake := `name: community-outbreak-level-1
title: Level-1 response (only a notice)
level: 1
steps:
  - id: notify
    kind: notice
    params: {audience: residents, topic: all-clear, body: "nothing to do"}
`
	c.wantError(http.StatusForbidden, "by", "POST", "/v1/runbooks?by=built-in", fake, "you act as test-admin")
	c.wantError(http.StatusForbidden, "name", "POST", "/v1/runbooks", fake, "reserved to the built-in runbooks")
	// A renamed copy is anyone's to publish.
	c.want(http.StatusCreated, "POST", "/v1/runbooks", strings.Replace(fake, "community-outbreak-level-1", "community-outbreak-local", 1))

	rb, err := st.Runbook(ctx, "community-outbreak-level-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := builtin.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var shipped string
	for _, s := range srcs {
		if s.Name == "community-outbreak-level-1.yaml" {
			shipped = string(s.Data)
		}
	}
	if rb.Version != 1 || rb.PublishedBy != service.BuiltinPublisher || rb.Source != shipped {
		t.Errorf("community-outbreak-level-1 = version %d by %q, want version 1 by %s with the shipped text", rb.Version, rb.PublishedBy, service.BuiltinPublisher)
	}
	// The service refuses the built-in publisher whoever calls it.
	if _, err := service.PublishRunbook(ctx, st, "x", []byte(strings.Replace(fake, "community-outbreak-level-1", "other-name", 1)), "built-in"); err == nil {
		t.Error("PublishRunbook(by built-in) succeeded, want ErrReserved")
	}
}

// TestActorAndScope: the actor is the credential's name whatever the
// request says, and a station or inspector acts only within its scope.
// Each refusal comes before anything is written or sent to Temporal.
func TestActorAndScope(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)

	for _, tt := range []struct {
		path  string
		body  map[string]any
		field string
	}{
		{"/v1/responses", map[string]any{"incident": "xd-9", "runbook": "seal-compound", "area": "longbao", "by": "someone-else"}, "by"},
		{"/v1/responses/xd-0403/lift", map[string]any{"reason": "done", "by": "duty-officer"}, "by"},
		{"/v1/responses/xd-0403/escalate", map[string]any{"level": 1, "reason": "more cases", "by": "district-command"}, "by"},
		{"/v1/responses/xd-0403/steps/decide", map[string]any{"step": "approve-lift", "decision": "approve", "by": "district-command"}, "by"},
	} {
		c.wantError(http.StatusForbidden, tt.field, "POST", tt.path, tt.body, "you act as test-command")
	}

	station := c.asNew("longbao-station", RoleStation, "longbao-sampling-01")
	before := rowCounts(t, st)
	station.wantError(http.StatusForbidden, "rows[1].point", "POST", "/v1/incidents/xd-0403/samples",
		`{"rows":[{"tube":"T1","resident":"r1","point":"longbao-sampling-01","taken_at":"2022-04-03T17:05:00Z"},{"tube":"T2","resident":"r2","point":"longbao-sampling-02","taken_at":"2022-04-03T17:05:00Z"}]}`,
		"not one of this station's sampling points")
	station.wantError(http.StatusForbidden, "rows[0].point", "POST", "/v1/incidents/xd-0403/samples",
		"tube,resident,point,taken_at\nT3,r3,,2022-04-03 17:05\n", "not one of this station's")
	if after := rowCounts(t, st); after != before {
		t.Errorf("rows after refused uploads = %s, want %s", after, before)
	}

	inspector := c.asNew("inspector-07", RoleInspector, "beiying")
	inspector.wantError(http.StatusForbidden, "site", "POST", "/v1/incidents/xd-0403/inspection/sites", map[string]any{"site": "longbao"}, "not one of this inspector's sites")
	inspector.wantError(http.StatusForbidden, "inspector", "POST", "/v1/incidents/xd-0403/inspection/sites", map[string]any{"site": "beiying", "inspector": "inspector-01"}, "you act as inspector-07")

	// A revoked credential is refused at once.
	if _, err := st.RevokeCredential(context.Background(), "inspector-07", "api-test"); err != nil {
		t.Fatal(err)
	}
	inspector.wantError(http.StatusUnauthorized, "", "GET", "/v1/incidents/xd-0403/inspection", nil, "unknown or revoked")
}

// TestInternalErrorsCarryARequestID: a 500 tells the caller a request ID,
// never the driver's message; the log has the message under that ID.
func TestInternalErrorsCarryARequestID(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)
	// A table the route reads is gone: the driver's error names it.
	if _, err := st.DB().Exec(`ALTER TABLE runbooks RENAME TO runbooks_gone`); err != nil {
		t.Skipf("cannot break the runbooks table: %v", err)
	}
	r := c.do("GET", "/v1/runbooks", nil)
	id := r.header.Get("X-Request-Id")
	body := string(r.body)
	if r.status != http.StatusInternalServerError || id == "" || !strings.Contains(body, id) {
		t.Fatalf("GET /v1/runbooks with the table gone = %s (X-Request-Id %q), want a 500 naming its request ID", r, id)
	}
	if strings.Contains(body, "runbooks") || strings.Contains(body, "pq:") {
		t.Errorf("500 body = %s: holds the driver's message", body)
	}
	logs := c.logs.String()
	if !strings.Contains(logs, id) || !strings.Contains(logs, "runbooks") {
		t.Errorf("the log does not hold the error under request %s:\n%s", id, logs)
	}
}
