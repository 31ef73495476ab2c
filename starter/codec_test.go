package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

// TestCLIWithCodecKeys runs the CLI against a worker that encrypts: with
// the same key file the CLI reads and steers; without it, it says which key
// it lacks.
func TestCLIWithCodecKeys(t *testing.T) {
	ctx := context.Background()
	srv := temporaltest.Server(t)
	dbURL := pgtest.URL(t)
	st, err := service.OpenStore(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := codec.NewKey("cli1")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "codec.keys")
	if err := os.WriteFile(keyFile, []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cd, err := codec.New(codec.Keys{k})
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{HostPort: srv.FrontendHostPort()}
	codec.Apply(&opts, cd)
	wc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	taskQueue := pgtest.Name("cli-codec")
	w := service.NewWorker(wc, taskQueue, st)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("TEMPORAL_ADDRESS", srv.FrontendHostPort())
	t.Setenv("MUSTER_TASK_QUEUE", taskQueue)
	t.Setenv(codec.EnvKeyFile, keyFile)

	incident := pgtest.Name("cli")
	id := workflows.SealWorkflowID(incident, "longbao-jiayuan")
	for _, args := range [][]string{
		{"scenario", "load", "--reference"},
		{"seal", "start", "--incident", incident, "--compound", "longbao-jiayuan", "--time-scale", "3600"},
	} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("muster %s = %v, %q", strings.Join(args, " "), err, out)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := runCLI(t, "status", id)
		if err == nil && strings.Contains(out, "Lift with") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s never showed the seal holding; last: %v %q", id, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	const reason = "Chen Jie at gate 2 needs oxygen delivered"
	if out, err := runCLI(t, "lift", id, "--reason", reason, "--by", "duty-officer"); err != nil || !strings.Contains(out, "Lift accepted") {
		t.Fatalf("lift = %v, %q", err, out)
	}
	it := srv.Client().GetWorkflowHistory(ctx, id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := proto.Marshal(ev); bytes.Contains(raw, []byte("Chen Jie")) {
			t.Errorf("event %d (%s) holds the lift's reason in clear", ev.GetEventId(), ev.GetEventType())
		}
	}

	// Without the keys the CLI cannot read the seal, and says why.
	t.Setenv(codec.EnvKeyFile, "")
	out, err := runCLI(t, "status", id)
	if err == nil || !strings.Contains(err.Error(), `codec key "cli1" but no codec keys are configured`) {
		t.Errorf("status without the keys = %v, %q; want an error naming the missing key", err, out)
	}
}
