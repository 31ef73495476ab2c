package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/internal/api"
	"github.com/musterhq/muster/internal/codec"
)

// shutdownGrace is how long requests in flight may take to finish after
// Ctrl-C; an operator action waits for its update at most this long.
const shutdownGrace = 35 * time.Second

func (a *app) serveCommand() *cobra.Command {
	var addr, uiURL string
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT]",
		Short: "Run the HTTP API: the command center's operations as JSON",
		Long: `Run Muster's HTTP API until Ctrl-C: the same operations as this CLI, as JSON
over HTTP, described by an OpenAPI 3.1 document. docs/api.md shows every
endpoint with curl.

Every request but /healthz and /openapi.json must carry the token the server
was started with, in ` + api.EnvToken + ` (required):

  export ` + api.EnvToken + `=$(openssl rand -hex 32)
  curl -H "Authorization: Bearer $` + api.EnvToken + `" http://` + api.DefaultAddr + `/v1/runbooks

The payload codec server is mounted at /codec (POST /codec/decode and
/codec/encode, Temporal's remote codec protocol) for the same token; point
the Web UI at http://ADDR/codec (see README, "Payload codec"). It answers
browsers from the origins in ` + codec.EnvOrigins + ` (default ` + codec.DefaultOrigin + `).

The address comes from --addr, else ` + api.EnvAddr + `, else ` + api.DefaultAddr + `.
The database, Temporal and the task queue are configured as for every command
(see ` + "`starter --help`" + `). The OpenAPI document is served at
http://ADDR/openapi.json.

Endpoints:
` + endpointList(),
		Example: `  MUSTER_API_TOKEN=s3cret starter serve
  starter serve --addr 0.0.0.0:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			token := strings.TrimSpace(os.Getenv(api.EnvToken))
			if token == "" {
				return fmt.Errorf("%s is not set: the API needs a bearer token. Set one, e.g. `export %s=$(openssl rand -hex 32)`, and send it as `Authorization: Bearer <token>`", api.EnvToken, api.EnvToken)
			}
			if addr == "" {
				addr = strings.TrimSpace(os.Getenv(api.EnvAddr))
			}
			if addr == "" {
				addr = api.DefaultAddr
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
			s, err := api.New(api.Options{Store: st, Temporal: c, TaskQueue: a.cfg.TaskQueue, Token: token, Logger: logger,
				Codec: a.cfg.Codec, CodecOrigins: a.cfg.CodecOrigins, UIURL: uiURL, Namespace: a.cfg.Temporal.Namespace})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (choose another with --addr or %s)", addr, err, api.EnvAddr)
			}
			srv := &http.Server{
				Handler:           s.Handler(),
				ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout:       time.Minute,
				WriteTimeout:      2 * time.Minute,
				IdleTimeout:       2 * time.Minute,
				ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			base := "http://" + ln.Addr().String()
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
		},
	}
	cmd.Flags().StringVar(&uiURL, "ui-url", envOr(api.EnvUIURL, api.DefaultUIURL), "the Temporal Web UI's base URL the board links executions to (empty: no links)")
	cmd.Flags().StringVar(&addr, "addr", "", "address to listen on (default $"+api.EnvAddr+" or "+api.DefaultAddr+")")
	return cmd
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
