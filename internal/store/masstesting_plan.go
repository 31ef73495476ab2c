// The plan of a testing round: which sampling points it opens and which
// compounds (or buildings) each serves, written when the round opens and
// read back as a RoundPlan. The assignment itself is package plan's.

package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/plan"
	"github.com/musterhq/muster/internal/scenario"
)

// SamplingPointKind is the site kind a round's points have.
const SamplingPointKind = "sampling-point"

// areaNode is an area as the planning code reads it.
type areaNode struct {
	ID       int64         `db:"id"`
	Code     string        `db:"code"`
	Path     string        `db:"path"`
	Level    string        `db:"level"`
	ParentID sql.NullInt64 `db:"parent_id"`
}

// planArea is the area as package plan walks the tree.
func (n areaNode) planArea() plan.Area {
	return plan.Area{Parent: n.ParentID.Int64, Community: n.Level == string(scenario.LevelCommunity)}
}

// loadAreaTree reads an area's subtree and its ancestors.
func loadAreaTree(ctx context.Context, q sqlx.QueryerContext, path string) (plan.Tree, error) {
	var nodes []areaNode
	if err := sqlx.SelectContext(ctx, q, &nodes, `SELECT id, code, path, level, parent_id FROM areas
		WHERE path = ANY($1) OR path LIKE $2`, pq.Array(domain.PathPrefixes(path)), under(path)); err != nil {
		return nil, fmt.Errorf("areas of %s: %w", path, err)
	}
	tree := plan.Tree{}
	for _, n := range nodes {
		tree[n.ID] = n.planArea()
	}
	return tree, nil
}

// point is a sampling point being planned.
type point struct {
	SiteID    int64  `db:"id"`
	Code      string `db:"code"`
	Name      string `db:"name"`
	Capacity  int    `db:"capacity_per_hour"`
	AreaID    int64  `db:"area_id"`
	AreaPath  string `db:"area_path"`
	community int64
}

// unit is what a point is assigned: a compound, or a building of a
// community for campus people.
type unit struct {
	AreaID    int64  `db:"area_id"`
	Building  string `db:"building"`
	Residents int    `db:"residents"`
	Expected  int    `db:"expected"`
	SiteID    int64  `db:"site_id"`
	community int64
	sampled   int
	// parts counts a compound's residents by building, for a plan that
	// splits it.
	parts map[string]int
}

// remaining is how many of the unit's residents are still to come to a
// point.
func (u *unit) remaining() int { return max(u.Residents-u.sampled, 0) }

// cohortCount counts a cohort's residents who come to points and those
// sampled at home; rank is the cohort's place in its site's order.
type cohortCount struct{ residents, home, rank int }

// cohortKey is a cohort, of a site that lists its own cohorts or of no
// site (everyone else).
type cohortKey struct{ site, cohort string }

// getAreaNode reads an area for planning.
func getAreaNode(ctx context.Context, q sqlx.QueryerContext, id int64) (areaNode, error) {
	var area areaNode
	err := sqlx.GetContext(ctx, q, &area, `SELECT id, code, path, level, parent_id FROM areas WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return areaNode{}, fmt.Errorf("area %d: %w", id, domain.ErrNotFound)
	}
	return area, err
}

// roundInputs reads what a round over the area is planned from: its
// sampling points, and the units and cohorts of its residents.
func roundInputs(ctx context.Context, tx *sqlx.Tx, area areaNode) ([]*point, []*unit, map[cohortKey]*cohortCount, error) {
	tree, err := loadAreaTree(ctx, tx, area.Path)
	if err != nil {
		return nil, nil, nil, err
	}
	points, err := roundPoints(ctx, tx, area.Path, tree)
	if err != nil {
		return nil, nil, nil, err
	}
	units, cohorts, err := roundUnits(ctx, tx, area, tree)
	if err != nil {
		return nil, nil, nil, err
	}
	return points, units, cohorts, nil
}

// planRound writes a new round's points, assignments and cohort counts.
func planRound(ctx context.Context, tx *sqlx.Tx, roundID int64, area areaNode) error {
	points, units, cohorts, err := roundInputs(ctx, tx, area)
	if err != nil {
		return err
	}
	siteNames, err := cohortSiteNames(ctx, tx, area, cohorts)
	if err != nil {
		return err
	}
	comers := 0
	for _, u := range units {
		comers += u.Residents
	}
	if len(points) == 0 && comers > 0 {
		return fmt.Errorf("no sampling point in, under or above area %s for its %d residents (add sites of kind sampling-point): %w", area.Code, comers, domain.ErrNotFound)
	}
	siteIDs, caps := make([]int64, len(points)), make([]int64, len(points))
	for i, p := range points {
		siteIDs[i], caps[i] = p.SiteID, int64(p.Capacity)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO round_points (round_id, site_id, capacity_per_hour)
		SELECT $1, u.site, u.cap FROM unnest($2::bigint[], $3::int[]) AS u(site, cap)`, roundID, pq.Array(siteIDs), pq.Array(caps)); err != nil {
		return fmt.Errorf("round points: %w", err)
	}
	if len(points) > 0 {
		if err := writeAssignments(ctx, tx, roundID, planUnits(points, units)); err != nil {
			return err
		}
	}
	return writeCohorts(ctx, tx, roundID, cohorts, siteNames)
}

// roundPoints reads the sampling points of a round over an area: those in
// or under it, else those of the nearest area above it that has any.
func roundPoints(ctx context.Context, tx *sqlx.Tx, path string, tree plan.Tree) ([]*point, error) {
	var candidates []*point
	if err := tx.SelectContext(ctx, &candidates, `SELECT s.id, s.code, s.name, s.capacity_per_hour, s.area_id, sa.path AS area_path
		FROM sites s JOIN areas sa ON sa.id = s.area_id
		WHERE s.kind = $1 AND s.capacity_per_hour > 0 AND (sa.path = ANY($2) OR sa.path LIKE $3)
		ORDER BY s.code`, SamplingPointKind, pq.Array(domain.PathPrefixes(path)), under(path)); err != nil {
		return nil, fmt.Errorf("sampling points: %w", err)
	}
	paths := make([]string, len(candidates))
	for i, p := range candidates {
		paths[i] = p.AreaPath
	}
	var points []*point
	for _, i := range plan.Nearest(paths, path) {
		p := candidates[i]
		p.community = tree.Community(p.AreaID)
		points = append(points, p)
	}
	return points, nil
}

// roundUnits counts the residents of an area: the units the points are
// assigned, the largest first, and the residents of each cohort.
func roundUnits(ctx context.Context, tx *sqlx.Tx, area areaNode, tree plan.Tree) ([]*unit, map[cohortKey]*cohortCount, error) {
	var groups []struct {
		AreaID    int64  `db:"area_id"`
		Compound  bool   `db:"compound"`
		Building  string `db:"building"`
		Cohort    string `db:"cohort"`
		HomeVisit bool   `db:"home_visit"`
		Site      string `db:"site"`
		Rank      int    `db:"cohort_rank"`
		N         int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &groups, `
		SELECT r.area_id, a.level = 'compound' AS compound, r.building, r.cohort, r.home_visit, r.site, coalesce(r.cohort_rank, 0) AS cohort_rank, count(*) AS n
		FROM residents r JOIN areas a ON a.id = r.area_id
		WHERE a.path = $1 OR a.path LIKE $2
		GROUP BY 1, 2, 3, 4, 5, 6, 7`, area.Path, under(area.Path)); err != nil {
		return nil, nil, fmt.Errorf("residents of %s: %w", area.Code, err)
	}
	// A site's people are counted apart only when the site lists its own
	// cohorts (some of its people have a rank).
	listing := map[string]bool{}
	for _, g := range groups {
		if g.Site != "" && g.Rank > 0 {
			listing[g.Site] = true
		}
	}
	type unitKey struct {
		area     int64
		building string
	}
	units := map[unitKey]*unit{}
	cohorts := map[cohortKey]*cohortCount{}
	for _, g := range groups {
		// A compound is one unit, which the plan may split by building;
		// campus people are planned by building from the start.
		k := unitKey{g.AreaID, g.Building}
		if g.Compound {
			k.building = ""
		}
		u := units[k]
		if u == nil {
			u = &unit{AreaID: g.AreaID, Building: k.building, community: tree.Community(g.AreaID)}
			units[k] = u
		}
		ck := cohortKey{cohort: g.Cohort}
		if listing[g.Site] {
			ck.site = g.Site
		}
		c := cohorts[ck]
		if c == nil {
			c = &cohortCount{rank: g.Rank}
			cohorts[ck] = c
		}
		if g.HomeVisit {
			c.home += g.N
			continue
		}
		c.residents += g.N
		u.Residents += g.N
		if g.Compound {
			if u.parts == nil {
				u.parts = map[string]int{}
			}
			u.parts[g.Building] += g.N
		}
	}
	ordered := slices.Collect(maps.Values(units))
	slices.SortFunc(ordered, func(a, b *unit) int {
		return cmp.Or(cmp.Compare(b.Residents, a.Residents), cmp.Compare(a.AreaID, b.AreaID), cmp.Compare(a.Building, b.Building))
	})
	return ordered, cohorts, nil
}

// cohortSiteNames reads the names of the sites whose people are counted
// apart, among the sites in or under the round's area.
func cohortSiteNames(ctx context.Context, tx *sqlx.Tx, area areaNode, cohorts map[cohortKey]*cohortCount) (map[string]string, error) {
	var codes []string
	for k := range cohorts {
		if k.site != "" && !slices.Contains(codes, k.site) {
			codes = append(codes, k.site)
		}
	}
	names := map[string]string{}
	if len(codes) == 0 {
		return names, nil
	}
	var rows []struct {
		Code string `db:"code"`
		Name string `db:"name"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT s.code, s.name FROM sites s JOIN areas a ON a.id = s.area_id
		WHERE s.code = ANY($1) AND (a.path = $2 OR a.path LIKE $3)`, pq.Array(codes), area.Path, under(area.Path)); err != nil {
		return nil, fmt.Errorf("sites with cohorts: %w", err)
	}
	for _, r := range rows {
		names[r.Code] = r.Name
	}
	return names, nil
}

// writeCohorts writes the residents a new round expects, by cohort, a
// site's apart with its order.
func writeCohorts(ctx context.Context, tx *sqlx.Tx, roundID int64, cohorts map[cohortKey]*cohortCount, siteNames map[string]string) error {
	keys := slices.SortedFunc(maps.Keys(cohorts), func(a, b cohortKey) int { return cmp.Or(cmp.Compare(a.site, b.site), cmp.Compare(a.cohort, b.cohort)) })
	n := len(keys)
	sites, names, cohortNames := make([]string, n), make([]string, n), make([]string, n)
	res, home, rank := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, k := range keys {
		c := cohorts[k]
		sites[i], names[i], cohortNames[i] = k.site, siteNames[k.site], k.cohort
		res[i], home[i], rank[i] = int64(c.residents), int64(c.home), int64(c.rank)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO round_cohorts (round_id, site, site_name, cohort, rank, residents, home_visits)
		SELECT $1, u.site, u.name, u.cohort, nullif(u.rank, 0), u.residents, u.home
		FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[]) AS u(site, name, cohort, rank, residents, home)`,
		roundID, pq.Array(sites), pq.Array(names), pq.Array(cohortNames), pq.Array(rank), pq.Array(res), pq.Array(home)); err != nil {
		return fmt.Errorf("round cohorts: %w", err)
	}
	return nil
}

// planUnits assigns the units to the points with the planner (see package
// plan): the largest first to the point where it finishes earliest, among
// the points of its community when it has any, and a compound split by
// building when that finishes sooner. It returns the assignments to
// write: whole units, and a compound's buildings where it was split.
func planUnits(points []*point, units []*unit) []*unit {
	ps, us, names := planInputs(points, units)
	var out []*unit
	for _, a := range plan.Assign(ps, us).Assignments {
		u, p := units[a.Unit], points[a.Point]
		if a.Part < 0 {
			u.SiteID, u.Expected = p.SiteID, u.Residents
			out = append(out, u)
			continue
		}
		out = append(out, &unit{AreaID: u.AreaID, Building: names[a.Unit][a.Part], Residents: a.Size, Expected: a.Size,
			SiteID: p.SiteID, community: u.community})
	}
	return out
}

// planInputs gives the points and units to package plan; names are the
// buildings of each unit, in the order of its parts.
func planInputs(points []*point, units []*unit) ([]plan.Point, []plan.Unit, [][]string) {
	ps := make([]plan.Point, len(points))
	for i, p := range points {
		ps[i] = plan.Point{Capacity: p.Capacity, Group: p.community, Name: p.Code}
	}
	us := make([]plan.Unit, len(units))
	names := make([][]string, len(units))
	for i, u := range units {
		us[i] = plan.Unit{Size: u.Residents, Group: u.community}
		names[i] = slices.Sorted(maps.Keys(u.parts))
		for _, b := range names[i] {
			us[i].Parts = append(us[i].Parts, u.parts[b])
		}
	}
	return ps, us, names
}

// writeAssignments writes which point serves each unit, or moves a unit
// to another point.
func writeAssignments(ctx context.Context, tx *sqlx.Tx, roundID int64, units []*unit) error {
	n := len(units)
	areas, sites, residents, expected := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	buildings := make([]string, n)
	for i, u := range units {
		areas[i], buildings[i], sites[i], residents[i], expected[i] = u.AreaID, u.Building, u.SiteID, int64(u.Residents), int64(u.Expected)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO round_assignments (round_id, area_id, building, site_id, residents, expected)
		SELECT $1, u.area, u.building, u.site, u.residents, u.expected
		FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::int[], $6::int[]) AS u(area, building, site, residents, expected)
		ON CONFLICT (round_id, area_id, building) DO UPDATE SET site_id = excluded.site_id, expected = excluded.expected`,
		roundID, pq.Array(areas), pq.Array(buildings), pq.Array(sites), pq.Array(residents), pq.Array(expected))
	if err != nil {
		return fmt.Errorf("round assignments: %w", err)
	}
	return nil
}

// readPlan reads a round's plan as recorded.
func readPlan(ctx context.Context, q sqlx.QueryerContext, roundID int64) (domain.RoundPlan, error) {
	rp := domain.RoundPlan{RoundID: roundID, Points: []domain.RoundPoint{}, Cohorts: []domain.CohortCount{}}
	var points []struct {
		SiteID   int64  `db:"site_id"`
		Code     string `db:"code"`
		Name     string `db:"name"`
		Capacity int    `db:"capacity_per_hour"`
		Expected int    `db:"expected"`
	}
	if err := sqlx.SelectContext(ctx, q, &points, `
		SELECT rp.site_id, s.code, s.name, rp.capacity_per_hour, rp.carried + coalesce(a.expected, 0) AS expected
		FROM round_points rp JOIN sites s ON s.id = rp.site_id
		LEFT JOIN (SELECT site_id, sum(expected) AS expected FROM round_assignments WHERE round_id = $1 GROUP BY site_id) a ON a.site_id = rp.site_id
		WHERE rp.round_id = $1 ORDER BY s.code`, roundID); err != nil {
		return domain.RoundPlan{}, fmt.Errorf("points of round %d: %w", roundID, err)
	}
	for _, p := range points {
		rp.Points = append(rp.Points, domain.RoundPoint{SiteID: p.SiteID, Code: p.Code, Name: p.Name, CapacityPerHour: p.Capacity, Expected: p.Expected})
	}
	var cohorts []struct {
		Cohort     string `db:"cohort"`
		Residents  int    `db:"residents"`
		HomeVisits int    `db:"home_visits"`
	}
	if err := sqlx.SelectContext(ctx, q, &cohorts, `SELECT cohort, sum(residents)::int AS residents, sum(home_visits)::int AS home_visits
		FROM round_cohorts WHERE round_id = $1 GROUP BY cohort ORDER BY 2 DESC, cohort`, roundID); err != nil {
		return domain.RoundPlan{}, fmt.Errorf("cohorts of round %d: %w", roundID, err)
	}
	for _, c := range cohorts {
		if c.Residents > 0 {
			rp.Cohorts = append(rp.Cohorts, domain.CohortCount{Cohort: c.Cohort, Count: c.Residents})
		}
		rp.HomeVisits += c.HomeVisits
		rp.Expected += c.Residents + c.HomeVisits
	}
	if err := sqlx.SelectContext(ctx, q, &rp.SiteCohorts, `SELECT site, site_name AS name, cohort, coalesce(rank, 0) AS rank, residents AS count
		FROM round_cohorts WHERE round_id = $1 AND site <> '' AND residents > 0 ORDER BY site, rank NULLS LAST, cohort`, roundID); err != nil {
		return domain.RoundPlan{}, fmt.Errorf("site cohorts of round %d: %w", roundID, err)
	}
	return rp, nil
}

// RoundPlan returns the plan of a round as it stands (after any points
// added).
func (s *Store) RoundPlan(ctx context.Context, roundID int64) (domain.RoundPlan, error) {
	var rp domain.RoundPlan
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getRound(ctx, tx, roundID, false); err != nil {
			return err
		}
		var err error
		rp, err = readPlan(ctx, tx, roundID)
		return err
	})
	return rp, err
}
