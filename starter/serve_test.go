package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/pgtest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir as tls.crt and tls.key, and returns the certificate.
func selfSigned(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "muster-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tls.crt", "CERTIFICATE", der)
	write("tls.key", "EC PRIVATE KEY", kder)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestServeTLSChoices: plain HTTP only on loopback unless --insecure; a
// certificate and key (or a folder) serve TLS; half a pair is refused.
func TestServeTLSChoices(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir)
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for _, tt := range []struct {
		name    string
		addr    string
		o       serveTLS
		wantTLS bool
		words   string
	}{
		{"loopback, plain", "127.0.0.1:8080", serveTLS{}, false, ""},
		{"localhost, plain", "localhost:8080", serveTLS{}, false, ""},
		{"IPv6 loopback, plain", "[::1]:8080", serveTLS{}, false, ""},
		{"every interface, plain", "0.0.0.0:8080", serveTLS{}, false, "--insecure"},
		{"empty host, plain", ":8080", serveTLS{}, false, "--insecure"},
		{"LAN address, plain", "10.0.0.5:8080", serveTLS{}, false, "without TLS"},
		{"LAN address, --insecure", "10.0.0.5:8080", serveTLS{insecure: true}, false, ""},
		{"cert and key", "0.0.0.0:8443", serveTLS{cert: crt, key: key}, true, ""},
		{"folder", "0.0.0.0:8443", serveTLS{dir: dir}, true, ""},
		{"cert without key", "0.0.0.0:8443", serveTLS{cert: crt}, false, "--tls-key"},
		{"key without cert", "0.0.0.0:8443", serveTLS{key: key}, false, "--tls-cert"},
		{"empty folder", "0.0.0.0:8443", serveTLS{dir: t.TempDir()}, false, "no tls.crt"},
		{"key is not a key", "0.0.0.0:8443", serveTLS{cert: crt, key: crt}, false, "load the TLS certificate"},
	} {
		tc, err := tt.o.config(tt.addr)
		switch {
		case tt.words != "" && (err == nil || !strings.Contains(err.Error(), tt.words)):
			t.Errorf("%s: config(%s) = %v, want an error mentioning %q", tt.name, tt.addr, err, tt.words)
		case tt.words == "" && err != nil:
			t.Errorf("%s: config(%s) = %v, want none", tt.name, tt.addr, err)
		case tt.words == "" && (tc != nil) != tt.wantTLS:
			t.Errorf("%s: config(%s) TLS = %v, want %v", tt.name, tt.addr, tc != nil, tt.wantTLS)
		}
	}
	if _, err := runCLI(t, "serve", "--addr", "0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("muster serve --addr 0.0.0.0:0 = %v, want a refusal naming --insecure", err)
	}
}

// TestServeOverTLS serves the API with a generated self-signed
// certificate: a client trusting it gets answers, plain HTTP gets none,
// and a client not trusting it is refused by the handshake.
func TestServeOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert := selfSigned(t, dir)
	tc, err := serveTLS{dir: dir}.config("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	s, err := api.New(api.Options{Store: pgtest.New(t), Temporal: nowhere, TaskQueue: "tls-test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(s.Handler(), tc, slog.New(slog.DiscardHandler))
	go serve(srv, ln)
	defer srv.Close()

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	trusting := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := trusting.Get("https://" + ln.Addr().String() + "/openapi.json")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "openapi") || resp.TLS == nil {
		t.Errorf("GET /openapi.json over TLS = %d (TLS %v), want the document", resp.StatusCode, resp.TLS != nil)
	}
	resp, err = trusting.Get("https://" + ln.Addr().String() + "/v1/runbooks")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/runbooks over TLS without a token = %v, %v; want 401", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/openapi.json"); err == nil {
		resp.Body.Close()
		t.Error("a client that does not trust the certificate got an answer")
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/openapi.json"); err == nil && resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		t.Error("plain HTTP got the document from the TLS listener")
	}
}

// TestServeOIDCFlags: an audience without an issuer, or an issuer whose
// discovery document cannot be read, stop `muster serve` before it
// listens.
func TestServeOIDCFlags(t *testing.T) {
	if _, err := runCLI(t, "serve", "--oidc-audience", "muster"); err == nil || !strings.Contains(err.Error(), "--oidc-issuer") {
		t.Errorf("serve --oidc-audience without an issuer = %v, want a refusal naming --oidc-issuer", err)
	}
	if _, err := runCLI(t, "serve", "--oidc-issuer", "http://127.0.0.1:1/realms/x", "--oidc-audience", "muster"); err == nil || !strings.Contains(err.Error(), "discovery document") {
		t.Errorf("serve with an unreachable issuer = %v, want a refusal naming its discovery document", err)
	}
	t.Setenv("MUSTER_OIDC_ISSUER", "http://127.0.0.1:1/realms/x")
	if _, err := runCLI(t, "serve"); err == nil || !strings.Contains(err.Error(), "no audience") {
		t.Errorf("serve with %s and no audience = %v, want a refusal naming the audience", "MUSTER_OIDC_ISSUER", err)
	}
}
