package runbook

import (
	"fmt"
	"strings"

	"github.com/musterhq/muster/internal/scenario"
)

// AreaRef is an area a definition names by code or path: a for_each's
// `under` or one of its `codes`, with its path in the definition.
type AreaRef struct {
	Path string
	Code string
	Line int
}

// AreaRefs lists the areas the definition names, in definition order. The
// response's own area ("response" or nothing) is not listed: it is checked
// when a response opens.
func (d *Definition) AreaRefs() []AreaRef {
	var out []AreaRef
	d.Walk(func(path string, s *Step) {
		if s.ForEach == nil {
			return
		}
		a := s.ForEach.Areas
		if !isResponse(a.Under) {
			out = append(out, AreaRef{Path: path + ".for_each.areas.under", Code: a.Under, Line: s.ForEach.Line})
		}
		for i, c := range a.Codes {
			out = append(out, AreaRef{Path: fmt.Sprintf("%s.for_each.areas.codes[%d]", path, i), Code: c, Line: s.ForEach.Line})
		}
	})
	return out
}

// UnknownAreas reports the area references whose code is not among known,
// each with its path, line and code; nil when every one is known.
func (d *Definition) UnknownAreas(source string, known func(code string) bool) error {
	var errs Errors
	for _, r := range d.AreaRefs() {
		if !known(r.Code) {
			errs = append(errs, &Error{Source: source, Line: r.Line, Path: r.Path,
				Msg: fmt.Sprintf("unknown area %q: no area of the loaded scenario has this code or path", r.Code)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// isResponse reports whether a for_each's under names the response's own
// area: written as "response" or left out.
func isResponse(under string) bool { return under == "" || under == "response" }

// isLevel reports whether l names a level of the scenario's area tree.
func isLevel(l string) bool { return levelRank(l) >= 0 }

// levelRank is a level's place in the tree, top first; -1 for no level.
func levelRank(l string) int {
	for i, v := range scenario.Levels {
		if string(v) == l {
			return i
		}
	}
	return -1
}

// levelList names the levels, top first, for messages.
func levelList() string {
	s := make([]string, len(scenario.Levels))
	for i, l := range scenario.Levels {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}

// plural names areas of a level in messages: compounds, communities.
func plural(level string) string {
	if strings.HasSuffix(level, "y") {
		return strings.TrimSuffix(level, "y") + "ies"
	}
	return level + "s"
}
