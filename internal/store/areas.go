package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
)

// Area is a node of the area tree.
type Area struct {
	ID          int64          `db:"id"`
	Code        string         `db:"code"`
	Path        string         `db:"path"`
	ParentID    sql.NullInt64  `db:"parent_id"`
	Level       string         `db:"level"`
	Name        string         `db:"name"`
	Population  int            `db:"population"`
	Buildings   int            `db:"buildings"`
	PublicAreas pq.StringArray `db:"public_areas"`
	Scenario    string         `db:"scenario"`
}

// District returns the code of the area's district: the root of its path.
func (a Area) District() string { return DistrictOf(a.Path) }

// DistrictOf returns the district of an area path, or of a district code
// given alone: the path's first segment.
func DistrictOf(path string) string {
	d, _, _ := strings.Cut(path, "/")
	return d
}

const areaColumns = `id, code, path, parent_id, level, name, population, buildings, public_areas, scenario`

// AreaByCode returns the area with the given code or path. A district is a
// namespace, so a code two districts use names no area on its own: the
// error (an AmbiguousError) names the districts; AreaIn takes one.
func (s *Store) AreaByCode(ctx context.Context, codeOrPath string) (Area, error) {
	return s.AreaIn(ctx, "", codeOrPath)
}

// AreaIn returns the area with the given code or path inside district,
// given by its code or by any path inside it. With district empty the code
// must name one area across all districts.
func (s *Store) AreaIn(ctx context.Context, district, codeOrPath string) (Area, error) {
	var found []Area
	err := s.db.SelectContext(ctx, &found, `SELECT `+areaColumns+` FROM areas
		WHERE (path = $1 OR code = $1) AND ($2 = '' OR district = $2)
		ORDER BY path = $1 DESC, path`, codeOrPath, DistrictOf(district))
	if err != nil {
		return Area{}, fmt.Errorf("area %q: %w", codeOrPath, err)
	}
	switch {
	case len(found) == 0 && district != "":
		return Area{}, fmt.Errorf("area %q in district %s: %w", codeOrPath, DistrictOf(district), domain.ErrAreaNotFound)
	case len(found) == 0:
		return Area{}, fmt.Errorf("area %q: %w", codeOrPath, domain.ErrAreaNotFound)
	case len(found) > 1 && found[0].Path != codeOrPath:
		ds := make([]string, len(found))
		for i, a := range found {
			ds[i] = a.District()
		}
		return Area{}, &AmbiguousError{What: "area", Code: codeOrPath, Districts: ds}
	}
	return found[0], nil
}

// AreaFor returns the area with the given code or path inside the district
// of the incident's response: a response resolves codes in its own district
// only. An incident with no response recorded yet (a step started on its
// own) resolves it as AreaByCode.
func (s *Store) AreaFor(ctx context.Context, incident, codeOrPath string) (Area, error) {
	var district string
	if err := s.db.GetContext(ctx, &district, `SELECT coalesce((SELECT split_part(area_path, '/', 1) FROM responses WHERE incident = $1), '')`,
		incident); err != nil {
		return Area{}, fmt.Errorf("district of %s: %w", incident, err)
	}
	return s.AreaIn(ctx, district, codeOrPath)
}

// AmbiguousError is returned when a code names rows in more than one
// district and no district was given. It is bad input: the caller adds a
// district.
type AmbiguousError struct {
	What, Code string
	Districts  []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%s code %q is used in districts %s: add --district (one of them) or give its path",
		e.What, e.Code, strings.Join(e.Districts, ", "))
}

// Is makes an AmbiguousError bad input for errors.Is.
func (e *AmbiguousError) Is(target error) bool {
	return target == domain.ErrInvalid
}

// ambiguous returns an AmbiguousError when the districts found for code are
// more than one, nil otherwise.
func ambiguous(what, code string, districts []string) error {
	if len(districts) < 2 {
		return nil
	}
	return &AmbiguousError{What: what, Code: code, Districts: districts}
}

// Descendants returns the areas at the given level under the area with the
// given code or path (the area itself when it has that level), ordered by path.
func (s *Store) Descendants(ctx context.Context, codeOrPath, level string) ([]Area, error) {
	return s.DescendantsIn(ctx, "", codeOrPath, level)
}

// DescendantsIn is Descendants with the area's code resolved inside
// district (see AreaIn).
func (s *Store) DescendantsIn(ctx context.Context, district, codeOrPath, level string) ([]Area, error) {
	root, err := s.AreaIn(ctx, district, codeOrPath)
	if err != nil {
		return nil, err
	}
	var out []Area
	err = s.db.SelectContext(ctx, &out, `SELECT `+areaColumns+`
		FROM areas WHERE level = $2 AND (path = $1 OR path LIKE $1 || '/%') ORDER BY path`, root.Path, level)
	if err != nil {
		return nil, fmt.Errorf("areas under %s: %w", root.Path, err)
	}
	return out, nil
}

// Districts returns the codes of the districts loaded, in order.
func (s *Store) Districts(ctx context.Context) ([]string, error) {
	var out []string
	if err := s.db.SelectContext(ctx, &out, `SELECT code FROM areas WHERE parent_id IS NULL ORDER BY code`); err != nil {
		return nil, fmt.Errorf("districts: %w", err)
	}
	return out, nil
}

// areaPaths returns the path of each area code the residents name, so that
// staging them names one area whichever districts share a code. A code
// that several districts use is refused.
func areaPaths(ctx context.Context, tx *sqlx.Tx, rows []scenario.ResidentRow) (map[string]string, error) {
	codes := map[string]bool{}
	for _, r := range rows {
		codes[r.AreaCode] = true
	}
	var found []struct {
		Code string `db:"code"`
		Path string `db:"path"`
	}
	if err := tx.SelectContext(ctx, &found, `SELECT code, path FROM areas WHERE code = ANY($1) ORDER BY path`, pq.Array(sortedKeys(codes))); err != nil {
		return nil, fmt.Errorf("residents' areas: %w", err)
	}
	paths := map[string][]string{}
	for _, f := range found {
		paths[f.Code] = append(paths[f.Code], f.Path)
	}
	out := make(map[string]string, len(paths))
	for _, code := range sortedKeys(paths) {
		ps := paths[code]
		if len(ps) > 1 {
			ds := make([]string, len(ps))
			for j, p := range ps {
				ds[j] = DistrictOf(p)
			}
			return nil, fmt.Errorf("residents of %s: %w", code, ambiguous("area", code, ds))
		}
		out[code] = ps[0]
	}
	return out, nil
}

// residentsStayInDistrict refuses staged residents whose codes another
// district's residents have: resident codes are unique in the database
// (field uploads name them alone), and a load never moves another
// district's rows.
func residentsStayInDistrict(ctx context.Context, tx *sqlx.Tx) error {
	var clash []struct {
		Code     string `db:"code"`
		District string `db:"district"`
	}
	if err := tx.SelectContext(ctx, &clash, `SELECT s.code, ra.district FROM resident_stage s
		JOIN areas a ON a.path = s.area JOIN residents r ON r.code = s.code JOIN areas ra ON ra.id = r.area_id
		WHERE ra.district <> a.district ORDER BY s.code LIMIT 5`); err != nil {
		return fmt.Errorf("check residents' districts: %w", err)
	}
	if len(clash) == 0 {
		return nil
	}
	var b strings.Builder
	for i, c := range clash {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "resident %s is district %s's", c.Code, c.District)
	}
	return fmt.Errorf("%s: resident codes are unique in the database (give the compounds that generate them codes of their own): %w",
		b.String(), domain.ErrConflict)
}
