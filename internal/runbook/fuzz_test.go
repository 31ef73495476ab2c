package runbook_test

import (
	"testing"

	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/workflows"
)

// FuzzParse: whatever the bytes, Parse returns a definition or its
// problems, never panics, and a definition it accepts validates.
func FuzzParse(f *testing.F) {
	srcs, err := builtin.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range srcs {
		f.Add(s.Data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := runbook.Parse("fuzz.yaml", data, workflows.Kinds)
		if err != nil {
			return
		}
		if errs := runbook.Validate(d, workflows.Kinds); len(errs) > 0 {
			t.Fatalf("Parse accepted a definition that does not validate: %v", errs)
		}
	})
}
