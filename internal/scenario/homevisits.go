package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/yamlstrict"
)

// HomeVisitKind is a kind of resident sampled at home (bedridden elderly,
// pregnant, disabled, …) and its priority: kinds of priority 1 are
// visited first. A scenario declares its own kinds; residents name theirs
// in the residents file's home_visit column.
type HomeVisitKind struct {
	Kind     string `yaml:"kind"`
	Priority int    `yaml:"priority"`

	line int
}

// UnmarshalYAML decodes a home-visit kind strictly and keeps its line for
// errors.
func (k *HomeVisitKind) UnmarshalYAML(n *yaml.Node) error {
	type plain HomeVisitKind
	return yamlstrict.Decode(n, "a home-visit kind", (*plain)(k), &k.line)
}

// homeVisitKinds checks the declared kinds: codes, each once, with a
// priority of 1 or more.
func (v *validator) homeVisitKinds(ks []HomeVisitKind) {
	first := map[string]string{}
	for i, k := range ks {
		field := fmt.Sprintf("home_visit_kinds[%d]", i)
		switch {
		case k.Kind == "":
			v.add(k.line, field+".kind", "is required: name the kind, e.g. bedridden-elderly")
		case !codePattern.MatchString(k.Kind):
			v.add(k.line, field+".kind", "%q is not a code: use lower-case letters, digits and '-'", k.Kind)
		case first[k.Kind] != "":
			v.add(k.line, field+".kind", "%q is already listed at %s", k.Kind, first[k.Kind])
		default:
			first[k.Kind] = field
		}
		switch {
		case k.Priority == 0:
			v.add(k.line, field+".priority", "is required: 1 is visited first")
		case k.Priority < 0:
			v.add(k.line, field+".priority", "must be 1 or more (got %d)", k.Priority)
		}
	}
}

// visitKinds returns the declared kinds by priority (listed order on
// ties).
func (f *File) visitKinds() []HomeVisitKind {
	out := slices.Clone(f.HomeVisitKinds)
	slices.SortStableFunc(out, func(a, b HomeVisitKind) int { return cmp.Compare(a.Priority, b.Priority) })
	return out
}

// visitKindNames lists the declared kinds by priority, for errors.
func visitKindNames(ks []HomeVisitKind) string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.Kind
	}
	return strings.Join(names, ", ")
}

// giveVisitKinds gives the home-visit residents of a generated group the
// declared kinds in turn, by priority.
func giveVisitKinds(rows []ResidentRow, kinds []HomeVisitKind) {
	if len(kinds) == 0 {
		return
	}
	j := 0
	for i := range rows {
		if rows[i].HomeVisit {
			k := kinds[j%len(kinds)]
			rows[i].HomeVisitKind, rows[i].HomeVisitPriority = k.Kind, k.Priority
			j++
		}
	}
}
