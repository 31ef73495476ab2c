// Package yamlstrict holds what Muster's strict YAML readers share. The
// scenario reader and the runbook reader both refuse fields a type does not
// have, at every depth, refuse aliases, and name the line of every problem.
// It sits below both and imports nothing of Muster.
package yamlstrict

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode decodes the mapping node n into v, a struct whose fields carry yaml
// tags, and refuses keys the struct has no field for; what names the value
// in errors ("an area"). When line is not nil it receives the line the value
// starts on. Errors read "line N: …", the form of yaml's own, so Line splits
// both alike.
//
// Types call Decode from their UnmarshalYAML with a plain twin of themselves
// (the same fields, no methods), so decoding does not call UnmarshalYAML
// again and strictness holds at every depth.
func Decode[T any](n *yaml.Node, what string, v *T, line *int) error {
	if line != nil {
		*line = n.Line
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s must be a mapping of fields, not %s", n.Line, what, kindName(n))
	}
	names, index := Fields(reflect.TypeFor[T]())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, ok := index[k.Value]; !ok {
			return fmt.Errorf("line %d: unknown field %q in %s (fields: %s)", k.Line, k.Value, what, strings.Join(names, ", "))
		}
	}
	return n.Decode(v)
}

// Fields returns the yaml names of a struct type's fields in their order,
// and the index of the field of each name.
func Fields(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			index[tag] = i
			names = append(names, tag)
		}
	}
	return names, index
}

// FindAlias returns the first alias (or merge of an anchor) in a node tree,
// or nil. Readers refuse aliases: decoding mappings one at a time resets
// yaml's guard against alias expansion, and a file of a few hundred bytes of
// nested aliases could otherwise grow without bound.
func FindAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, c := range n.Content {
		if a := FindAlias(c); a != nil {
			return a
		}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Line splits a YAML error message ("yaml: line 3: did not find …") into
// its line and the rest; a message without a line gives 0 and the message
// without its "yaml: " prefix.
func Line(msg string) (int, string) {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			n = 0
		}
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	default:
		return "this"
	}
}
