package workflows

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/musterhq/muster/internal/runbook"
)

// Folders of recorded histories around the change that took the runbook's
// definition from the activity opening the response (definitionChange).
const (
	recordedBeforeDefinition = "testdata/histories/4e5e4ed"
	recordedWithDefinition   = "testdata/histories/072a1b7"
)

// TestReplayPinnedDefinition changes the step kinds in code as a new
// release might (a new required parameter of notice, another default for
// the seal's check_every) and replays recorded responses. A response opened
// with the definition in the opening activity's result replays unchanged;
// one recorded before, which parsed the runbook in the workflow, no longer
// replays, which shows the change the test makes is one that matters.
func TestReplayPinnedDefinition(t *testing.T) {
	notice, seal := Kinds[KindNotice], Kinds[KindSeal]
	t.Cleanup(func() { Kinds[KindNotice], Kinds[KindSeal] = notice, seal })
	n, s := notice, seal
	n.Params = maps.Clone(notice.Params)
	n.Params["channel"] = runbook.Param{Type: runbook.TypeString, Required: true, Doc: "added after the response opened"}
	s.Params = maps.Clone(seal.Params)
	every := s.Params["check_every"]
	every.Default = "5h"
	s.Params["check_every"] = every
	Kinds[KindNotice], Kinds[KindSeal] = n, s

	for _, c := range []struct {
		dir     string
		replays bool
	}{
		{recordedWithDefinition, true},
		{recordedBeforeDefinition, false},
	} {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(c.dir, "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			var entries []recordedHistory
			if err := json.Unmarshal(b, &entries); err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Type != ResponseName {
					continue
				}
				path := filepath.Join(c.dir, e.File)
				err := replayErr(t, path, e.WorkflowID)
				switch {
				case c.replays && err != nil:
					t.Errorf("replay of %s with changed kinds = %v, want it to replay", path, err)
				case !c.replays && err == nil:
					t.Errorf("replay of %s with changed kinds succeeded; want a failure (it parses the runbook on replay)", path)
				}
				return
			}
			t.Fatalf("no Response history in %s", c.dir)
		})
	}
}
