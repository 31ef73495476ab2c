package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func key(t *testing.T, id string) Key {
	t.Helper()
	k, err := NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCodec(t *testing.T, keys ...Key) *Codec {
	t.Helper()
	c, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const secretText = "resident at gate 3 refused: phone 13800138000"

func plainPayload(t *testing.T) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"reason": secretText})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseKeys(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, KeySize))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	tests := []struct {
		name    string
		in      string
		wantIDs []string
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"one", "k1:" + good, []string{"k1"}, ""},
		{"current first", "k2:" + good + ",k1:" + good, []string{"k2", "k1"}, ""},
		{"lines and comments", "# keys\nk2:" + good + "\n\n k1 : " + good + "\n", []string{"k2", "k1"}, ""},
		{"no colon", good, nil, "key 1: want id:base64"},
		{"empty ID", ":" + good, nil, "key 1: key ID is empty"},
		{"bad ID", "k 1:" + good, nil, "key 1: key ID \"k 1\""},
		{"not base64", "k1:%%%", nil, "key 1 (k1): the secret is not standard base64"},
		{"AES-128 key", "k1:" + short, nil, "key 1 (k1): the secret is 16 bytes, want 32"},
		{"duplicate", "k1:" + good + ",k1:" + good, nil, "key 2: ID \"k1\" is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeys() = %v, want error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), good) {
					t.Errorf("ParseKeys() error %q shows key material", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys() = %v", err)
			}
			if strings.Join(keys.IDs(), ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("ParseKeys() IDs = %v, want %v", keys.IDs(), tt.wantIDs)
			}
		})
	}
}

func TestKeysFromEnv(t *testing.T) {
	k := key(t, "k1")
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantIDs string
		wantErr string
	}{
		{"none", nil, "", ""},
		{"inline", map[string]string{EnvKeys: k.String()}, "k1", ""},
		{"file", map[string]string{EnvKeyFile: file}, "k1", ""},
		{"both", map[string]string{EnvKeys: k.String(), EnvKeyFile: file}, "", "set one"},
		{"missing file", map[string]string{EnvKeyFile: file + ".gone"}, "", EnvKeyFile + ": codec key file"},
		{"file without keys", map[string]string{EnvKeyFile: empty}, "", "no keys in it"},
		{"bad inline", map[string]string{EnvKeys: "k1:abc"}, "", EnvKeys + ": key 1 (k1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := KeysFromEnv(func(name string) (string, bool) { v, ok := tt.env[name]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("KeysFromEnv() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(keys.IDs(), ",") != tt.wantIDs {
				t.Fatalf("KeysFromEnv() = %v, %v; want %s", keys.IDs(), err, tt.wantIDs)
			}
		})
	}
}

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo", "codec.keys")
	first, created, err := EnsureKeyFile(path)
	if err != nil || !created || len(first) != 1 {
		t.Fatalf("EnsureKeyFile() first = %v, %v, %v; want one new key", first.IDs(), created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	again, created, err := EnsureKeyFile(path)
	if err != nil || created || len(again) != 1 || again[0].String() != first[0].String() {
		t.Errorf("EnsureKeyFile() again = %v, %v, %v; want the same key, reused", again.IDs(), created, err)
	}
}

func TestCodec(t *testing.T) {
	k1, k2 := key(t, "k1"), key(t, "k2")
	k1Wrong := Key{ID: "k1", Secret: key(t, "x").Secret}
	legacy := plainPayload(t)
	sealed1, err := mustCodec(t, k1).Encode([]*commonpb.Payload{plainPayload(t)})
	if err != nil {
		t.Fatal(err)
	}
	relabelled := proto.Clone(sealed1[0]).(*commonpb.Payload)
	relabelled.Metadata[MetadataKeyID] = []byte("k2")
	tampered := proto.Clone(sealed1[0]).(*commonpb.Payload)
	tampered.Data[len(tampered.Data)-1] ^= 1
	noID := proto.Clone(sealed1[0]).(*commonpb.Payload)
	delete(noID.Metadata, MetadataKeyID)
	otherCipher := proto.Clone(sealed1[0]).(*commonpb.Payload)
	otherCipher.Metadata[MetadataCipher] = []byte("ROT13")
	truncated := proto.Clone(sealed1[0]).(*commonpb.Payload)
	truncated.Data = truncated.Data[:5]

	tests := []struct {
		name    string
		keys    []Key
		in      *commonpb.Payload
		want    *commonpb.Payload
		wantErr string
	}{
		{"own key", []Key{k1}, sealed1[0], legacy, ""},
		{"rotated: old key kept after the new one", []Key{k2, k1}, sealed1[0], legacy, ""},
		{"unencrypted payload passes through", []Key{k1}, legacy, legacy, ""},
		{"unencrypted payload without keys", nil, legacy, legacy, ""},
		{"rotated: old key dropped", []Key{k2}, sealed1[0], nil, `codec key "k1", which is not among the configured keys (k2)`},
		{"no keys at all", nil, sealed1[0], nil, `codec key "k1" but no codec keys are configured: set MUSTER_CODEC_KEYS or MUSTER_CODEC_KEY_FILE`},
		{"same ID, other secret", []Key{k1Wrong}, sealed1[0], nil, `key "k1": authentication failed`},
		{"relabelled with another key's ID", []Key{k2, k1}, relabelled, nil, `key "k2": authentication failed`},
		{"tampered", []Key{k1}, tampered, nil, "authentication failed"},
		{"no key ID", []Key{k1}, noID, nil, "names no key"},
		{"other cipher", []Key{k1}, otherCipher, nil, `cipher "ROT13" is not supported`},
		{"truncated", []Key{k1}, truncated, nil, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustCodec(t, tt.keys...).Decode([]*commonpb.Payload{tt.in})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() = %v", err)
			}
			if !proto.Equal(got[0], tt.want) {
				t.Errorf("Decode() = %v, want %v", got[0], tt.want)
			}
		})
	}

	t.Run("unknown key error", func(t *testing.T) {
		_, err := mustCodec(t, k2).Decode(sealed1)
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.ID != "k1" || !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Decode() = %v, want an *UnknownKeyError for k1", err)
		}
		// In a worker, the workflow task fails (and is retried) instead of
		// the workflow.
		var taskFailure *converter.WorkflowTaskFailureError
		if !errors.As(err, &taskFailure) {
			t.Errorf("Decode() = %T, want a *converter.WorkflowTaskFailureError", err)
		}
	})
}

func TestEncode(t *testing.T) {
	k1, k2 := key(t, "k1"), key(t, "k2")
	c := mustCodec(t, k2, k1)
	in := []*commonpb.Payload{plainPayload(t), plainPayload(t)}
	out, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range out {
		if got := string(p.GetMetadata()[converter.MetadataEncoding]); got != Encoding {
			t.Errorf("payload %d encoding = %q, want %s", i, got, Encoding)
		}
		if got := string(p.GetMetadata()[MetadataKeyID]); got != "k2" {
			t.Errorf("payload %d key ID = %q, want the current key k2", i, got)
		}
		raw, _ := proto.Marshal(p)
		if bytes.Contains(raw, []byte("gate 3")) || bytes.Contains(raw, []byte("reason")) {
			t.Errorf("payload %d holds the text in clear", i)
		}
	}
	if bytes.Equal(out[0].GetData(), out[1].GetData()) {
		t.Error("two encodings of the same payload are equal: the nonce is not fresh")
	}
	back, err := c.Decode(out)
	if err != nil || !proto.Equal(back[0], in[0]) {
		t.Errorf("Decode(Encode()) = %v, %v; want the input", back, err)
	}

	// Without keys nothing is encrypted.
	plain, err := mustCodec(t).Encode(in)
	if err != nil || !proto.Equal(plain[0], in[0]) {
		t.Errorf("Encode() without keys = %v, %v; want the input unchanged", plain, err)
	}

	// Through the data converter, values round-trip and stay sealed.
	dc := DataConverter(c)
	p, err := dc.ToPayload(secretText)
	if err != nil || bytes.Contains(p.GetData(), []byte("gate 3")) {
		t.Fatalf("ToPayload() = %v, %v; want ciphertext", p, err)
	}
	var s string
	if err := dc.FromPayload(p, &s); err != nil || s != secretText {
		t.Errorf("FromPayload() = %q, %v; want %q", s, err, secretText)
	}
	// A process without the codec refuses the payload instead of misreading it.
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err == nil {
		t.Error("default converter read an encrypted payload")
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	k := key(t, "k1")
	tests := []struct {
		name    string
		keys    []Key
		wantErr string
	}{
		{"short secret", []Key{{ID: "k1", Secret: []byte("short")}}, "5 bytes, want 32"},
		{"duplicate", []Key{k, k}, "listed twice"},
		{"bad ID", []Key{{ID: "a/b", Secret: k.Secret}}, "only letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.keys); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	k1, k2 := key(t, "k1"), key(t, "k2")
	const token = "codec-test-token-7d1e"
	c := mustCodec(t, k2, k1)
	old, err := mustCodec(t, k1).Encode([]*commonpb.Payload{plainPayload(t)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: old})
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(c, HandlerOptions{Authorize: TokenAuthenticator(token), Prefix: "/codec", Origins: []string{DefaultOrigin}, Namespace: "default"})
	onlyNew := Handler(mustCodec(t, k2), HandlerOptions{Authorize: TokenAuthenticator(token), Prefix: "/codec", Origins: []string{DefaultOrigin}})

	type req struct {
		method, path string
		header       map[string]string
		body         []byte
	}
	auth := map[string]string{"Authorization": "Bearer " + token, "X-Namespace": "default"}
	tests := []struct {
		name       string
		h          http.Handler
		r          req
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{"decode", h, req{"POST", "/codec/decode", auth, body}, 200, "", nil},
		{"decode from the UI's origin", h, req{"POST", "/codec/decode", map[string]string{"Authorization": "Bearer " + token, "Origin": DefaultOrigin}, body}, 200, "",
			map[string]string{"Access-Control-Allow-Origin": DefaultOrigin, "Access-Control-Allow-Credentials": "true"}},
		{"credential in the path", h, req{"POST", "/codec/" + token + "/decode", nil, body}, 200, "", nil},
		{"no credential", h, req{"POST", "/codec/decode", nil, body}, 401, "missing credential", map[string]string{"WWW-Authenticate": `Bearer realm="muster"`}},
		{"wrong credential", h, req{"POST", "/codec/decode", map[string]string{"Authorization": "Bearer nope"}, body}, 401, "wrong token", nil},
		{"wrong credential in the path", h, req{"POST", "/codec/nope/decode", nil, body}, 401, "wrong token", nil},
		{"no credential, from the UI's origin", h, req{"POST", "/codec/decode", map[string]string{"Origin": DefaultOrigin}, body}, 401, "missing credential",
			map[string]string{"Access-Control-Allow-Origin": DefaultOrigin}},
		{"preflight", h, req{"OPTIONS", "/codec/decode", map[string]string{"Origin": DefaultOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}, nil}, 204, "",
			map[string]string{"Access-Control-Allow-Origin": DefaultOrigin, "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Namespace"}},
		{"preflight from another origin", h, req{"OPTIONS", "/codec/decode", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, nil}, 403, "origin http://evil.example may not call",
			map[string]string{"Access-Control-Allow-Origin": ""}},
		{"another origin with a credential", h, req{"POST", "/codec/decode", map[string]string{"Authorization": "Bearer " + token, "Origin": "http://evil.example"}, body}, 403, "may not call", nil},
		{"other namespace", h, req{"POST", "/codec/decode", map[string]string{"Authorization": "Bearer " + token, "X-Namespace": "other"}, body}, 400, `serves namespace "default"`, nil},
		{"GET", h, req{"GET", "/codec/decode", auth, nil}, 405, "use POST", map[string]string{"Allow": "POST, OPTIONS"}},
		{"unknown operation", h, req{"POST", "/codec/rotate", auth, body}, 404, "use POST /codec/encode or /codec/decode", nil},
		{"outside the prefix", h, req{"POST", "/decode", auth, body}, 404, "no codec endpoint", nil},
		{"not payloads", h, req{"POST", "/codec/decode", auth, []byte(`{"rows": 1}`)}, 400, "want Payloads as JSON", nil},
		{"too large", h, req{"POST", "/codec/decode", auth, bytes.Repeat([]byte(" "), MaxBodyBytes+1)}, 413, "larger than", nil},
		{"retired key not configured", onlyNew, req{"POST", "/codec/decode", auth, body}, 400, `codec key "k1", which is not among the configured keys (k2)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.r.method, tt.r.path, bytes.NewReader(tt.r.body))
			for k, v := range tt.r.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, r)
			got := rec.Body.String()
			if rec.Code >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatalf("error body %s: %v", rec.Body, err)
				}
				got = e.Error
			}
			if rec.Code != tt.wantStatus || !strings.Contains(got, tt.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d with %q", tt.r.method, tt.r.path, rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if strings.Contains(r.URL.Path, token) {
				t.Errorf("request path after serving = %s, still holds the credential", r.URL.Path)
			}
			if rec.Code != 200 {
				return
			}
			var out commonpb.Payloads
			if err := protojson.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			var value map[string]string
			if err := converter.GetDefaultDataConverter().FromPayload(out.GetPayloads()[0], &value); err != nil || value["reason"] != secretText {
				t.Errorf("decoded = %v, %v; want the reason", value, err)
			}
		})
	}

	t.Run("encode", func(t *testing.T) {
		plain, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plainPayload(t)}})
		r := httptest.NewRequest("POST", "/codec/encode", bytes.NewReader(plain))
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var out commonpb.Payloads
		if rec.Code != 200 || protojson.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("POST /codec/encode = %d %s", rec.Code, rec.Body)
		}
		if got := string(out.GetPayloads()[0].GetMetadata()[MetadataKeyID]); got != "k2" || strings.Contains(rec.Body.String(), "gate 3") {
			t.Errorf("encoded key ID = %q (body %s), want k2 and no clear text", got, rec.Body)
		}
	})
}

func TestFailureConverter(t *testing.T) {
	c := mustCodec(t, key(t, "k1"))
	fc := FailureConverter(DataConverter(c))
	f := fc.ErrorToFailure(temporal.NewApplicationError(secretText, "Refused"))
	raw, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("gate 3")) {
		t.Errorf("failure %v holds the message in clear", f)
	}
	if got := string(f.GetEncodedAttributes().GetMetadata()[MetadataKeyID]); got != "k1" {
		t.Errorf("encoded attributes key ID = %q, want k1", got)
	}
	var app *temporal.ApplicationError
	if err := fc.FailureToError(f); !errors.As(err, &app) || app.Message() != secretText {
		t.Errorf("FailureToError() = %v, want the message back", err)
	}
}
