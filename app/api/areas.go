package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// AreaView is an area of the loaded scenario.
type AreaView struct {
	ID          int64    `json:"id"`
	Code        string   `json:"code"`
	Name        string   `json:"name"`
	Level       string   `json:"level"`
	Path        string   `json:"path"`
	Population  int      `json:"population"`
	Buildings   int      `json:"buildings"`
	PublicAreas []string `json:"public_areas"`
}

func viewOf(a store.Area) AreaView {
	pa := []string(a.PublicAreas)
	if pa == nil {
		pa = []string{}
	}
	return AreaView{ID: a.ID, Code: a.Code, Name: a.Name, Level: a.Level, Path: a.Path,
		Population: a.Population, Buildings: a.Buildings, PublicAreas: pa}
}

// ErrNoAreas means no scenario is loaded.
var ErrNoAreas = errors.New("no areas loaded: run `muster scenario load --reference` or load a scenario file")

// Areas returns the areas under an area code or path (the first top-level
// area when under is empty) of one level, or of every level when level is
// empty, ordered by path. Codes are looked up in district when it is given;
// without under, the tree is district's, or every district's. An unknown
// area is store.ErrNotFound.
func Areas(ctx context.Context, st *store.Store, district, under, level string) ([]store.Area, error) {
	tops := []string{under}
	if under == "" {
		top, err := st.TopAreas(ctx)
		if err != nil {
			return nil, err
		}
		if len(top) == 0 {
			return nil, ErrNoAreas
		}
		if tops = top; district != "" {
			tops = []string{store.DistrictOf(district)}
		}
	}
	levels := []string{level}
	if level == "" {
		levels = levelNames()
	}
	var all []store.Area
	for _, top := range tops {
		for _, l := range levels {
			as, err := st.DescendantsIn(ctx, district, top, l)
			if err != nil {
				return nil, err
			}
			all = append(all, as...)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	return all, nil
}

func levelNames() []string {
	out := make([]string, len(scenario.Levels))
	for i, l := range scenario.Levels {
		out[i] = string(l)
	}
	return out
}

func (s *Server) areas(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		if name != "under" && name != "level" && name != "district" {
			return badRequest(name, "unknown query parameter %q (parameters: under, level, district)", name)
		}
	}
	under, level := q.Get("under"), q.Get("level")
	if under != "" && !areaPattern.MatchString(under) {
		return badRequest("under", "under %q: give an area code or path", under)
	}
	if level != "" && !slices.Contains(levelNames(), level) {
		return badRequest("level", "level %q: want one of %s", level, strings.Join(levelNames(), ", "))
	}
	as, err := Areas(r.Context(), s.st, district(r), under, level)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return notFound("under", "unknown area %q (GET /v1/areas lists them)", under)
	case errors.Is(err, domain.ErrInvalid):
		return areaError("under", under, err)
	case errors.Is(err, ErrNoAreas):
		return notFound("", "%v", err)
	case err != nil:
		return err
	}
	out := make([]AreaView, len(as))
	for i, a := range as {
		out[i] = viewOf(a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"areas": out})
	return nil
}

// district is the request's ?district=: the district whose codes it names,
// needed only when loaded districts share a code.
func district(r *http.Request) string { return r.URL.Query().Get("district") }

// areaError answers a failed lookup of the area code given as field: an
// unknown code is not found, a code several districts use asks for
// ?district= and names them.
func areaError(field, code string, err error) error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return notFound(field, "unknown area %q (GET /v1/areas lists them; is the scenario loaded?)", code)
	case errors.Is(err, domain.ErrInvalid):
		return badRequest("district", "%s", strings.Replace(err.Error(), "add --district", "add ?district=", 1))
	}
	return err
}
