package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/workflows"
)

const goodRunbook = `name: drill
title: A drill
level: 2
area: community
steps:
  - id: tell
    kind: notice
    params: {audience: residents, topic: drill, body: This is a drill.}
  - id: compounds
    for_each:
      areas: {level: compound}
      steps:
        - id: seal
          kind: seal
`

const badRunbook = `name: drill
title: A drill
level: 2
area: community
steps:
  - id: tell
    kind: notice
    params: {audience: residents, topic: drill}
  - id: compounds
    for_each:
      areas: {level: compund}
      steps:
        - id: seal
          kind: seal
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunbookCommands(t *testing.T) {
	good := writeFile(t, "drill.yaml", goodRunbook)
	changed := writeFile(t, "drill.yaml", strings.Replace(goodRunbook, "This is a drill.", "This is still a drill.", 1))
	bad := writeFile(t, "bad.yaml", badRunbook)
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")

	// validate and kinds need no database.
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    []string
	}{
		{"validate good", []string{"runbook", "validate", good}, false,
			[]string{good + ": OK — drill", "level 2 for a community", "3 steps", "kinds notice, seal"}},
		{"validate good as json", []string{"runbook", "validate", good, "-o", "json"}, false,
			[]string{`"check_every":"2h"`, `"staff_per_checkpoint":2`}},
		{"validate bad", []string{"runbook", "validate", bad}, true,
			[]string{"2 problems; " + bad + " is not valid", bad + ":8: steps[0].params.body: is required",
				bad + `:11: steps[1].for_each.areas.level: unknown level "compund"`}},
		{"validate missing file", []string{"runbook", "validate", filepath.Join(t.TempDir(), "none.yaml")}, true,
			[]string{"read runbook"}},
		{"publish bad", []string{"runbook", "publish", bad}, true,
			[]string{"nothing was published", `unknown level "compund"`}},
		{"publish nothing", []string{"runbook", "publish"}, true, []string{"--builtin"}},
		{"publish both", []string{"runbook", "publish", good, "--builtin"}, true, []string{"not both"}},
		{"show bad ref", []string{"runbook", "show", "Drill@x"}, true, []string{"NAME@VERSION"}},
		{"kinds", []string{"runbook", "kinds"}, false,
			[]string{"seal\n", "runs once per compound", "check_every", "duration", "default 2h", "approval\n", "default", "required", "one of approve, reject",
				"outputs (for repeat … until): checked, failed_checks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, tt.args...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("muster %s = %v (%q), want error %v", strings.Join(tt.args, " "), err, out, tt.wantErr)
			}
			if err != nil {
				out += err.Error()
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("muster %s printed %q, want it to contain %q", strings.Join(tt.args, " "), out, w)
				}
			}
		})
	}

	t.Run("kinds as json", func(t *testing.T) {
		out, err := runCLI(t, "runbook", "kinds", "-o", "json")
		var kinds []kindView
		if err != nil || json.Unmarshal([]byte(out), &kinds) != nil || len(kinds) != len(workflows.Kinds) {
			t.Fatalf("muster runbook kinds -o json = %v, %q; want %d kinds", err, out, len(workflows.Kinds))
		}
	})

	// With a database.
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	if _, err := runCLI(t, "migrate"); err != nil {
		t.Fatalf("muster migrate = %v", err)
	}
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
	want([]string{"runbook", "list"}, false, "No runbooks are published", "--builtin")
	want([]string{"runbook", "list", "-o", "json"}, false, "[]")
	want([]string{"runbook", "publish", bad}, true, "nothing was published")
	want([]string{"runbook", "list"}, false, "No runbooks are published")
	want([]string{"runbook", "show", "drill"}, true, `runbook "drill" is not published`, "muster runbook list")

	want([]string{"runbook", "publish", good, "--by", "duty-officer"}, false, "published drill version 1")
	want([]string{"runbook", "publish", good}, false, "drill version 1 already has this text")
	want([]string{"runbook", "publish", changed}, false, "published drill version 2")
	if out := want([]string{"runbook", "show", "drill", "--version", "1"}, false); out != goodRunbook {
		t.Errorf("muster runbook show drill --version 1 = %q, want the published text %q", out, goodRunbook)
	}
	want([]string{"runbook", "show", "drill"}, false, "This is still a drill.")
	want([]string{"runbook", "show", "drill@1", "-o", "json"}, false, `"version":1`, `"versions":2`, `"published_by":"duty-officer"`, `"check_every":"2h"`)
	want([]string{"runbook", "show", "drill@3"}, true, `runbook "drill" has no version 3`)
	want([]string{"runbook", "show", "drill@1", "--version", "2"}, true, "different versions")

	want([]string{"runbook", "publish", "--builtin"}, false,
		"published community-outbreak-level-1 version 1", "published seal-compound version 1")
	want([]string{"runbook", "publish", "--builtin"}, false,
		"community-outbreak-level-1 version 1 already has this text", "seal-compound version 1 already has this text")
	want([]string{"runbook", "list"}, false, "NAME", "VERSIONS", "built-in", "Community next to an outbreak", "drill", "command-center")
	out := want([]string{"runbook", "list", "-o", "json"}, false)
	var rows []struct {
		Name     string `json:"name"`
		Version  int    `json:"version"`
		Versions int    `json:"versions"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("muster runbook list -o json = %q: %v", out, err)
	}
	srcs, _ := builtin.Builtin()
	var drill *struct {
		Name     string `json:"name"`
		Version  int    `json:"version"`
		Versions int    `json:"versions"`
	}
	for i := range rows {
		if rows[i].Name == "drill" {
			drill = &rows[i]
		}
	}
	if len(rows) != len(srcs)+1 || drill == nil || drill.Version != 2 || drill.Versions != 2 {
		t.Errorf("muster runbook list -o json = %+v, want the built-ins and drill at version 2 of 2", rows)
	}
}
