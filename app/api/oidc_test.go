package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.temporal.io/sdk/client"
)

// testIssuer is a local identity provider: a discovery document and a
// JWKS served over HTTP, and an RSA key that signs its tokens.
type testIssuer struct {
	t   *testing.T
	url string
	key *rsa.PrivateKey
	kid string
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{t: t, key: key, kid: "k1"}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.url = srv.URL
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                is.url,
			"jwks_uri":                              is.url + "/keys",
			"authorization_endpoint":                is.url + "/auth",
			"token_endpoint":                        is.url + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: is.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	return is
}

// token signs claims with key (the issuer's unless another is given);
// the standard claims default to a valid token for audience "muster".
func (is *testIssuer) token(key *rsa.PrivateKey, claims map[string]any) string {
	is.t.Helper()
	if key == nil {
		key = is.key
	}
	c := map[string]any{"iss": is.url, "aud": "muster", "sub": "ana.lopez", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	if err != nil {
		is.t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
}

// TestOIDCTokens: with an identity provider configured, a JWT it signed
// for the API's audience acts with the role and scope of its claims and
// is recorded as its user; an expired token, one for another audience or
// issuer, one with a bad signature and one without a known role are
// refused, with messages that do not say more than needed. Opaque tokens
// still go to the credential table.
func TestOIDCTokens(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	is := newTestIssuer(t)
	o, err := NewOIDC(context.Background(), OIDCConfig{Issuer: is.url, Audience: "muster"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := New(Options{Store: st, Temporal: nowhere, TaskQueue: "api-test", OIDC: o, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := &apiClient{t: t, base: srv.URL, st: st, logs: logs, tokens: map[string]string{}}

	// A valid token acts with its role; the actor is the token's user.
	admin := c.as(is.token(nil, map[string]any{"muster_role": "admin"}))
	admin.wantError(http.StatusForbidden, "by", "POST", "/v1/runbooks?by=someone-else", "name: x\n", "you act as ana.lopez")
	rbText := `name: oidc-published
title: Published with an identity provider's token
level: 1
steps:
  - id: notify
    kind: notice
    params: {audience: residents, topic: all-clear, body: "nothing to do"}
`
	admin.want(http.StatusCreated, "POST", "/v1/runbooks", rbText)
	rb, err := st.Runbook(context.Background(), "oidc-published", 0)
	if err != nil {
		t.Fatal(err)
	}
	if rb.PublishedBy != "ana.lopez" {
		t.Errorf("runbook published by %q, want the token's subject ana.lopez", rb.PublishedBy)
	}
	// preferred_username wins over sub.
	named := c.as(is.token(nil, map[string]any{"muster_role": "command", "preferred_username": "duty-officer"}))
	named.wantError(http.StatusForbidden, "by", "POST", "/v1/responses/xd-0403/lift", map[string]any{"reason": "done", "by": "x"}, "you act as duty-officer")
	// The role is enforced: a supervisor may read, not publish.
	sup := c.as(is.token(nil, map[string]any{"muster_role": "supervisor"}))
	sup.want(http.StatusOK, "GET", "/v1/runbooks", nil)
	sup.wantError(http.StatusForbidden, "", "POST", "/v1/runbooks", rbText, "role supervisor may not")
	// The scope claim narrows a station to its sampling points.
	station := c.as(is.token(nil, map[string]any{"muster_role": "station", "muster_scope": []string{"longbao-sampling-01"}}))
	station.wantError(http.StatusForbidden, "rows[0].point", "POST", "/v1/incidents/xd-0403/samples",
		`{"rows":[{"tube":"T1","resident":"r1","point":"longbao-sampling-02","taken_at":"2022-04-03T17:05:00Z"}]}`, "not one of this station's sampling points")

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]any{"muster_role": "admin"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"muster_role": "admin", k: v}
		return m
	}
	for _, tt := range []struct {
		name   string
		token  string
		status int
		words  string
	}{
		{"expired", is.token(nil, with("exp", time.Now().Add(-time.Minute).Unix())), http.StatusUnauthorized, "expired"},
		{"wrong audience", is.token(nil, with("aud", "another-app")), http.StatusUnauthorized, "not accepted"},
		{"wrong issuer", is.token(nil, with("iss", "https://idp.example.org")), http.StatusUnauthorized, "not accepted"},
		{"bad signature", is.token(other, valid), http.StatusUnauthorized, "not accepted"},
		{"unsigned", strings.Join(strings.Split(is.token(nil, valid), ".")[:2], ".") + ".", http.StatusUnauthorized, "not accepted"},
		{"no role", is.token(nil, map[string]any{}), http.StatusForbidden, "muster_role claim must name one of the roles"},
		{"unknown role", is.token(nil, with("muster_role", "root")), http.StatusForbidden, "muster_role claim must name one of the roles"},
		{"bad scope", is.token(nil, with("muster_scope", "longbao")), http.StatusForbidden, "must be a list"},
		{"bad actor", is.token(nil, with("sub", "Robert'); DROP TABLE")), http.StatusForbidden, "not a name Muster records"},
		{"long actor", is.token(nil, with("sub", strings.Repeat("a", 65))), http.StatusForbidden, "not a name Muster records"},
	} {
		r := c.doWith("GET", "/v1/runbooks", nil, map[string]string{"Authorization": "Bearer " + tt.token})
		if r.status != tt.status || !strings.Contains(string(r.body), tt.words) {
			t.Errorf("%s: GET /v1/runbooks = %s, want %d with %q", tt.name, r, tt.status, tt.words)
		}
		for _, leak := range []string{"oidc:", "audience", "another-app", "idp.example.org", "signature"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("%s: answer %s tells %q", tt.name, r, leak)
			}
		}
	}
	if !strings.Contains(logs.String(), "another-app") {
		t.Errorf("the log does not say why the wrong-audience token was refused:\n%s", logs.String())
	}

	// An opaque token still goes to the credential table.
	c.as(testCredential(t, st, "table-admin", RoleAdmin)).want(http.StatusOK, "GET", "/v1/runbooks", nil)
	c.as(strings.Repeat("ab", 32)).wantError(http.StatusUnauthorized, "", "GET", "/v1/runbooks", nil, "unknown or revoked")
}

// TestJWTWithoutOIDC: with no identity provider configured, a JWT is
// looked up as a credential like any token, and refused.
func TestJWTWithoutOIDC(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)
	is := newTestIssuer(t)
	c.as(is.token(nil, map[string]any{"muster_role": "admin"})).wantError(http.StatusUnauthorized, "", "GET", "/v1/runbooks", nil, "unknown or revoked")
}

// TestNewOIDCRefusesBadConfig: no issuer, no audience, or an issuer
// whose discovery document cannot be read stop the server from starting.
func TestNewOIDCRefusesBadConfig(t *testing.T) {
	is := newTestIssuer(t)
	for _, tt := range []struct {
		cfg   OIDCConfig
		words string
	}{
		{OIDCConfig{Audience: "muster"}, "no issuer"},
		{OIDCConfig{Issuer: is.url}, "no audience"},
		{OIDCConfig{Issuer: is.url + "/elsewhere", Audience: "muster"}, "discovery document"},
	} {
		if _, err := NewOIDC(context.Background(), tt.cfg); err == nil || !strings.Contains(err.Error(), tt.words) {
			t.Errorf("NewOIDC(%+v) = %v, want an error saying %q", tt.cfg, err, tt.words)
		}
	}
}
