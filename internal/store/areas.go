package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

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

// PathPrefixes returns the area's path and every ancestor's path, top first:
// "xiaodian", "xiaodian/beiying", … . A keyword-list search attribute holding
// them lets a supervisor filter everything under any area.
func PathPrefixes(path string) []string {
	parts := strings.Split(path, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}

// LoadResult counts what loading a scenario changed, per table.
type LoadResult struct {
	Inserted map[string]int
	Updated  map[string]int
}

// Changed reports whether the load wrote anything.
func (r LoadResult) Changed() bool {
	for _, n := range r.Inserted {
		if n > 0 {
			return true
		}
	}
	for _, n := range r.Updated {
		if n > 0 {
			return true
		}
	}
	return false
}

// LoadScenario writes a validated scenario, its residents included, in one
// transaction. Rows that exist are updated in place when their figures
// changed and left alone otherwise, so loading the same file twice changes
// nothing. Rows the file no longer lists are kept: running responses may
// still refer to them.
func (s *Store) LoadScenario(ctx context.Context, r scenario.Rows) (LoadResult, error) {
	res := LoadResult{Inserted: map[string]int{}, Updated: map[string]int{}}
	err := s.withConnTx(ctx, func(conn *sqlx.Conn, tx *sqlx.Tx) error {
		for _, level := range scenario.Levels {
			var rows []scenario.AreaRow
			for _, a := range r.Areas {
				if a.Level == level {
					rows = append(rows, a)
				}
			}
			if err := upsertAreas(ctx, tx, r.Scenario, rows, &res); err != nil {
				return err
			}
		}
		if err := upsertLocale(ctx, tx, r.Scenario, r.Locale); err != nil {
			return err
		}
		if err := upsertGates(ctx, tx, r.Gates, &res); err != nil {
			return err
		}
		if err := upsertRoads(ctx, tx, r.Roads, &res); err != nil {
			return err
		}
		if err := upsertCommodities(ctx, tx, r.Scenario, r.Commodities, &res); err != nil {
			return err
		}
		if err := upsertSites(ctx, tx, r.Sites, &res); err != nil {
			return err
		}
		if err := upsertStaff(ctx, tx, r.Staff, &res); err != nil {
			return err
		}
		return loadResidents(ctx, conn, tx, r.Scenario, r.Registry, &res)
	})
	if err != nil {
		return LoadResult{}, fmt.Errorf("load scenario %s: %w", r.Scenario, err)
	}
	return res, nil
}

// upsertLocale records the scenario's language, which responses opened
// over its areas take.
func upsertLocale(ctx context.Context, tx *sqlx.Tx, scenarioName, locale string) error {
	if locale == "" {
		locale = "en"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO scenario_locales (scenario, locale) VALUES ($1, $2)
		ON CONFLICT (scenario) DO UPDATE SET locale = excluded.locale`, scenarioName, locale); err != nil {
		return fmt.Errorf("scenario locale: %w", err)
	}
	return nil
}

// count tallies the RETURNING (xmax = 0) column of an upsert: true for an
// inserted row, false for an updated one; unchanged rows return nothing.
func count(ctx context.Context, tx *sqlx.Tx, table string, res *LoadResult, query string, args ...any) error {
	var inserted []bool
	if err := tx.SelectContext(ctx, &inserted, query, args...); err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	for _, ins := range inserted {
		if ins {
			res.Inserted[table]++
		} else {
			res.Updated[table]++
		}
	}
	return nil
}

func upsertAreas(ctx context.Context, tx *sqlx.Tx, scenarioName string, rows []scenario.AreaRow, res *LoadResult) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	codes, paths, parents, levels, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	pops, blds := make([]int64, n), make([]int64, n)
	zones := make([]string, n)
	for i, a := range rows {
		codes[i], paths[i], parents[i], levels[i], names[i] = a.Code, a.Path, a.ParentCode, string(a.Level), a.Name
		pops[i], blds[i] = int64(a.Population), int64(a.Buildings)
		// Zones travel as one string per row because unnest cannot take a
		// ragged two-dimensional array.
		zones[i] = strings.Join(a.PublicAreas, "\x1f")
	}
	return count(ctx, tx, "areas", res, `
		INSERT INTO areas (code, path, parent_id, level, name, population, buildings, public_areas, scenario)
		SELECT u.code, u.path, p.id, u.level, u.name, u.population, u.buildings,
		       CASE WHEN u.zones = '' THEN '{}'::text[] ELSE string_to_array(u.zones, E'\x1f') END, $9
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::text[])
		     AS u(code, path, parent, level, name, population, buildings, zones)
		LEFT JOIN areas p ON p.code = u.parent
		ON CONFLICT (code) DO UPDATE SET
		    path = excluded.path, parent_id = excluded.parent_id, level = excluded.level, name = excluded.name,
		    population = excluded.population, buildings = excluded.buildings,
		    public_areas = excluded.public_areas, scenario = excluded.scenario, updated_at = now()
		WHERE (areas.path, areas.parent_id, areas.level, areas.name, areas.population, areas.buildings, areas.public_areas, areas.scenario)
		      IS DISTINCT FROM
		      (excluded.path, excluded.parent_id, excluded.level, excluded.name, excluded.population, excluded.buildings, excluded.public_areas, excluded.scenario)
		RETURNING (xmax = 0)`,
		pq.Array(codes), pq.Array(paths), pq.Array(parents), pq.Array(levels), pq.Array(names),
		pq.Array(pops), pq.Array(blds), pq.Array(zones), scenarioName)
}

func upsertGates(ctx context.Context, tx *sqlx.Tx, rows []scenario.GateRow, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, entrances := make([]string, n), make([]string, n), make([]string, n), make([]bool, n)
	for i, g := range rows {
		areas[i], codes[i], names[i], entrances[i] = g.AreaCode, g.Code, g.Name, g.Entrance
	}
	return count(ctx, tx, "gates", res, `
		INSERT INTO gates (area_id, code, name, entrance)
		SELECT a.id, u.code, u.name, u.entrance
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[]) AS u(area, code, name, entrance)
		JOIN areas a ON a.code = u.area
		ON CONFLICT (area_id, code) DO UPDATE SET name = excluded.name, entrance = excluded.entrance
		WHERE (gates.name, gates.entrance) IS DISTINCT FROM (excluded.name, excluded.entrance)
		RETURNING (xmax = 0)`,
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(entrances))
}

func upsertRoads(ctx context.Context, tx *sqlx.Tx, rows []scenario.RoadRow, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, entrances := make([]string, n), make([]string, n), make([]string, n), make([]bool, n)
	for i, r := range rows {
		areas[i], codes[i], names[i], entrances[i] = r.AreaCode, r.Code, r.Name, r.Entrance
	}
	return count(ctx, tx, "roads", res, `
		INSERT INTO roads (area_id, code, name, entrance)
		SELECT a.id, u.code, u.name, u.entrance
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[]) AS u(area, code, name, entrance)
		JOIN areas a ON a.code = u.area
		ON CONFLICT (area_id, code) DO UPDATE SET name = excluded.name, entrance = excluded.entrance
		WHERE (roads.name, roads.entrance) IS DISTINCT FROM (excluded.name, excluded.entrance)
		RETURNING (xmax = 0)`,
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(entrances))
}

func upsertSites(ctx context.Context, tx *sqlx.Tx, rows []scenario.SiteRow, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, kinds := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	pops, caps := make([]int64, n), make([]int64, n)
	for i, s := range rows {
		areas[i], codes[i], names[i], kinds[i] = s.AreaCode, s.Code, s.Name, s.Kind
		pops[i], caps[i] = int64(s.Population), int64(s.CapacityPerHour)
	}
	if err := count(ctx, tx, "sites", res, `
		INSERT INTO sites (area_id, code, name, kind, population, capacity_per_hour)
		SELECT a.id, u.code, u.name, u.kind, u.population, u.capacity
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[]) AS u(area, code, name, kind, population, capacity)
		JOIN areas a ON a.code = u.area
		ON CONFLICT (code) DO UPDATE SET area_id = excluded.area_id, name = excluded.name, kind = excluded.kind,
		    population = excluded.population, capacity_per_hour = excluded.capacity_per_hour
		WHERE (sites.area_id, sites.name, sites.kind, sites.population, sites.capacity_per_hour)
		      IS DISTINCT FROM (excluded.area_id, excluded.name, excluded.kind, excluded.population, excluded.capacity_per_hour)
		RETURNING (xmax = 0)`,
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(kinds), pq.Array(pops), pq.Array(caps)); err != nil {
		return err
	}
	return loadSuppliers(ctx, tx, rows, res)
}

func upsertStaff(ctx context.Context, tx *sqlx.Tx, rows []scenario.StaffRow, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, roles := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, s := range rows {
		areas[i], codes[i], names[i], roles[i] = s.AreaCode, s.Code, s.Name, s.Role
	}
	if err := count(ctx, tx, "staff", res, `
		INSERT INTO staff (area_id, code, name, role)
		SELECT a.id, u.code, u.name, u.role
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(area, code, name, role)
		JOIN areas a ON a.code = u.area
		ON CONFLICT (code) DO UPDATE SET area_id = excluded.area_id, name = excluded.name, role = excluded.role
		WHERE (staff.area_id, staff.name, staff.role) IS DISTINCT FROM (excluded.area_id, excluded.name, excluded.role)
		RETURNING (xmax = 0)`,
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(roles)); err != nil {
		return err
	}
	return loadStaffProfiles(ctx, tx, rows)
}

// AreaByCode returns the area with the given code or path.
func (s *Store) AreaByCode(ctx context.Context, codeOrPath string) (Area, error) {
	var a Area
	err := s.db.GetContext(ctx, &a, `SELECT id, code, path, parent_id, level, name, population, buildings, public_areas, scenario
		FROM areas WHERE code = $1 OR path = $1`, codeOrPath)
	if errors.Is(err, sql.ErrNoRows) {
		return Area{}, fmt.Errorf("area %q: %w", codeOrPath, ErrNotFound)
	}
	if err != nil {
		return Area{}, fmt.Errorf("area %q: %w", codeOrPath, err)
	}
	return a, nil
}

// Descendants returns the areas at the given level under the area with the
// given code or path (the area itself when it has that level), ordered by path.
func (s *Store) Descendants(ctx context.Context, codeOrPath, level string) ([]Area, error) {
	root, err := s.AreaByCode(ctx, codeOrPath)
	if err != nil {
		return nil, err
	}
	var out []Area
	err = s.db.SelectContext(ctx, &out, `SELECT id, code, path, parent_id, level, name, population, buildings, public_areas, scenario
		FROM areas WHERE level = $2 AND (path = $1 OR path LIKE $1 || '/%') ORDER BY path`, root.Path, level)
	if err != nil {
		return nil, fmt.Errorf("areas under %s: %w", root.Path, err)
	}
	return out, nil
}
