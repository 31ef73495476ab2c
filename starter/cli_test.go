package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// runCLI runs the CLI with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestHelpOnEveryCommand(t *testing.T) {
	a := &app{}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if cmd.Hidden || cmd.Name() == "help" {
			return
		}
		args := append(strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "muster")), "--help")
		t.Run(cmd.CommandPath(), func(t *testing.T) {
			out, err := runCLI(t, args...)
			if err != nil || !strings.Contains(out, "Usage:") {
				t.Errorf("muster %s = %v, %q; want usage", strings.Join(args, " "), err, out)
			}
		})
	}
	walk(a.rootCommand())
}

func TestBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`name: broken
areas:
  - code: d
    name: D
    level: district
    areas:
      - code: c1
        name: C1
        level: compund
      - code: c2
        name: C2
        level: compound
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	if _, err := runCLI(t, "migrate"); err != nil {
		t.Fatalf("muster migrate = %v", err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"unreachable database", []string{"migrate"}, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/muster?sslmode=disable&connect_timeout=2"},
			[]string{"cannot reach PostgreSQL", "DATABASE_URL"}},
		{"malformed scenario", []string{"scenario", "load", bad}, nil,
			[]string{"3 problems; nothing was loaded", "bad.yaml:7: areas[0].areas[0].level: unknown level \"compund\"", "bad.yaml:10: areas[0].areas[1].population", "bad.yaml:10: areas[0].areas[1].gates"}},
		{"missing scenario file", []string{"scenario", "load"}, nil, []string{"--reference"}},
		{"missing incident", []string{"seal", "start", "--compound", "x"}, nil, []string{"incident"}},
		{"bad incident", []string{"seal", "start", "--incident", "Bad One", "--compound", "x"}, nil, []string{"--incident", "lower-case"}},
		{"bad time scale", []string{"seal", "start", "--incident", "x1", "--compound", "x", "--time-scale", "0.5"}, nil, []string{"--time-scale"}},
		{"no compounds", []string{"seal", "start", "--incident", "x1"}, nil, []string{"--compound", "--community"}},
		{"bad output", []string{"areas", "-o", "xml"}, nil, []string{"--output"}},
		{"bad status ID", []string{"status", "Not An ID"}, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, []string{"Temporal"}},
		{"lift without reason", []string{"lift", "x1"}, nil, []string{"--reason"}},
		{"unknown flag", []string{"seal", "start", "--bogus"}, nil, []string{"--bogus", "--help"}},
		{"NUL in an escalate reason", []string{"escalate", "x1", "--level", "1", "--reason", "two cases\x00"}, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, []string{"--reason", "NUL"}},
		{"NUL in a finding description", []string{"inspection", "report-site", "x1", "beiying", "--inspector", "i1", "--finding", "category=masks,severity=high,description=no masks\x00"}, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, []string{"--finding", "NUL"}},
		{"reason over 2 KB", []string{"lift", "x1", "--reason", strings.Repeat("r", 2049)}, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, []string{"--reason", "at most 2048"}},
		{"0.9 MB batch ID", []string{"samples", "upload", "nothing.csv", "--incident", "x1", "--batch", strings.Repeat("b", 900<<10)}, nil, []string{"--batch", "at most 64"}},
		{"control character in an argument", []string{"status", "x1\x1b[2J"}, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}, []string{"argument 1", "control character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, err := runCLI(t, tt.args...)
			if err == nil {
				t.Fatalf("muster %s succeeded (%q), want an error", strings.Join(tt.args, " "), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("muster %s error = %q, want it to mention %q", strings.Join(tt.args, " "), err, w)
				}
			}
		})
	}
	// The malformed file wrote nothing.
	out, err := runCLI(t, "areas")
	if err == nil || !strings.Contains(err.Error(), "no areas loaded") {
		t.Errorf("areas after a failed load = %v, %q; want no areas", err, out)
	}
}

func TestCommandCenter(t *testing.T) {
	ctx := context.Background()
	srv := temporaltest.Server(t)
	dbURL := pgtest.URL(t)
	st, err := service.OpenStore(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	taskQueue, _ := temporaltest.Worker(t, srv.Client(), st, "cli")
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("TEMPORAL_ADDRESS", srv.FrontendHostPort())
	t.Setenv("MUSTER_TASK_QUEUE", taskQueue)

	incident := pgtest.Name("cli")
	want := func(args []string, wantErr bool, contains ...string) string {
		t.Helper()
		out, err := runCLI(t, args...)
		if (err != nil) != wantErr {
			t.Fatalf("muster %s = %v (%q), want error %v", strings.Join(args, " "), err, out, wantErr)
		}
		if err != nil {
			out += err.Error()
		}
		for _, c := range contains {
			if !strings.Contains(out, c) {
				t.Errorf("muster %s printed %q, want it to contain %q", strings.Join(args, " "), out, c)
			}
		}
		return out
	}

	want([]string{"migrate"}, false, "up to date")
	want([]string{"scenario", "load", "--reference"}, false, "areas", "added")
	want([]string{"scenario", "load", "--reference"}, false, "nothing changed")
	want([]string{"areas", "--level", "compound", "longbao"}, false, "longbao-jiayuan")
	want([]string{"seal", "start", "--incident", incident, "--compound", "nowhere"}, true, `unknown compound "nowhere"`, "muster areas")
	want([]string{"seal", "start", "--incident", incident, "--compound", "longbao"}, true, "is a community", "--community longbao")
	want([]string{"seal", "start", "--incident", incident, "--community", "longbao", "--time-scale", "3600"}, false, "Started response/"+incident+"/seal/longbao-jiayuan")
	want([]string{"seal", "start", "--incident", incident, "--community", "longbao", "--time-scale", "3600"}, false, "already running")

	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := runCLI(t, "status", incident)
		if err == nil && strings.Contains(out, "6 of 6 compounds sealed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s never showed 6 of 6 sealed; last: %v %q", incident, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	id := workflows.SealWorkflowID(incident, "longbao-jiayuan")
	want([]string{"status", id}, false, "checkpoint/", "close-roads", "done", "Lift with")
	want([]string{"status", incident, "-o", "json"}, false, `"Phase":"sealed"`)
	want([]string{"list", "--area", "xiaodian/beiying/longbao", "--running"}, false, id)
	want([]string{"step", "retry", id, "close-roads"}, true, "not stalled")
	want([]string{"step", "retry", id, "no-such-step"}, true, "unknown step")
	want([]string{"lift", incident, "--reason", "two rounds negative", "--by", "duty-officer"}, false, "Lift accepted: "+id, "Reopened longbao-jiayuan")
	want([]string{"lift", incident, "--reason", "again"}, true, "nothing was lifted")
	want([]string{"lift", id, "--reason", "again"}, true, "not sealed")
	want([]string{"status", incident}, false, "0 of 6 compounds sealed", "lifted")
	want([]string{"events", incident}, false, "reopen", "duty-officer", "two rounds negative", "notify-lifted")
	want([]string{"events", "unknown-incident"}, true, "no events")
	want([]string{"status", "unknown-incident"}, true, "no executions")
}
