package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/codec"
)

// shutdownGrace is how long requests in flight may take to finish after
// Ctrl-C; an operator action waits for its update at most this long.
const shutdownGrace = 35 * time.Second

// serveTLS is how `muster serve` listens: the TLS settings, or nil for
// plain HTTP.
type serveTLS struct {
	cert, key, dir string
	insecure       bool
}

// tlsFiles names the certificate and key files looked for in --tls-dir.
var tlsFiles = [][2]string{{"tls.crt", "tls.key"}, {"cert.pem", "key.pem"}}

// config returns the TLS configuration to serve addr with, or nil for
// plain HTTP, which only a loopback address may use without --insecure:
// tokens travel in every request, and the API can lift a community's
// seals.
func (o serveTLS) config(addr string) (*tls.Config, error) {
	cert, key := o.cert, o.key
	if o.dir != "" {
		if cert != "" || key != "" {
			return nil, errors.New("give --tls-dir or --tls-cert and --tls-key, not both")
		}
		for _, f := range tlsFiles {
			c, k := filepath.Join(o.dir, f[0]), filepath.Join(o.dir, f[1])
			if fileExists(c) && fileExists(k) {
				cert, key = c, k
				break
			}
		}
		if cert == "" {
			return nil, fmt.Errorf("--tls-dir %s: no tls.crt and tls.key (or cert.pem and key.pem) in it", o.dir)
		}
	}
	switch {
	case cert != "" && key == "":
		return nil, errors.New("--tls-cert needs --tls-key: give the certificate's private key too")
	case key != "" && cert == "":
		return nil, errors.New("--tls-key needs --tls-cert: give the certificate too")
	case cert != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("load the TLS certificate %s and key %s: %w", cert, key, err)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
	}
	if !o.insecure && !isLoopback(addr) {
		return nil, fmt.Errorf("listening on %s without TLS would send every token in clear: give --tls-cert and --tls-key (or --tls-dir), or --insecure if a proxy in front terminates TLS", addr)
	}
	return nil, nil
}

// isLoopback reports whether a listen address is on the loopback
// interface only; an empty host means every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// newHTTPServer is the API's HTTP server, with timeouts that keep slow
// clients from holding connections.
func newHTTPServer(h http.Handler, tc *tls.Config, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serve serves srv on ln, with TLS when srv has a TLS configuration.
func serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

func (a *app) serveCommand() *cobra.Command {
	var (
		addr, uiURL string
		to          serveTLS
		oc          api.OIDCConfig
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE | --tls-dir DIR | --insecure] [--oidc-issuer URL --oidc-audience AUD]",
		Short: "Run the HTTP API: the command center's operations as JSON",
		Long:  serveHelp(),
		Example: `  muster serve
  muster serve --addr 0.0.0.0:8443 --tls-cert /etc/muster/tls.crt --tls-key /etc/muster/tls.key
  muster serve --addr 0.0.0.0:8443 --tls-dir /etc/muster/tls
  muster serve --addr 10.0.0.5:8080 --insecure   # plain HTTP behind a TLS proxy
  muster serve --oidc-issuer https://login.district.example/realms/muster --oidc-audience muster-api`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runAPI(cmd.Context(), addr, uiURL, to, oc)
		},
	}
	cmd.Flags().StringVar(&uiURL, "ui-url", envOr(api.EnvUIURL, api.DefaultUIURL), "the Temporal Web UI's base URL the board links executions to (empty: no links)")
	cmd.Flags().StringVar(&addr, "addr", "", "address to listen on (default $"+api.EnvAddr+" or "+api.DefaultAddr+")")
	cmd.Flags().StringVar(&to.cert, "tls-cert", "", "TLS certificate (PEM), with --tls-key")
	cmd.Flags().StringVar(&to.key, "tls-key", "", "TLS private key (PEM), with --tls-cert")
	cmd.Flags().StringVar(&to.dir, "tls-dir", "", "folder holding tls.crt and tls.key (or cert.pem and key.pem)")
	cmd.Flags().StringVar(&oc.Issuer, "oidc-issuer", envOr(api.EnvOIDCIssuer, ""), "identity provider whose JWT bearer tokens are accepted (issuer URL; $"+api.EnvOIDCIssuer+")")
	cmd.Flags().StringVar(&oc.Audience, "oidc-audience", envOr(api.EnvOIDCAudience, ""), "audience (client ID) its tokens must be issued for ($"+api.EnvOIDCAudience+")")
	cmd.Flags().StringVar(&oc.RoleClaim, "oidc-role-claim", envOr(api.EnvOIDCRoleClaim, api.DefaultOIDCRoleClaim), "claim holding the role ($"+api.EnvOIDCRoleClaim+")")
	cmd.Flags().StringVar(&oc.ScopeClaim, "oidc-scope-claim", envOr(api.EnvOIDCScopeClaim, api.DefaultOIDCScopeClaim), "claim holding the scope, a list of codes ($"+api.EnvOIDCScopeClaim+")")
	cmd.Flags().BoolVar(&to.insecure, "insecure", false, "serve plain HTTP on a non-loopback address (e.g. behind a proxy that terminates TLS)")
	return cmd
}

// serveHelp is serve's --help: authentication, TLS, the codec server and
// the list of endpoints.
func serveHelp() string {
	return `Run Muster's HTTP API until Ctrl-C: the same operations as this CLI, as JSON
over HTTP, described by an OpenAPI 3.1 document. docs/api.md shows every
endpoint with curl.

Every request but /healthz and /openapi.json carries a credential's token,
made with ` + "`muster token create`" + `; the credential's role says which
routes it may call, and its name is the actor recorded for what it does:

  TOKEN=$(muster token create --name duty-officer --role command)
  curl -H "Authorization: Bearer $TOKEN" http://` + api.DefaultAddr + `/v1/runbooks

Districts with an identity provider may also accept its tokens: with
--oidc-issuer and --oidc-audience, a bearer token shaped like a JWT is
verified against the issuer's published keys (OpenID discovery, JWKS): its
signature, issuer, audience and expiry. Its role is the claim named by
--oidc-role-claim (default ` + api.DefaultOIDCRoleClaim + `, one of the roles, else 403), its
scope the list in --oidc-scope-claim (default ` + api.DefaultOIDCScopeClaim + `), and the actor
recorded its preferred_username, else its sub. Other tokens are still
credentials. The issuer is read once at start: it must be reachable.

TLS: --tls-cert and --tls-key (PEM files), or --tls-dir holding tls.crt and
tls.key (or cert.pem and key.pem). Without them the API listens on a
loopback address only, unless --insecure says that plain HTTP is meant
(behind a proxy that terminates TLS, for instance). The connection to
Temporal takes its TLS and API key from the standard variables of
go.temporal.io/sdk/contrib/envconfig: TEMPORAL_TLS_CLIENT_CERT_PATH,
TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
TEMPORAL_TLS_SERVER_NAME, TEMPORAL_API_KEY (or a profile).

The payload codec server is mounted at /codec (POST /codec/decode and
/codec/encode, Temporal's remote codec protocol) for the tokens of
supervisor and command credentials; point
the Web UI at http://ADDR/codec (see README, "Payload codec"). It answers
browsers from the origins in ` + codec.EnvOrigins + ` (default ` + codec.DefaultOrigin + `).

The address comes from --addr, else ` + api.EnvAddr + `, else ` + api.DefaultAddr + `.
The database, Temporal and the task queue are configured as for every command
(see ` + "`muster --help`" + `). The OpenAPI document is served at
/openapi.json.

Endpoints:
` + endpointList()
}

// runAPI serves the HTTP API on addr until ctx ends, then lets requests in
// flight finish for shutdownGrace.
func (a *app) runAPI(ctx context.Context, addr, uiURL string, to serveTLS, oc api.OIDCConfig) error {
	if addr == "" {
		addr = strings.TrimSpace(os.Getenv(api.EnvAddr))
	}
	if addr == "" {
		addr = api.DefaultAddr
	}
	tc, err := to.config(addr)
	if err != nil {
		return err
	}
	if oc.Audience != "" && oc.Issuer == "" {
		return errors.New("--oidc-audience needs --oidc-issuer: the identity provider whose tokens to accept")
	}
	var verifier *api.OIDC
	if oc.Issuer != "" {
		if verifier, err = api.NewOIDC(ctx, oc); err != nil {
			return err
		}
	}
	logger := slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: a.cfg.LogLevel}))
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	s, err := api.New(api.Options{Store: st, Temporal: c, TaskQueue: a.cfg.TaskQueue, Logger: logger,
		Codec: a.cfg.Codec, CodecOrigins: a.cfg.CodecOrigins, UIURL: uiURL, Namespace: a.cfg.Temporal.Namespace, OIDC: verifier})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another with --addr or %s)", addr, err, api.EnvAddr)
	}
	srv := newHTTPServer(s.Handler(), tc, logger)
	served := make(chan error, 1)
	go func() { served <- serve(srv, ln) }()
	scheme := "http"
	if tc != nil {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(a.out, "Muster API on %s (OpenAPI: %s/openapi.json, task queue %s). Ctrl-C stops it.\n", base, base, a.cfg.TaskQueue)
	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	logger.Info("API stopping: finishing requests in flight", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stop the API: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(a.out, "Muster API stopped.")
	return nil
}

// endpointList renders the API's routes for --help.
func endpointList() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range api.Routes() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Method, r.Path, r.Summary)
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// envOr returns the variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return strings.TrimSpace(v)
	}
	return def
}
