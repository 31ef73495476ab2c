package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

// readCommands lists every command that reads and prints state, with the
// arguments of a run that needs only PostgreSQL (nil: it needs a Temporal
// server or a running cluster, and only the flag is checked). jsonLines
// marks a stream of one JSON object a line.
var readCommands = map[string]struct {
	args      []string
	jsonLines bool
}{
	"muster scenario check":     {args: []string{"scenario", "check", "--reference"}},
	"muster areas":              {args: []string{"areas"}},
	"muster status":             {},
	"muster list":               {},
	"muster events":             {args: []string{"events", "inc-none"}},
	"muster watch":              {jsonLines: true},
	"muster cluster status":     {args: []string{"cluster", "status", "--data-dir", "{cluster}"}},
	"muster runbook validate":   {args: []string{"runbook", "validate", "../internal/runbook/builtin/seal-compound.yaml"}},
	"muster runbook list":       {args: []string{"runbook", "list"}},
	"muster runbook show":       {args: []string{"runbook", "show", "seal-compound"}},
	"muster runbook kinds":      {args: []string{"runbook", "kinds"}},
	"muster samples missing":    {},
	"muster testing status":     {},
	"muster supply status":      {},
	"muster supply assignments": {args: []string{"supply", "assignments", "inc-none"}},
	"muster supply stock":       {args: []string{"supply", "stock", "xiaodian"}},
	"muster supply shipments":   {args: []string{"supply", "shipments", "inc-none"}},
	"muster supply pass verify": {},
	"muster supply pass list":   {args: []string{"supply", "pass", "list", "--incident", "inc-none"}},
	"muster notices list":       {args: []string{"notices", "list", "--incident", "inc-none"}},
	"muster token list":         {args: []string{"token", "list"}},
	"muster inspection report":  {},
	"muster report":             {},
}

// writeCommands change state or run services; their output is not a read.
var writeCommands = map[string]bool{
	"muster migrate": true, "muster scenario load": true, "muster seal start": true,
	"muster inspection report-site": true, "muster inspection rectify": true, "muster inspection reinspect": true,
	"muster lift": true, "muster step retry": true, "muster step skip": true, "muster step abort": true, "muster step pause": true, "muster step resume": true,
	"muster step decide": true, "muster demo": true, "muster cluster up": true, "muster cluster down": true,
	"muster chaos": true, "muster runbook publish": true, "muster respond": true, "muster escalate": true,
	"muster add-area": true, "muster serve": true, "muster token create": true, "muster token revoke": true,
	"muster samples upload": true, "muster simulate testing": true, "muster testing add-point": true,
	"muster supply ack": true, "muster supply signup": true, "muster supply report-stock": true,
	"muster supply deliver": true, "muster supply pass issue": true, "muster notices resend": true,
}

// TestOutputJSONOnEveryRead walks the command tree: every command is either
// a read or a write (so a new command must be placed), every read accepts
// --output json, and those that need only PostgreSQL print valid JSON with
// it.
func TestOutputJSONOnEveryRead(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	if _, err := runCLI(t, "migrate"); err != nil {
		t.Fatalf("muster migrate = %v", err)
	}
	if out, err := runCLI(t, "scenario", "load", "--reference"); err != nil {
		t.Fatalf("muster scenario load --reference = %v: %s", err, out)
	}
	st, err := service.OpenStore(context.Background(), os.Getenv("DATABASE_URL"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := service.PublishBuiltins(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	// A cluster folder as `cluster up` leaves it, its frontend not
	// answering; the application login's password must not be printed.
	clusterDir := t.TempDir()
	if err := devenv.SaveClusterState(devenv.ClusterState{Dir: clusterDir, FrontendAddr: "127.0.0.1:1", Namespace: "default",
		DatabaseURL: "postgres://muster_app:s3cret-pw@127.0.0.1:5432/muster",
		Processes:   []devenv.ClusterProcess{{Name: "muster-worker-1", PID: os.Getpid(), Log: "worker-1.log"}}}); err != nil {
		t.Fatal(err)
	}
	a := &app{}
	seen := map[string]bool{}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" || !cmd.Runnable() {
			return
		}
		path := cmd.CommandPath()
		if cmd.HasParent() && cmd.Parent().Name() == "completion" {
			return
		}
		seen[path] = true
		rc, read := readCommands[path]
		if !read {
			if !writeCommands[path] {
				t.Errorf("%s is neither in readCommands nor in writeCommands: place it (a read must take --output json)", path)
			}
			return
		}
		t.Run(path, func(t *testing.T) {
			if f := cmd.Flags().Lookup("output"); f == nil {
				if f = cmd.InheritedFlags().Lookup("output"); f == nil {
					t.Fatalf("%s has no --output flag", path)
				}
			}
			if rc.args == nil {
				return
			}
			args := slices.Clone(rc.args)
			for i, v := range args {
				args[i] = strings.ReplaceAll(v, "{cluster}", clusterDir)
			}
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := run(ctx, append(args, "--output", "json"), &out, &errOut); err != nil {
				t.Fatalf("muster %s -o json = %v: %s", strings.Join(args, " "), err, errOut.String())
			}
			checkJSON(t, out.Bytes(), rc.jsonLines)
			if strings.Contains(out.String(), "s3cret-pw") {
				t.Errorf("the output holds a password:\n%s", out.String())
			}
		})
	}
	walk(a.rootCommand())
	for path := range readCommands {
		if !seen[path] {
			t.Errorf("readCommands names %s, which is no command", path)
		}
	}
}

// checkJSON fails unless b is one JSON value, or with lines one per line.
func checkJSON(t *testing.T, b []byte, lines bool) {
	t.Helper()
	if len(bytes.TrimSpace(b)) == 0 {
		t.Fatal("printed nothing")
	}
	if lines {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Fatalf("line %q is not JSON", sc.Text())
			}
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	if dec.More() {
		t.Fatalf("output holds more than one JSON value:\n%s", b)
	}
}

// TestProgressQuietOffTerminal: a bar is drawn only on a terminal and never
// with --output json, so logs, pipes and JSON readers get no redraws.
func TestProgressQuietOffTerminal(t *testing.T) {
	var errOut bytes.Buffer
	for _, output := range []string{"text", "json"} {
		a := &app{out: &errOut, errOut: &errOut, output: output}
		b := a.newBar(10, "test")
		if b != nil {
			t.Errorf("--output %s to a buffer: got a bar, want none", output)
		}
		b.Add(3)
		b.Progress(4, 12)
		b.Clear()
		b.Finish()
	}
	if errOut.Len() != 0 {
		t.Errorf("a quiet bar wrote %q", errOut.String())
	}
}

func TestStepsFinished(t *testing.T) {
	leaf := func(state string) *workflows.Node { return &workflows.Node{Type: "wait", State: state} }
	p := workflows.ResponseProgress{Root: &workflows.Node{Type: "sequence", Children: []*workflows.Node{
		leaf(workflows.StateDone), leaf(workflows.StateRunning), leaf(workflows.StateSkipped), leaf(workflows.StateStalled),
	}}}
	if done, total := stepsFinished(p); done != 2 || total != 4 {
		t.Errorf("stepsFinished = %d of %d, want 2 of 4", done, total)
	}
}
