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
// empty, ordered by path. An unknown area is store.ErrNotFound.
func Areas(ctx context.Context, st *store.Store, under, level string) ([]store.Area, error) {
	if under == "" {
		top, err := st.TopAreas(ctx)
		if err != nil {
			return nil, err
		}
		if len(top) == 0 {
			return nil, ErrNoAreas
		}
		under = top[0]
	}
	levels := []string{level}
	if level == "" {
		levels = levelNames()
	}
	var all []store.Area
	for _, l := range levels {
		as, err := st.Descendants(ctx, under, l)
		if err != nil {
			return nil, err
		}
		all = append(all, as...)
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
		if name != "under" && name != "level" {
			return badRequest(name, "unknown query parameter %q (parameters: under, level)", name)
		}
	}
	under, level := q.Get("under"), q.Get("level")
	if under != "" && !areaPattern.MatchString(under) {
		return badRequest("under", "under %q: give an area code or path such as longbao or xiaodian/beiying", under)
	}
	if level != "" && !slices.Contains(levelNames(), level) {
		return badRequest("level", "level %q: want one of %s", level, strings.Join(levelNames(), ", "))
	}
	as, err := Areas(r.Context(), s.st, under, level)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return notFound("under", "unknown area %q (GET /v1/areas lists them)", under)
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
