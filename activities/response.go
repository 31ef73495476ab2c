package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// Area names an area a step works on.
type Area struct {
	ID    int64
	Code  string
	Name  string
	Path  string
	Level string
}

func areaOf(a store.Area) Area {
	return Area{ID: a.ID, Code: a.Code, Name: a.Name, Path: a.Path, Level: a.Level}
}

// OpenResponseInput opens an incident's response with a runbook.
type OpenResponseInput struct {
	Ref     StepRef
	Runbook string
	// Version pins the runbook version; 0 takes the latest published one.
	Version int
	Area    string
	Level   int
}

// OpenResponseResult is the pinned runbook's text and the response's area.
type OpenResponseResult struct {
	Runbook string
	Version int
	Title   string
	Source  string
	Area    Area
	// Definition is the runbook parsed, validated and completed with the
	// parameter defaults of the worker that opened the response. The
	// response runs this and never parses the runbook again, so a later
	// change of a default or a new required parameter does not change what
	// a running response does.
	Definition *runbook.Definition `json:",omitempty"`
	// Locale is the language the response is shown in; empty in results
	// recorded before responses had one, which read as en.
	Locale string `json:",omitempty"`
}

// OpenResponse pins the runbook version, resolves the response's area,
// parses and checks the runbook against the step kinds and the scenario's
// areas, and records the response. A runbook that does not parse, is for
// another level of area or names an unknown area is bad input, and
// nothing is recorded.
func (a *Activities) OpenResponse(ctx context.Context, in OpenResponseInput) (OpenResponseResult, error) {
	if err := in.Ref.validate(); err != nil {
		return OpenResponseResult{}, classify(err)
	}
	rb, err := a.Store.Runbook(ctx, in.Runbook, in.Version)
	if errors.Is(err, domain.ErrNotFound) {
		return OpenResponseResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrUnknownRunbook, err)
	}
	if err != nil {
		return OpenResponseResult{}, classify(err)
	}
	area, err := a.Store.AreaByCode(ctx, in.Area)
	if err != nil {
		return OpenResponseResult{}, classify(err)
	}
	var def *runbook.Definition
	if a.Kinds != nil {
		if def, err = a.definition(ctx, rb, area); err != nil {
			return OpenResponseResult{}, err
		}
	}
	level := "the runbook's level"
	if in.Level > 0 {
		level = fmt.Sprintf("level %d", in.Level)
	}
	e := in.Ref.event("response", "opened", fmt.Sprintf("runbook %s version %d over %s, %s", rb.Name, rb.Version, area.Path, level))
	locale, err := a.Store.OpenRunbookResponse(ctx, store.Response{Incident: in.Ref.Incident, Runbook: rb.Name, Level: in.Level, AreaPath: area.Path}, rb.Version, e)
	if err != nil {
		return OpenResponseResult{}, classify(err)
	}
	return OpenResponseResult{Runbook: rb.Name, Version: rb.Version, Title: rb.Title, Source: rb.Source, Area: areaOf(area), Definition: def, Locale: locale}, nil
}

// definition parses the pinned runbook for a response over area.
func (a *Activities) definition(ctx context.Context, rb store.RunbookVersion, area store.Area) (*runbook.Definition, error) {
	source := fmt.Sprintf("%s version %d", rb.Name, rb.Version)
	def, err := runbook.Parse(source, []byte(rb.Source), a.Kinds)
	if err != nil {
		return nil, badInput("runbook %s does not validate: %v", source, err)
	}
	if def.Area != "" && def.Area != area.Level {
		return nil, badInput("runbook %s is for a %s, and %s is a %s", def.Name, def.Area, area.Code, area.Level)
	}
	refs := def.AreaRefs()
	if len(refs) == 0 {
		return def, nil
	}
	codes := make([]string, len(refs))
	for i, r := range refs {
		codes[i] = r.Code
	}
	known, _, err := a.Store.KnownAreas(ctx, area.Path, codes)
	if err != nil {
		return nil, classify(err)
	}
	if err := def.UnknownAreas(source, func(code string) bool { return known[code] }); err != nil {
		return nil, badInput("%v", err)
	}
	return def, nil
}

// SelectAreasInput chooses areas for a for_each.
type SelectAreasInput struct {
	// Under is an area code or path; Level selects its descendants of that
	// level; Codes selects areas by code instead.
	Under string
	Level string
	Codes []string
	// District, a district code or any path inside it, is where codes are
	// looked up: a response's areas are all in its own district.
	District string `json:",omitempty"`
}

// SelectAreas returns the chosen areas, ordered by path.
func (a *Activities) SelectAreas(ctx context.Context, in SelectAreasInput) ([]Area, error) {
	var out []Area
	if len(in.Codes) > 0 {
		for _, c := range in.Codes {
			ar, err := a.Store.AreaIn(ctx, in.District, c)
			if err != nil {
				return nil, classify(err)
			}
			out = append(out, areaOf(ar))
		}
		return out, nil
	}
	if in.Under == "" || in.Level == "" {
		return nil, badInput("select areas: give codes, or an area and a level")
	}
	as, err := a.Store.DescendantsIn(ctx, in.District, in.Under, in.Level)
	if err != nil {
		return nil, classify(err)
	}
	for _, ar := range as {
		out = append(out, areaOf(ar))
	}
	return out, nil
}

// ResponseStateInput records a response's state.
type ResponseStateInput struct {
	Ref    StepRef
	State  string
	Level  int
	Reason string
}

// SetResponseState records the response's state and level, with an event.
func (a *Activities) SetResponseState(ctx context.Context, in ResponseStateInput) error {
	if err := in.Ref.validate(); err != nil {
		return classify(err)
	}
	e := in.Ref.event("response", in.State, in.Reason)
	e.Seq = fmt.Sprintf("%s-%d-%s", in.State, in.Level, in.Reason)
	return classify(a.Store.SetResponseState(ctx, in.Ref.Incident, in.State, in.Level, loggable(e)))
}
