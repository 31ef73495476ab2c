package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

// TestCodecEndpoint checks the codec server the API mounts: it decodes
// for the API's credential only, answers the Web UI's preflight, and never
// logs a credential sent in the path.
func TestCodecEndpoint(t *testing.T) {
	k, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	cd, err := codec.New(codec.Keys{k})
	if err != nil {
		t.Fatal(err)
	}
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	logs := &syncBuffer{}
	st := pgtest.New(t)
	// A supervisor reads histories in the Web UI; a station may not.
	testToken := testCredential(t, st, "wall-screen", RoleSupervisor)
	stationToken := testCredential(t, st, "a-station", RoleStation, "longbao-sampling-01")
	s, err := New(Options{Store: st, Temporal: nowhere, TaskQueue: "api-test", Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Codec: cd, CodecOrigins: []string{codec.DefaultOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c := &apiClient{t: t, base: srv.URL, token: testToken, logs: logs}

	const reason = "gate 3 closed: resident Wang asked for insulin"
	p, err := codec.DataConverter(cd).ToPayloads(workflows.LiftInput{Reason: reason, By: "duty-officer"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "insulin") {
		t.Fatal("the encoded payload holds the reason in clear")
	}
	decoded := func(r reply) string {
		t.Helper()
		var out commonpb.Payloads
		if err := protojson.Unmarshal(r.body, &out); err != nil || len(out.GetPayloads()) != 1 {
			t.Fatalf("decode answer %s: %v", r, err)
		}
		return string(out.GetPayloads()[0].GetData())
	}

	t.Run("decodes with the credential", func(t *testing.T) {
		c := c.with(t)
		r := c.doWith("POST", "/codec/decode", body, map[string]string{"Authorization": "Bearer " + testToken, "X-Namespace": "default"})
		if r.status != http.StatusOK || !strings.Contains(decoded(r), reason) {
			t.Errorf("POST /codec/decode = %s, want 200 with the reason", r)
		}
	})
	t.Run("credential in the path, kept out of the log", func(t *testing.T) {
		c := c.with(t)
		r := c.doWith("POST", "/codec/"+testToken+"/decode", body, nil)
		if r.status != http.StatusOK || !strings.Contains(decoded(r), reason) {
			t.Errorf("POST /codec/<token>/decode = %s, want 200 with the reason", r)
		}
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the request log shows the credential:\n%s", logs)
		}
	})
	t.Run("refused without a credential", func(t *testing.T) {
		c := c.with(t)
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Origin": codec.DefaultOrigin}} {
			r := c.doWith("POST", "/codec/decode", body, h)
			if r.status != http.StatusUnauthorized || strings.Contains(string(r.body), "insulin") || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("POST /codec/decode with %v = %s, want 401", h, r)
			}
		}
		if r := c.doWith("POST", "/codec/wrong/decode", body, nil); r.status != http.StatusUnauthorized {
			t.Errorf("POST /codec/wrong/decode = %s, want 401", r)
		}
		if r := c.doWith("POST", "/codec/decode", body, map[string]string{"Authorization": "Bearer " + stationToken}); r.status != http.StatusForbidden || strings.Contains(string(r.body), "insulin") {
			t.Errorf("POST /codec/decode as a station = %s, want 403", r)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		c := c.with(t)
		r := c.doWith("OPTIONS", "/codec/decode", nil, map[string]string{"Origin": codec.DefaultOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"})
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != codec.DefaultOrigin ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
			t.Errorf("OPTIONS /codec/decode = %s %v, want 204 allowing %s", r, r.header, codec.DefaultOrigin)
		}
		r = c.doWith("OPTIONS", "/codec/decode", nil, map[string]string{"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"})
		if r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("OPTIONS /codec/decode from another origin = %s, want 403 without CORS headers", r)
		}
	})
	t.Run("not mounted without a codec", func(t *testing.T) {
		plain, err := New(Options{Store: st, Temporal: nowhere, TaskQueue: "api-test"})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/codec/decode", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		plain.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("POST /codec/decode without a codec = %d %s, want 404", rec.Code, rec.Body)
		}
	})
}
