package runbook

// Walking the step tree: every step in written order, parents first.

import (
	"fmt"
	"sort"
)

// Walk calls fn for every step of the tree, parents before their children,
// in the order they are written. path is the step's place in the YAML
// structure, e.g. steps[1].for_each.steps[0].
func (d *Definition) Walk(fn func(path string, s *Step)) {
	walkSteps(d.Steps, "steps", fn)
}

func walkSteps(steps []Step, path string, fn func(string, *Step)) {
	for i := range steps {
		s := &steps[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		fn(p, s)
		walkSteps(s.Sequence, p+".sequence", fn)
		walkSteps(s.Parallel, p+".parallel", fn)
		if s.ForEach != nil {
			walkSteps(s.ForEach.Steps, p+".for_each.steps", fn)
		}
		if s.Repeat != nil {
			walkSteps(s.Repeat.Steps, p+".repeat.steps", fn)
		}
	}
}

// Kinds returns the step kinds the definition uses, sorted.
func (d *Definition) Kinds() []string {
	set := map[string]bool{}
	d.Walk(func(_ string, s *Step) {
		if s.Kind != "" {
			set[s.Kind] = true
		}
	})
	return sortedKeys(set)
}

// sortedKeys returns a map's keys in order, so that messages and walks over
// params come out the same every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore the keys are sorted below
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
