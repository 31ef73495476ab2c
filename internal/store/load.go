package store

// Loading a scenario: the area tree, gates, roads, sites, staff and suppliers
// of a district, written or updated in one transaction.

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/scenario"
)

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
		d := districtsOf(r)
		if err := upsertWays(ctx, tx, "gates", d, r.Gates, &res); err != nil {
			return err
		}
		if err := upsertWays(ctx, tx, "roads", d, r.Roads, &res); err != nil {
			return err
		}
		if err := upsertCommodities(ctx, tx, r.Scenario, d.top(), r.Commodities, &res); err != nil {
			return err
		}
		if err := upsertSites(ctx, tx, d, r.Sites, &res); err != nil {
			return err
		}
		if err := upsertStaff(ctx, tx, d, r.Staff, &res); err != nil {
			return err
		}
		return loadResidents(ctx, conn, tx, r.Scenario, r.Registry, d.path, &res)
	})
	if err != nil {
		return LoadResult{}, fmt.Errorf("load scenario %s: %w", r.Scenario, err)
	}
	return res, nil
}

// districts holds, for each area code of a scenario, its district (the
// first segment of its path) and its path. Codes are unique within a
// scenario file, and a district is a namespace: every row a load writes is
// matched to areas of its own district only, so a load never updates
// another district's rows.
type districts struct {
	of, path map[string]string
}

func districtsOf(r scenario.Rows) districts {
	d := districts{of: make(map[string]string, len(r.Areas)), path: make(map[string]string, len(r.Areas))}
	for _, a := range r.Areas {
		d.of[a.Code] = DistrictOf(a.Path)
		d.path[a.Code] = a.Path
	}
	return d
}

// top returns the scenario's districts, sorted.
func (d districts) top() []string {
	seen := map[string]bool{}
	for _, top := range d.of {
		seen[top] = true
	}
	return sortedKeys(seen)
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
		LEFT JOIN areas p ON p.district = split_part(u.path, '/', 1) AND p.code = u.parent
		ON CONFLICT (district, code) DO UPDATE SET
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

// upsertWays writes an area's gates or road sections: both are named ways
// into the area, one of which may be its entrance, kept in tables of one
// shape.
func upsertWays[R scenario.GateRow | scenario.RoadRow](ctx context.Context, tx *sqlx.Tx, table string, d districts, rows []R, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, entrances := make([]string, n), make([]string, n), make([]string, n), make([]bool, n)
	dists := make([]string, n)
	for i, r := range rows {
		w := scenario.GateRow(r)
		areas[i], codes[i], names[i], entrances[i], dists[i] = w.AreaCode, w.Code, w.Name, w.Entrance, d.of[w.AreaCode]
	}
	return count(ctx, tx, table, res, fmt.Sprintf(`
		INSERT INTO %[1]s (area_id, code, name, entrance)
		SELECT a.id, u.code, u.name, u.entrance
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[]) AS u(area, code, name, entrance, district)
		JOIN areas a ON a.district = u.district AND a.code = u.area
		ON CONFLICT (area_id, code) DO UPDATE SET name = excluded.name, entrance = excluded.entrance
		WHERE (%[1]s.name, %[1]s.entrance) IS DISTINCT FROM (excluded.name, excluded.entrance)
		RETURNING (xmax = 0)`, table),
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(entrances), pq.Array(dists))
}

func upsertSites(ctx context.Context, tx *sqlx.Tx, d districts, rows []scenario.SiteRow, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, kinds, dists := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	pops, caps := make([]int64, n), make([]int64, n)
	for i, s := range rows {
		areas[i], codes[i], names[i], kinds[i], dists[i] = s.AreaCode, s.Code, s.Name, s.Kind, d.of[s.AreaCode]
		pops[i], caps[i] = int64(s.Population), int64(s.CapacityPerHour)
	}
	if err := count(ctx, tx, "sites", res, `
		INSERT INTO sites (area_id, district, code, name, kind, population, capacity_per_hour)
		SELECT a.id, a.district, u.code, u.name, u.kind, u.population, u.capacity
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[]) AS u(area, code, name, kind, population, capacity, district)
		JOIN areas a ON a.district = u.district AND a.code = u.area
		ON CONFLICT (district, code) DO UPDATE SET area_id = excluded.area_id, name = excluded.name, kind = excluded.kind,
		    population = excluded.population, capacity_per_hour = excluded.capacity_per_hour
		WHERE (sites.area_id, sites.name, sites.kind, sites.population, sites.capacity_per_hour)
		      IS DISTINCT FROM (excluded.area_id, excluded.name, excluded.kind, excluded.population, excluded.capacity_per_hour)
		RETURNING (xmax = 0)`,
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(kinds), pq.Array(pops), pq.Array(caps), pq.Array(dists)); err != nil {
		return err
	}
	return loadSuppliers(ctx, tx, d, rows, res)
}

func upsertStaff(ctx context.Context, tx *sqlx.Tx, d districts, rows []scenario.StaffRow, res *LoadResult) error {
	n := len(rows)
	areas, codes, names, roles, dists := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, s := range rows {
		areas[i], codes[i], names[i], roles[i], dists[i] = s.AreaCode, s.Code, s.Name, s.Role, d.of[s.AreaCode]
	}
	if err := count(ctx, tx, "staff", res, `
		INSERT INTO staff (area_id, district, code, name, role)
		SELECT a.id, a.district, u.code, u.name, u.role
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(area, code, name, role, district)
		JOIN areas a ON a.district = u.district AND a.code = u.area
		ON CONFLICT (district, code) DO UPDATE SET area_id = excluded.area_id, name = excluded.name, role = excluded.role
		WHERE (staff.area_id, staff.name, staff.role) IS DISTINCT FROM (excluded.area_id, excluded.name, excluded.role)
		RETURNING (xmax = 0)`,
		pq.Array(areas), pq.Array(codes), pq.Array(names), pq.Array(roles), pq.Array(dists)); err != nil {
		return err
	}
	return loadStaffProfiles(ctx, tx, dists, rows)
}

// loadStaffProfiles writes the staff entries' groups, skills and shift
// limits.
func loadStaffProfiles(ctx context.Context, tx *sqlx.Tx, dists []string, staff []scenario.StaffRow) error {
	n := len(staff)
	codes, groups, skills, limits := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, st := range staff {
		codes[i], groups[i], limits[i] = st.Code, st.Group, int64(st.MaxShiftHours)
		if limits[i] == 0 {
			limits[i] = 12
		}
		skills[i] = strings.Join(st.Skills, ",")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET group_code = u.grp, skills = coalesce(string_to_array(nullif(u.skills, ''), ','), '{}'), max_shift_hours = u.lim
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[]) AS u(code, grp, skills, lim, district)
		WHERE staff.district = u.district AND staff.code = u.code AND (staff.group_code, staff.max_shift_hours, staff.skills)
		      IS DISTINCT FROM (u.grp, u.lim, coalesce(string_to_array(nullif(u.skills, ''), ','), '{}'))`,
		pq.Array(codes), pq.Array(groups), pq.Array(skills), pq.Array(limits), pq.Array(dists)); err != nil {
		return fmt.Errorf("staff groups: %w", err)
	}
	return nil
}

// loadSuppliers writes the supermarkets and markets as suppliers with their
// stock. A stock row already recorded is kept: the scenario gives the stock
// at the start, reports change it since.
func loadSuppliers(ctx context.Context, tx *sqlx.Tx, d districts, rows []scenario.SiteRow, res *LoadResult) error {
	var sites, serves, dists, stockSites, stockDists, commodities []string
	var tonnes []float64
	for _, s := range rows {
		if s.Kind != "supermarket" && s.Kind != "market" {
			continue
		}
		area := s.Serves
		if area == "" {
			area = s.AreaCode
		}
		sites, serves, dists = append(sites, s.Code), append(serves, area), append(dists, d.of[s.AreaCode])
		for c, t := range s.Stock {
			stockSites, commodities, tonnes = append(stockSites, s.Code), append(commodities, c), append(tonnes, t)
			stockDists = append(stockDists, d.of[s.AreaCode])
		}
	}
	if err := count(ctx, tx, "suppliers", res, `INSERT INTO suppliers (site_id, area_id)
		SELECT s.id, a.id FROM unnest($1::text[], $2::text[], $3::text[]) AS u(site, area, district)
		JOIN sites s ON s.district = u.district AND s.code = u.site JOIN areas a ON a.district = u.district AND a.code = u.area
		ON CONFLICT (site_id) DO UPDATE SET area_id = excluded.area_id WHERE suppliers.area_id <> excluded.area_id
		RETURNING (xmax = 0)`, pq.Array(sites), pq.Array(serves), pq.Array(dists)); err != nil {
		return fmt.Errorf("suppliers: %w", err)
	}
	return count(ctx, tx, "supplier_stock", res, `INSERT INTO supplier_stock (site_id, commodity, tonnes)
		SELECT s.id, u.commodity, u.tonnes FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[]) AS u(site, commodity, tonnes, district)
		JOIN sites s ON s.district = u.district AND s.code = u.site
		ON CONFLICT (site_id, commodity) DO NOTHING
		RETURNING (xmax = 0)`, pq.Array(stockSites), pq.Array(commodities), pq.Array(tonnes), pq.Array(stockDists))
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
