package runbook

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/yamlstrict"
)

// Error is one problem in a runbook definition: where it is (the source, the
// line and the path in the YAML structure, e.g.
// steps[2].sequence[0].params.timeout) and what is wrong.
type Error struct {
	Source string
	Line   int
	Path   string
	Msg    string
}

// Error renders the problem as SOURCE:LINE: PATH: MSG, leaving out the
// parts that are not known.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	switch {
	case e.Line > 0 && e.Source == "":
		fmt.Fprintf(&b, "line %d", e.Line)
	case e.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a definition, in the order of the lines.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse reads a runbook definition strictly and validates it against the
// registry of step kinds. Unknown fields (at every depth), values of the
// wrong type, YAML aliases and every rule of Validate are reported together,
// each with the source, its line and its path. On success the definition's
// params are complete and normalised (see Validate).
func Parse(source string, data []byte, reg Registry) (*Definition, error) {
	fail := func(line int, msg string) (*Definition, error) {
		return nil, Errors{{Source: source, Line: line, Msg: msg}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "file is empty; see docs/runbooks.md for the format")
		}
		line, msg := yamlstrict.Line(err.Error())
		return fail(line, msg)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return fail(next.Line, "a second YAML document starts here: put one runbook in a file")
	case !errors.Is(err, io.EOF):
		line, msg := yamlstrict.Line(err.Error())
		return fail(line, msg)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}

	d := &Definition{}
	dc := &decoder{lines: map[string]int{}}
	dc.value(root, reflect.ValueOf(d).Elem(), "", root.Line)
	errs := dc.errs
	for _, e := range validate(d, reg, dc.lines) {
		if !dc.failedAt(e.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 {
		return d, nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	for _, e := range errs {
		e.Source = source
	}
	return nil, errs
}

// decoder fills a Definition from the YAML node tree by reflection over the
// yaml tags, so that every value is checked against its field, every error
// carries its path, and the line of every path is kept for the validator.
// It does not follow aliases: a runbook is a tree, written out.
type decoder struct {
	lines  map[string]int
	errs   Errors
	failed []string
}

func (dc *decoder) fail(line int, path, format string, args ...any) {
	dc.errs = append(dc.errs, &Error{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	dc.failed = append(dc.failed, path)
}

// failedAt reports whether decoding failed at path or above it, so that the
// validator does not report the same value twice ("cannot read" and then
// "is required").
func (dc *decoder) failedAt(path string) bool {
	for _, f := range dc.failed {
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// what names the runbook types in messages.
var what = map[reflect.Type]string{
	reflect.TypeFor[Definition]():   "the runbook",
	reflect.TypeFor[Step]():         "a step",
	reflect.TypeFor[ForEach]():      "for_each",
	reflect.TypeFor[AreaSelector](): "areas",
	reflect.TypeFor[Repeat]():       "repeat",
	reflect.TypeFor[Condition]():    "until",
	reflect.TypeFor[Escalation]():   "an escalation",
	reflect.TypeFor[RetryPolicy]():  "retry",
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "this"
}

func aliasMsg(n *yaml.Node) string {
	return fmt.Sprintf("YAML aliases (*%s) are not allowed: a runbook is a tree, so write each step out in full", n.Value)
}

// value decodes n into v. line is the line recorded for path: the key's line
// for a field, the item's line for a list item.
func (dc *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	if _, ok := dc.lines[path]; !ok {
		dc.lines[path] = line
	}
	if n.Kind == yaml.AliasNode {
		dc.fail(n.Line, path, "%s", aliasMsg(n))
		present(v)
		return
	}
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		dc.value(n, p.Elem(), path, line)
		v.Set(p)
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		dc.scalar(n, v, path)
	case t.Kind() == reflect.Struct:
		dc.mapping(n, v, path, line)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			dc.fail(line, path, "must be a list, not %s", describe(n))
			present(v)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			dc.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), item.Line)
		}
		v.Set(s)
	case t.Kind() == reflect.Map:
		dc.params(n, v, path, line)
	default:
		dc.scalar(n, v, path)
	}
}

// present gives a list or a for_each/repeat that could not be read an
// empty value, so that the validator sees the step has one (and reports
// nothing more about it) instead of reporting it missing.
func present(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	}
}

// mapping decodes a struct, rejecting keys it has no field for.
func (dc *decoder) mapping(n *yaml.Node, v reflect.Value, path string, line int) {
	t := v.Type()
	name := what[t]
	if n.Kind != yaml.MappingNode {
		dc.fail(line, path, "%s must be a mapping of fields, not %s", name, describe(n))
		return
	}
	names, fields := yamlstrict.Fields(t)
	if f, ok := t.FieldByName("Line"); ok && f.Type.Kind() == reflect.Int {
		v.FieldByIndex(f.Index).SetInt(int64(line))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		switch {
		case k.Kind == yaml.AliasNode:
			dc.fail(k.Line, p, "%s", aliasMsg(k))
			continue
		case k.Kind != yaml.ScalarNode:
			dc.fail(k.Line, path, "field names must be plain words, not %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			dc.fail(k.Line, p, "is given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := fields[k.Value]
		if !ok && k.Value == "<<" {
			dc.fail(k.Line, p, "merge keys (<<) are not allowed: write the fields out")
			continue
		}
		if !ok {
			dc.fail(k.Line, p, "unknown field %q in %s (fields: %s)", k.Value, name, strings.Join(names, ", "))
			continue
		}
		dc.value(val, v.Field(fi), p, k.Line)
	}
}

// params decodes a step's params: any scalar values, checked against the
// kind by the validator.
func (dc *decoder) params(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		dc.fail(line, path, "must be a mapping of param names to values, not %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		dc.lines[p] = k.Line
		if a := yamlstrict.FindAlias(k); a != nil {
			dc.fail(a.Line, p, "%s", aliasMsg(a))
			continue
		}
		if a := yamlstrict.FindAlias(val); a != nil {
			dc.fail(a.Line, p, "%s", aliasMsg(a))
			continue
		}
		if k.Kind != yaml.ScalarNode {
			dc.fail(k.Line, path, "param names must be plain words, not %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			dc.fail(k.Line, p, "is given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		if val.Kind != yaml.ScalarNode {
			dc.fail(val.Line, p, "must be a single value, not %s", describe(val))
			continue
		}
		var x any
		if err := val.Decode(&x); err != nil {
			dc.fail(val.Line, p, "cannot read %s: %v", describe(val), err)
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(&x).Elem())
	}
	v.Set(m)
}

// scalar decodes a single value: a string, a number or a duration.
func (dc *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		dc.fail(n.Line, path, "must be a single value, not %s", describe(n))
		return
	}
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		// A duration's own message, e.g. "3x" is not a duration (…).
		dc.fail(n.Line, path, "%v", err)
		return
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		dc.fail(n.Line, path, "want a whole number, got %q", n.Value)
	case reflect.Float64:
		dc.fail(n.Line, path, "want a number, got %q", n.Value)
	case reflect.Bool:
		dc.fail(n.Line, path, "want true or false, got %q", n.Value)
	default:
		dc.fail(n.Line, path, "cannot read %q: %s", n.Value, strings.Join(te.Errors, "; "))
	}
}
