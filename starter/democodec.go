package main

// The demo's payload codec: a key kept in the data folder and a codec
// server on the loopback interface, so that the Web UI the demo starts
// shows decrypted inputs and results.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/musterhq/muster/internal/codec"
)

// demoKeyFile is the demo's key file, under its data folder.
const demoKeyFile = "codec.keys"

// demoCodec returns the codec the demo encrypts with: the keys from the
// environment when set, otherwise the key file in the data folder, made on
// the first run and reused after, so that earlier runs' histories still
// decode. keyFile is that file, or "" for keys from the environment.
func (a *app) demoCodec(dataDir string) (c *codec.Codec, keyFile string, created bool, err error) {
	if a.cfg.Codec != nil && a.cfg.Codec.Encrypting() {
		return a.cfg.Codec, "", false, nil
	}
	keyFile = filepath.Join(dataDir, demoKeyFile)
	keys, created, err := codec.EnsureKeyFile(keyFile)
	if err != nil {
		return nil, "", false, err
	}
	c, err = codec.New(keys)
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: %w", keyFile, err)
	}
	return c, keyFile, created, nil
}

// serveDemoCodec serves c on 127.0.0.1:port to the Web UI on uiPort. The
// dev server's Web UI has no login and cannot send a header, so the
// credential, a token of this run's own, is part of the endpoint's path;
// the endpoint returned carries it. Only a browser on this machine reaches
// either server.
func serveDemoCodec(ctx context.Context, c *codec.Codec, port, uiPort int, namespace string, origins []string, logger *slog.Logger) (endpoint string, stop func(), err error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("codec server token: %w", err)
	}
	token := hex.EncodeToString(secret)
	origins = append([]string{fmt.Sprintf("http://localhost:%d", uiPort), fmt.Sprintf("http://127.0.0.1:%d", uiPort)}, origins...)
	h := codec.Handler(c, codec.HandlerOptions{Authorize: codec.TokenAuthenticator(token), Prefix: "/codec", Origins: origins, Namespace: namespace})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", nil, fmt.Errorf("codec server: %w (pick another port with --codec-port)", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Codec server stopped", "error", err)
		}
	}()
	stop = func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
	return fmt.Sprintf("http://%s/codec/%s", ln.Addr(), token), stop, nil
}
