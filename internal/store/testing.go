// Mass testing: the resident registry, testing rounds over an area, their
// sampling points and the compounds each serves, home visits, progress
// counted in SQL, and the list of residents still missing when a round
// closes. Workflows see counts, IDs and pseudonymous codes only; personal
// details stay in resident_contacts and reach nobody but the authorised
// call-back list (MissingContacts).

package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/plan"
	"github.com/musterhq/muster/internal/scenario"
)

// Errors of mass testing.
var (
	// ErrRoundClosed is returned when a round that has closed is asked to
	// change.
	ErrRoundClosed = errors.New("round closed")
	// ErrConflict is returned when a write contradicts what is recorded,
	// such as a second tube for a resident already sampled.
	ErrConflict = errors.New("conflict")
	// ErrInvalid is returned for arguments no retry can fix.
	ErrInvalid = errors.New("invalid")
)

// ResidentRow is one resident to load: a pseudonymous code, where they live
// and their personal details (kept apart in resident_contacts).
type ResidentRow = scenario.ResidentRow

// Staff roles that make home visits, in order of preference.
const (
	RoleGridWorker      = "grid-worker"
	RoleCommunityWorker = "community-worker"
)

// SamplingPointKind is the site kind a round's points have.
const SamplingPointKind = "sampling-point"

// LoadResidents writes residents in one transaction: new codes are added,
// known ones updated in place when they changed, and personal details go to
// resident_contacts. Rows travel by COPY into a temporary table and are
// merged by set-based UPDATE and INSERT statements, so a million rows take
// seconds. Loading the same rows again changes nothing; residents the rows
// no longer list are kept (rounds may refer to them). Every area must be
// loaded already: an unknown one fails the load (ErrNotFound) and nothing
// is written.
func (s *Store) LoadResidents(ctx context.Context, scenarioName string, rows []ResidentRow) (LoadResult, error) {
	res := LoadResult{Inserted: map[string]int{}, Updated: map[string]int{}}
	err := s.withConnTx(ctx, func(conn *sqlx.Conn, tx *sqlx.Tx) error {
		return loadResidents(ctx, conn, tx, scenarioName, rows, &res)
	})
	if err != nil {
		return LoadResult{}, fmt.Errorf("load residents of %s: %w", scenarioName, err)
	}
	return res, nil
}

func loadResidents(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, scenarioName string, rows []ResidentRow, res *LoadResult) error {
	if len(rows) == 0 {
		return nil
	}
	seen := make(map[string]struct{}, len(rows))
	for i, r := range rows {
		switch {
		case r.Code == "":
			return fmt.Errorf("resident row %d: code is required: %w", i+1, ErrInvalid)
		case r.AreaCode == "":
			return fmt.Errorf("resident %s: area is required: %w", r.Code, ErrInvalid)
		}
		if _, dup := seen[r.Code]; dup {
			return fmt.Errorf("resident %s is listed twice: %w", r.Code, ErrInvalid)
		}
		seen[r.Code] = struct{}{}
	}
	// Loads take turns, so the split INSERT and UPDATE below never race for
	// a new code.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, residentsLock); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '256MB'; SET LOCAL jit = off`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE resident_stage (
		code text COLLATE "C", area text, building text, cohort text, home_visit boolean, name text, id_number text, phone text) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("stage residents: %w", err)
	}
	err := copyText(ctx, conn, "resident_stage", []string{"code", "area", "building", "cohort", "home_visit", "name", "id_number", "phone"}, len(rows),
		func(b []byte, i int) []byte {
			r := &rows[i]
			cohort := r.Cohort
			if cohort == "" {
				cohort = scenario.DefaultCohort
			}
			b = appendCopyText(b, r.Code)
			b = appendCopyText(append(b, '\t'), r.AreaCode)
			b = appendCopyText(append(b, '\t'), r.Building)
			b = appendCopyText(append(b, '\t'), cohort)
			b = strconv.AppendBool(append(b, '\t'), r.HomeVisit)
			b = appendCopyText(append(b, '\t'), r.Name)
			b = appendCopyText(append(b, '\t'), r.IDNumber)
			return appendCopyText(append(b, '\t'), r.Phone)
		})
	if err != nil {
		return fmt.Errorf("copy residents: %w", err)
	}
	var unknown []struct {
		Code string `db:"code"`
		Area string `db:"area"`
	}
	if err := tx.SelectContext(ctx, &unknown, `SELECT s.code, s.area FROM resident_stage s
		WHERE NOT EXISTS (SELECT 1 FROM areas a WHERE a.code = s.area) ORDER BY s.code LIMIT 5`); err != nil {
		return fmt.Errorf("check residents' areas: %w", err)
	}
	if len(unknown) > 0 {
		var b strings.Builder
		for i, u := range unknown {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "resident %s: unknown area %q", u.Code, u.Area)
		}
		return fmt.Errorf("%s (load the scenario's areas first): %w", b.String(), ErrNotFound)
	}
	// Changed residents are updated, new ones inserted: two plain
	// statements cost half what one INSERT … ON CONFLICT does at a million.
	steps := []struct {
		table, kind, query string
	}{
		{"residents", "updated", `UPDATE residents r SET area_id = a.id, building = s.building, cohort = s.cohort,
			home_visit = s.home_visit, scenario = $1, updated_at = now()
			FROM resident_stage s JOIN areas a ON a.code = s.area
			WHERE r.code = s.code AND (r.area_id, r.building, r.cohort, r.home_visit, r.scenario)
			      IS DISTINCT FROM (a.id, s.building, s.cohort, s.home_visit, $1)`},
		{"residents", "inserted", `INSERT INTO residents (code, area_id, building, cohort, home_visit, scenario)
			SELECT s.code, a.id, s.building, s.cohort, s.home_visit, $1
			FROM resident_stage s JOIN areas a ON a.code = s.area
			WHERE NOT EXISTS (SELECT 1 FROM residents r WHERE r.code = s.code)`},
		// Contacts are sealed by the database (see 0017_database_roles.sql):
		// a keyed digest says which changed, and the application never reads
		// them back.
		{"resident_contacts", "updated", `UPDATE resident_contacts c SET sealed = muster_seal_contact(d.name, d.id_number, d.phone), digest = d.digest
			FROM (SELECT r.id, s.name, s.id_number, s.phone, muster_contact_digest(s.name, s.id_number, s.phone) AS digest
			      FROM resident_stage s JOIN residents r ON r.code = s.code) d
			WHERE c.resident_id = d.id AND c.digest IS DISTINCT FROM d.digest`},
		{"resident_contacts", "inserted", `INSERT INTO resident_contacts (resident_id, sealed, digest)
			SELECT r.id, muster_seal_contact(s.name, s.id_number, s.phone), muster_contact_digest(s.name, s.id_number, s.phone)
			FROM resident_stage s JOIN residents r ON r.code = s.code
			WHERE (s.name <> '' OR s.id_number <> '' OR s.phone <> '')
			  AND NOT EXISTS (SELECT 1 FROM resident_contacts c WHERE c.resident_id = r.id)`},
	}
	changed := 0
	for _, st := range steps {
		var args []any
		if st.table == "residents" {
			args = []any{scenarioName}
		}
		r, err := tx.ExecContext(ctx, st.query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", st.table, err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return err
		}
		if st.kind == "inserted" {
			res.Inserted[st.table] += int(n)
		} else {
			res.Updated[st.table] += int(n)
		}
		changed += int(n)
	}
	// Fresh statistics keep the plans of rounds and ingestion sound after
	// a large load.
	if changed >= 10_000 {
		if _, err := tx.ExecContext(ctx, `SELECT muster_analyze_residents()`); err != nil {
			return err
		}
	}
	return nil
}

// residentsLock is the advisory lock key held while loading residents.
const residentsLock = migrationLock + 1

// RoundPlan is what a testing round expects: its points and how many
// residents each serves, the residents coming to points by cohort, and the
// residents sampled at home.
type RoundPlan struct {
	RoundID int64
	Points  []RoundPoint
	// Cohorts counts the residents who come to a point, by cohort, largest
	// first.
	Cohorts []CohortCount
	// HomeVisits counts the residents sampled at home.
	HomeVisits int
	// Expected is everyone: residents coming to points and home visits.
	Expected int
}

// RoundPoint is a sampling point open in a round.
type RoundPoint struct {
	SiteID          int64
	Code            string
	Name            string
	CapacityPerHour int
	// Expected counts the residents of the compounds the point serves, plus
	// those it sampled from compounds since moved to another point.
	Expected int
}

// CohortCount is the number of residents of a cohort.
type CohortCount struct {
	Cohort string
	Count  int
}

// RoundInfo identifies a testing round.
type RoundInfo struct {
	ID       int64
	Incident string
	AreaID   int64
	AreaCode string
	Round    int
	OpensAt  time.Time
	Deadline time.Time
	// ClosedAt is zero while the round is open.
	ClosedAt time.Time
}

// Open reports whether the round is still open.
func (r RoundInfo) Open() bool { return r.ClosedAt.IsZero() }

// round is a round as read from the database, with its area's path.
type round struct {
	ID       int64        `db:"id"`
	Incident string       `db:"incident"`
	AreaID   int64        `db:"area_id"`
	AreaCode string       `db:"area_code"`
	AreaPath string       `db:"area_path"`
	Round    int          `db:"round"`
	OpensAt  time.Time    `db:"opens_at"`
	Deadline time.Time    `db:"deadline"`
	ClosedAt sql.NullTime `db:"closed_at"`
}

func (r round) info() RoundInfo {
	return RoundInfo{ID: r.ID, Incident: r.Incident, AreaID: r.AreaID, AreaCode: r.AreaCode, Round: r.Round,
		OpensAt: r.OpensAt, Deadline: r.Deadline, ClosedAt: r.ClosedAt.Time}
}

// Open reports whether the round is still open.
func (r round) Open() bool { return !r.ClosedAt.Valid }

const roundColumns = `r.id, r.incident, r.area_id, a.code AS area_code, a.path AS area_path, r.round, r.opens_at, r.deadline, r.closed_at`

// getRound reads a round; lock takes its row lock, so changes to one round
// (points, visits, closing) happen one at a time.
func getRound(ctx context.Context, q sqlx.QueryerContext, id int64, lock bool) (round, error) {
	mode := ""
	if lock {
		mode = ` FOR UPDATE OF r`
	}
	return readRound(ctx, q, id, mode)
}

// shareRound reads a round holding its row FOR SHARE: an intake (a home
// visit's sample) runs beside other intakes, but a close, which takes the
// row FOR UPDATE, waits for it, and an intake that waited for a close
// reads the round closed.
func shareRound(ctx context.Context, q sqlx.QueryerContext, id int64) (round, error) {
	return readRound(ctx, q, id, ` FOR SHARE OF r`)
}

func readRound(ctx context.Context, q sqlx.QueryerContext, id int64, mode string) (round, error) {
	query := `SELECT ` + roundColumns + ` FROM testing_rounds r JOIN areas a ON a.id = r.area_id WHERE r.id = $1` + mode
	var r round
	err := sqlx.GetContext(ctx, q, &r, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		return round{}, fmt.Errorf("testing round %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return round{}, fmt.Errorf("testing round %d: %w", id, err)
	}
	return r, nil
}

// under returns the LIKE pattern of the areas below a path.
func under(path string) string { return path + "/%" }

// areaIDsUnder returns the IDs of an area and the areas under it, so that
// queries over residents can use their area index.
func areaIDsUnder(ctx context.Context, q sqlx.QueryerContext, path string) ([]int64, error) {
	var ids []int64
	if err := sqlx.SelectContext(ctx, q, &ids, `SELECT id FROM areas WHERE path = $1 OR path LIKE $2`, path, under(path)); err != nil {
		return nil, fmt.Errorf("areas under %s: %w", path, err)
	}
	return ids, nil
}

// RoundByKey returns the round of an incident over an area (code or path)
// with the given number.
func (s *Store) RoundByKey(ctx context.Context, incident, areaCode string, n int) (RoundInfo, error) {
	var r round
	err := s.db.GetContext(ctx, &r, `SELECT `+roundColumns+` FROM testing_rounds r JOIN areas a ON a.id = r.area_id
		WHERE r.incident = $1 AND (a.code = $2 OR a.path = $2) AND r.round = $3`, incident, areaCode, n)
	if errors.Is(err, sql.ErrNoRows) {
		return RoundInfo{}, fmt.Errorf("round %d of %s over %s: %w", n, incident, areaCode, ErrNotFound)
	}
	if err != nil {
		return RoundInfo{}, fmt.Errorf("round %d of %s over %s: %w", n, incident, areaCode, err)
	}
	return r.info(), nil
}

// RoundByID returns a round.
func (s *Store) RoundByID(ctx context.Context, id int64) (RoundInfo, error) {
	r, err := getRound(ctx, s.db, id, false)
	return r.info(), err
}

// OpenRoundsFor returns the incident's rounds that are still open, oldest
// first.
func (s *Store) OpenRoundsFor(ctx context.Context, incident string) ([]RoundInfo, error) {
	var rs []round
	err := s.db.SelectContext(ctx, &rs, `SELECT `+roundColumns+` FROM testing_rounds r JOIN areas a ON a.id = r.area_id
		WHERE r.incident = $1 AND r.closed_at IS NULL ORDER BY r.opens_at, r.id`, incident)
	if err != nil {
		return nil, fmt.Errorf("open rounds of %s: %w", incident, err)
	}
	out := make([]RoundInfo, len(rs))
	for i, r := range rs {
		out[i] = r.info()
	}
	return out, nil
}

// areaNode is an area as the planning code walks the tree.
type areaNode struct {
	ID       int64         `db:"id"`
	Code     string        `db:"code"`
	Path     string        `db:"path"`
	Level    string        `db:"level"`
	ParentID sql.NullInt64 `db:"parent_id"`
}

// areaTree holds an area's subtree and its ancestors.
type areaTree map[int64]areaNode

func loadAreaTree(ctx context.Context, q sqlx.QueryerContext, path string) (areaTree, error) {
	var nodes []areaNode
	if err := sqlx.SelectContext(ctx, q, &nodes, `SELECT id, code, path, level, parent_id FROM areas
		WHERE path = ANY($1) OR path LIKE $2`, pq.Array(PathPrefixes(path)), under(path)); err != nil {
		return nil, fmt.Errorf("areas of %s: %w", path, err)
	}
	t := areaTree{}
	for _, n := range nodes {
		t[n.ID] = n
	}
	return t, nil
}

// community returns the community an area belongs to: the nearest
// community at or above it, or its parent (itself at the top) when there is
// none, so compounds that sit straight in a sub-district share one.
func (t areaTree) community(id int64) int64 {
	for cur, ok := t[id]; ok; cur, ok = t[cur.ParentID.Int64] {
		if cur.Level == string(scenario.LevelCommunity) {
			return cur.ID
		}
		if !cur.ParentID.Valid {
			break
		}
	}
	if n, ok := t[id]; ok && n.ParentID.Valid {
		return n.ParentID.Int64
	}
	return id
}

// ancestors returns the area and the areas above it, nearest first.
func (t areaTree) ancestors(id int64) []int64 {
	var out []int64
	for cur, ok := t[id]; ok; cur, ok = t[cur.ParentID.Int64] {
		out = append(out, cur.ID)
		if !cur.ParentID.Valid {
			break
		}
	}
	return out
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
	load      int
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

// lessLoaded reports whether point a has fewer residents per hour of
// capacity than b; ties go to the lower code, so plans are deterministic.
func lessLoaded(a, b *point) bool {
	l, r := int64(a.load)*int64(b.Capacity), int64(b.load)*int64(a.Capacity)
	if l != r {
		return l < r
	}
	return a.Code < b.Code
}

// OpenRound opens a testing round of an incident over an area, or returns
// the plan of the round with that key (incident, area, round) when it was
// opened before, with the times it was first given.
//
// The round's sampling points are the sites of kind sampling-point in the
// area or under it; when there are none, those of the nearest area above it
// that has some (a round over one compound uses its community's points).
// Each compound under the area is assigned one point, largest compound
// first to the least-loaded point (residents coming to points per hour of
// capacity), choosing among the points of the compound's own community
// when it has any. People who live in a community rather than a compound
// (campus people) are assigned by building. The residents expected, by
// cohort and home visit, are counted as the round opens. The event is
// appended in the same transaction.
func (s *Store) OpenRound(ctx context.Context, incident string, areaID int64, n int, opensAt, deadline time.Time, e Event) (RoundPlan, error) {
	switch {
	case strings.TrimSpace(incident) == "":
		return RoundPlan{}, fmt.Errorf("open round: incident is required: %w", ErrInvalid)
	case n < 1:
		return RoundPlan{}, fmt.Errorf("open round: round %d: rounds count from 1: %w", n, ErrInvalid)
	case !deadline.After(opensAt):
		return RoundPlan{}, fmt.Errorf("open round %d: deadline %s is not after it opens (%s): %w", n, deadline.Format(time.RFC3339), opensAt.Format(time.RFC3339), ErrInvalid)
	}
	var plan RoundPlan
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var area areaNode
		err := tx.GetContext(ctx, &area, `SELECT id, code, path, level, parent_id FROM areas WHERE id = $1`, areaID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("area %d: %w", areaID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var id int64
		err = tx.GetContext(ctx, &id, `INSERT INTO testing_rounds (incident, area_id, round, opens_at, deadline)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident, area_id, round) DO NOTHING RETURNING id`,
			incident, areaID, n, opensAt, deadline)
		if errors.Is(err, sql.ErrNoRows) {
			// Opened before: the plan it has is the answer.
			if err := tx.GetContext(ctx, &id, `SELECT id FROM testing_rounds WHERE incident = $1 AND area_id = $2 AND round = $3`, incident, areaID, n); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else if err := planRound(ctx, tx, id, area); err != nil {
			return err
		}
		if plan, err = readPlan(ctx, tx, id); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return RoundPlan{}, fmt.Errorf("open round %d of %s over area %d: %w", n, incident, areaID, err)
	}
	return plan, nil
}

// planRound writes a new round's points, assignments and cohort counts.
func planRound(ctx context.Context, tx *sqlx.Tx, roundID int64, area areaNode) error {
	tree, err := loadAreaTree(ctx, tx, area.Path)
	if err != nil {
		return err
	}
	var candidates []*point
	if err := tx.SelectContext(ctx, &candidates, `SELECT s.id, s.code, s.name, s.capacity_per_hour, s.area_id, sa.path AS area_path
		FROM sites s JOIN areas sa ON sa.id = s.area_id
		WHERE s.kind = $1 AND s.capacity_per_hour > 0 AND (sa.path = ANY($2) OR sa.path LIKE $3)
		ORDER BY s.code`, SamplingPointKind, pq.Array(PathPrefixes(area.Path)), under(area.Path)); err != nil {
		return fmt.Errorf("sampling points: %w", err)
	}
	points := pickPoints(candidates, area.Path)
	for _, p := range points {
		p.community = tree.community(p.AreaID)
	}

	var groups []struct {
		AreaID    int64  `db:"area_id"`
		Compound  bool   `db:"compound"`
		Building  string `db:"building"`
		Cohort    string `db:"cohort"`
		HomeVisit bool   `db:"home_visit"`
		N         int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &groups, `
		SELECT r.area_id, a.level = 'compound' AS compound, r.building, r.cohort, r.home_visit, count(*) AS n
		FROM residents r JOIN areas a ON a.id = r.area_id
		WHERE a.path = $1 OR a.path LIKE $2
		GROUP BY 1, 2, 3, 4, 5`, area.Path, under(area.Path)); err != nil {
		return fmt.Errorf("residents of %s: %w", area.Code, err)
	}
	type unitKey struct {
		area     int64
		building string
	}
	type cohortCount struct{ residents, home int }
	units := map[unitKey]*unit{}
	cohorts := map[string]*cohortCount{}
	comers := 0
	for _, g := range groups {
		// A compound is one unit, which the plan may split by building;
		// campus people are planned by building from the start.
		k := unitKey{g.AreaID, g.Building}
		if g.Compound {
			k.building = ""
		}
		u := units[k]
		if u == nil {
			u = &unit{AreaID: g.AreaID, Building: k.building, community: tree.community(g.AreaID)}
			units[k] = u
		}
		c := cohorts[g.Cohort]
		if c == nil {
			c = &cohortCount{}
			cohorts[g.Cohort] = c
		}
		if g.HomeVisit {
			c.home += g.N
			continue
		}
		c.residents += g.N
		u.Residents += g.N
		comers += g.N
		if g.Compound {
			if u.parts == nil {
				u.parts = map[string]int{}
			}
			u.parts[g.Building] += g.N
		}
	}
	if len(points) == 0 && comers > 0 {
		return fmt.Errorf("no sampling point in, under or above area %s for its %d residents (add sites of kind sampling-point): %w", area.Code, comers, ErrNotFound)
	}
	ordered := make([]*unit, 0, len(units))
	for _, u := range units {
		ordered = append(ordered, u)
	}
	slices.SortFunc(ordered, func(a, b *unit) int {
		return cmp.Or(cmp.Compare(b.Residents, a.Residents), cmp.Compare(a.AreaID, b.AreaID), cmp.Compare(a.Building, b.Building))
	})
	if len(points) > 0 {
		ordered = planUnits(points, ordered)
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
		if err := writeAssignments(ctx, tx, roundID, ordered); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(cohorts))
	for c := range cohorts {
		names = append(names, c)
	}
	slices.Sort(names)
	res, home := make([]int64, len(names)), make([]int64, len(names))
	for i, c := range names {
		res[i], home[i] = int64(cohorts[c].residents), int64(cohorts[c].home)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO round_cohorts (round_id, cohort, residents, home_visits)
		SELECT $1, u.cohort, u.residents, u.home FROM unnest($2::text[], $3::int[], $4::int[]) AS u(cohort, residents, home)`,
		roundID, pq.Array(names), pq.Array(res), pq.Array(home)); err != nil {
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
	ps := make([]plan.Point, len(points))
	for i, p := range points {
		ps[i] = plan.Point{Capacity: p.Capacity, Load: p.load, Group: p.community}
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
	var out []*unit
	for _, a := range plan.Assign(ps, us).Assignments {
		u, p := units[a.Unit], points[a.Point]
		p.load += a.Size
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

// pickPoints keeps the points in or under the round's area, or else those
// of the nearest area above it that has any.
func pickPoints(candidates []*point, path string) []*point {
	var in []*point
	deepest := ""
	for _, p := range candidates {
		switch {
		case p.AreaPath == path || strings.HasPrefix(p.AreaPath, path+"/"):
			in = append(in, p)
		case len(p.AreaPath) > len(deepest):
			deepest = p.AreaPath
		}
	}
	if len(in) > 0 {
		return in
	}
	for _, p := range candidates {
		if p.AreaPath == deepest {
			in = append(in, p)
		}
	}
	return in
}

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
func readPlan(ctx context.Context, q sqlx.QueryerContext, roundID int64) (RoundPlan, error) {
	plan := RoundPlan{RoundID: roundID, Points: []RoundPoint{}, Cohorts: []CohortCount{}}
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
		return RoundPlan{}, fmt.Errorf("points of round %d: %w", roundID, err)
	}
	for _, p := range points {
		plan.Points = append(plan.Points, RoundPoint{SiteID: p.SiteID, Code: p.Code, Name: p.Name, CapacityPerHour: p.Capacity, Expected: p.Expected})
	}
	var cohorts []struct {
		Cohort     string `db:"cohort"`
		Residents  int    `db:"residents"`
		HomeVisits int    `db:"home_visits"`
	}
	if err := sqlx.SelectContext(ctx, q, &cohorts, `SELECT cohort, residents, home_visits FROM round_cohorts
		WHERE round_id = $1 ORDER BY residents DESC, cohort`, roundID); err != nil {
		return RoundPlan{}, fmt.Errorf("cohorts of round %d: %w", roundID, err)
	}
	for _, c := range cohorts {
		if c.Residents > 0 {
			plan.Cohorts = append(plan.Cohorts, CohortCount{Cohort: c.Cohort, Count: c.Residents})
		}
		plan.HomeVisits += c.HomeVisits
		plan.Expected += c.Residents + c.HomeVisits
	}
	return plan, nil
}

// RoundPlan returns the plan of a round as it stands (after any points
// added).
func (s *Store) RoundPlan(ctx context.Context, roundID int64) (RoundPlan, error) {
	var plan RoundPlan
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getRound(ctx, tx, roundID, false); err != nil {
			return err
		}
		var err error
		plan, err = readPlan(ctx, tx, roundID)
		return err
	})
	return plan, err
}

// withReadTx runs fn in a read-only transaction that sees one snapshot.
func (s *Store) withReadTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// AddRoundPoint opens another sampling point in a running round (an
// escalation's recommendation, once a person accepts it) and moves work to
// it. Compounds that are finished stay where they are. Of the unfinished
// ones (those in the new point's community, or all of them when it has
// none), the busiest point — the most residents still to sample per hour of
// capacity — gives its largest compound to the new point as long as that
// leaves the new point less busy than the giver was; the samples a point
// already took from a compound it gives away stay in its expected figure.
// Opening a point that is open already changes nothing and returns the
// plan.
func (s *Store) AddRoundPoint(ctx context.Context, roundID int64, siteCode string, e Event) (RoundPlan, error) {
	var plan RoundPlan
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		var site point
		err = tx.GetContext(ctx, &site, `SELECT s.id, s.code, s.name, s.capacity_per_hour, s.area_id, a.path AS area_path
			FROM sites s JOIN areas a ON a.id = s.area_id WHERE s.code = $1 AND s.kind = $2`, siteCode, SamplingPointKind)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sampling point %q: %w", siteCode, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var added bool
		if err := tx.GetContext(ctx, &added, `SELECT NOT EXISTS (SELECT 1 FROM round_points WHERE round_id = $1 AND site_id = $2)`, roundID, site.SiteID); err != nil {
			return err
		}
		if added {
			if !r.Open() {
				return fmt.Errorf("round %d closed at %s: %w", roundID, r.ClosedAt.Time.Format(time.RFC3339), ErrRoundClosed)
			}
			if site.Capacity <= 0 {
				return fmt.Errorf("sampling point %s has no capacity: %w", siteCode, ErrInvalid)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO round_points (round_id, site_id, capacity_per_hour) VALUES ($1, $2, $3)`,
				roundID, site.SiteID, site.Capacity); err != nil {
				return fmt.Errorf("open point %s: %w", siteCode, err)
			}
			if err := rebalance(ctx, tx, r, &site); err != nil {
				return err
			}
		}
		if plan, err = readPlan(ctx, tx, roundID); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return RoundPlan{}, fmt.Errorf("add point %s to round %d: %w", siteCode, roundID, err)
	}
	return plan, nil
}

// rebalance moves unfinished compounds to a newly opened point (see
// AddRoundPoint).
func rebalance(ctx context.Context, tx *sqlx.Tx, r round, added *point) error {
	tree, err := loadAreaTree(ctx, tx, r.AreaPath)
	if err != nil {
		return err
	}
	if _, ok := tree[added.AreaID]; !ok {
		// A point borrowed from outside the round's area.
		var n areaNode
		if err := tx.GetContext(ctx, &n, `SELECT id, code, path, level, parent_id FROM areas WHERE id = $1`, added.AreaID); err != nil {
			return err
		}
		tree[n.ID] = n
	}
	added.community = tree.community(added.AreaID)
	var units []*unit
	if err := tx.SelectContext(ctx, &units, `SELECT area_id, building, residents, expected, site_id FROM round_assignments WHERE round_id = $1`, r.ID); err != nil {
		return fmt.Errorf("assignments of round %d: %w", r.ID, err)
	}
	var sampled []struct {
		AreaID   int64  `db:"area_id"`
		Building string `db:"building"`
		N        int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &sampled, `
		SELECT r.area_id, r.building, count(*) AS n
		FROM samples s JOIN residents r ON r.id = s.resident_id
		WHERE s.round_id = $1 AND NOT s.home_visit GROUP BY 1, 2`, r.ID); err != nil {
		return fmt.Errorf("samples of round %d: %w", r.ID, err)
	}
	type unitKey struct {
		area     int64
		building string
	}
	byKey := map[unitKey]*unit{}
	for _, u := range units {
		u.community = tree.community(u.AreaID)
		byKey[unitKey{u.AreaID, u.Building}] = u
	}
	// A compound planned whole is assigned under building ''; one the
	// plan split, by building.
	for _, s := range sampled {
		if u := byKey[unitKey{s.AreaID, s.Building}]; u != nil {
			u.sampled += s.N
		} else if u := byKey[unitKey{s.AreaID, ""}]; u != nil {
			u.sampled += s.N
		}
	}
	var points []*point
	if err := tx.SelectContext(ctx, &points, `SELECT s.id, s.code, s.name, rp.capacity_per_hour, s.area_id, a.path AS area_path
		FROM round_points rp JOIN sites s ON s.id = rp.site_id JOIN areas a ON a.id = s.area_id
		WHERE rp.round_id = $1 AND rp.site_id <> $2`, r.ID, added.SiteID); err != nil {
		return err
	}
	bySite := map[int64]*point{}
	for _, p := range points {
		bySite[p.SiteID] = p
	}
	remaining := func(u *unit) int { return max(u.Residents-u.sampled, 0) }
	local := false
	for _, u := range units {
		if remaining(u) > 0 && u.community == added.community {
			local = true
		}
		if p := bySite[u.SiteID]; p != nil {
			p.load += remaining(u)
		}
	}
	movable := func(u *unit) bool {
		return u.SiteID != added.SiteID && remaining(u) > 0 && (!local || u.community == added.community)
	}
	busiestFirst := func(a, b *point) int {
		switch {
		case lessLoaded(b, a):
			return -1
		case lessLoaded(a, b):
			return 1
		}
		return 0
	}
	carried := map[int64]int{}
	var moved []*unit
	for {
		// The busiest point that has a compound worth moving gives it.
		var from *point
		var pick *unit
		slices.SortFunc(points, busiestFirst)
		for _, p := range points {
			for _, u := range units {
				if u.SiteID != p.SiteID || !movable(u) {
					continue
				}
				// Moving must leave the new point less busy than the giver is now.
				after := &point{Code: added.Code, Capacity: added.Capacity, load: added.load + remaining(u)}
				if !lessLoaded(after, p) {
					continue
				}
				if pick == nil || remaining(u) > remaining(pick) || (remaining(u) == remaining(pick) && (u.AreaID < pick.AreaID || (u.AreaID == pick.AreaID && u.Building < pick.Building))) {
					pick = u
				}
			}
			if pick != nil {
				from = p
				break
			}
		}
		if pick == nil {
			break
		}
		// The giver keeps the samples it took from the compound since it was
		// assigned; the new point expects those still to come.
		sinceAssigned := pick.sampled - (pick.Residents - pick.Expected)
		carried[from.SiteID] += max(sinceAssigned, 0)
		from.load -= remaining(pick)
		added.load += remaining(pick)
		pick.SiteID, pick.Expected = added.SiteID, remaining(pick)
		moved = append(moved, pick)
	}
	if len(moved) == 0 {
		return nil
	}
	if err := writeAssignments(ctx, tx, r.ID, moved); err != nil {
		return err
	}
	sites, counts := make([]int64, 0, len(carried)), make([]int64, 0, len(carried))
	for site, n := range carried {
		sites, counts = append(sites, site), append(counts, int64(n))
	}
	_, err = tx.ExecContext(ctx, `UPDATE round_points rp SET carried = rp.carried + u.n
		FROM unnest($2::bigint[], $3::int[]) AS u(site, n) WHERE rp.round_id = $1 AND rp.site_id = u.site`,
		r.ID, pq.Array(sites), pq.Array(counts))
	return err
}

// AssignHomeVisits creates the first visit of every home-visit resident of
// the round's area not yet sampled, each assigned to a worker: the grid
// workers of the nearest area at or above the resident's compound that has
// any, else the nearest community workers, the least-busy of them first
// (round-robin, by staff code on ties). It returns how many residents have
// a first visit in the round, so calling it again changes nothing and
// returns the same figure (residents added to the registry since get
// theirs).
func (s *Store) AssignHomeVisits(ctx context.Context, roundID int64) (int, error) {
	var total int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		if r.Open() {
			var todo []struct {
				ID     int64 `db:"id"`
				AreaID int64 `db:"area_id"`
			}
			if err := tx.SelectContext(ctx, &todo, `SELECT res.id, res.area_id FROM residents res JOIN areas a ON a.id = res.area_id
				WHERE res.home_visit AND (a.path = $1 OR a.path LIKE $2)
				  AND NOT EXISTS (SELECT 1 FROM home_visits h WHERE h.round_id = $3 AND h.resident_id = res.id)
				  AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $3 AND s.resident_id = res.id)
				ORDER BY res.code`, r.AreaPath, under(r.AreaPath), roundID); err != nil {
				return fmt.Errorf("home-visit residents: %w", err)
			}
			if len(todo) > 0 {
				w, err := loadWorkers(ctx, tx, r)
				if err != nil {
					return err
				}
				residents, staff := make([]int64, len(todo)), make([]int64, len(todo))
				for i, t := range todo {
					residents[i] = t.ID
					if p := w.pool(t.AreaID); len(p) > 0 {
						best := p[0]
						for _, st := range p[1:] {
							if w.load[st.ID] < w.load[best.ID] {
								best = st
							}
						}
						w.load[best.ID]++
						staff[i] = best.ID
					}
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO home_visits (round_id, resident_id, attempt, staff_id)
					SELECT $1, u.resident, 1, nullif(u.staff, 0) FROM unnest($2::bigint[], $3::bigint[]) AS u(resident, staff)
					ON CONFLICT DO NOTHING`, roundID, pq.Array(residents), pq.Array(staff)); err != nil {
					return fmt.Errorf("home visits: %w", err)
				}
			}
		}
		return tx.GetContext(ctx, &total, `SELECT count(*) FROM home_visits WHERE round_id = $1 AND attempt = 1`, roundID)
	})
	if err != nil {
		return 0, fmt.Errorf("assign home visits of round %d: %w", roundID, err)
	}
	return total, nil
}

// worker is a member of staff who can make home visits.
type worker struct {
	ID     int64  `db:"id"`
	Code   string `db:"code"`
	Role   string `db:"role"`
	AreaID int64  `db:"area_id"`
}

// workers holds who can visit in a round and how busy each is.
type workers struct {
	tree   areaTree
	byArea map[int64]map[string][]worker // area → role → staff by code
	load   map[int64]int
	pools  map[int64][]worker
}

func loadWorkers(ctx context.Context, tx *sqlx.Tx, r round) (*workers, error) {
	tree, err := loadAreaTree(ctx, tx, r.AreaPath)
	if err != nil {
		return nil, err
	}
	var staff []worker
	// One booking per person: someone on checkpoint duty, or on a supply
	// shift that overlaps the round, is not sent on home visits.
	if err := tx.SelectContext(ctx, &staff, `SELECT st.id, st.code, st.role, st.area_id FROM staff st JOIN areas a ON a.id = st.area_id
		WHERE st.role = ANY($1) AND (a.path = ANY($2) OR a.path LIKE $3)
		  AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id AND cs.released_at IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id AND x.state IN ('notified', 'acknowledged')
		                    AND x.shift && tstzrange($4, $5))
		ORDER BY st.code`,
		pq.Array([]string{RoleGridWorker, RoleCommunityWorker}), pq.Array(PathPrefixes(r.AreaPath)), under(r.AreaPath), r.OpensAt, r.Deadline); err != nil {
		return nil, fmt.Errorf("grid workers: %w", err)
	}
	w := &workers{tree: tree, byArea: map[int64]map[string][]worker{}, load: map[int64]int{}, pools: map[int64][]worker{}}
	for _, st := range staff {
		if w.byArea[st.AreaID] == nil {
			w.byArea[st.AreaID] = map[string][]worker{}
		}
		w.byArea[st.AreaID][st.Role] = append(w.byArea[st.AreaID][st.Role], st)
	}
	var loads []struct {
		Staff int64 `db:"staff_id"`
		N     int   `db:"n"`
	}
	if err := tx.SelectContext(ctx, &loads, `SELECT staff_id, count(*) AS n FROM home_visits WHERE round_id = $1 AND staff_id IS NOT NULL GROUP BY staff_id`, r.ID); err != nil {
		return nil, err
	}
	for _, l := range loads {
		w.load[l.Staff] = l.N
	}
	return w, nil
}

// pool returns who visits the residents of an area: the grid workers of
// the nearest area at or above it that has any, else the nearest community
// workers.
func (w *workers) pool(areaID int64) []worker {
	if p, ok := w.pools[areaID]; ok {
		return p
	}
	var p []worker
	for _, role := range []string{RoleGridWorker, RoleCommunityWorker} {
		for _, a := range w.tree.ancestors(areaID) {
			if p = w.byArea[a][role]; len(p) > 0 {
				break
			}
		}
		if len(p) > 0 {
			break
		}
	}
	w.pools[areaID] = p
	return p
}

// RecordHomeVisit records the outcome of a home visit. A sampled visit also
// records the sample (no point; its result comes later with the lab's
// batch). Recording the same outcome again changes nothing; a different
// outcome for a visit already recorded, a tube used for someone else or a
// second tube for a resident already sampled in the round are ErrConflict.
func (s *Store) RecordHomeVisit(ctx context.Context, roundID int64, residentCode string, attempt int, sampled bool, tube string, at time.Time) error {
	state := "missed"
	if sampled {
		state = "sampled"
		if strings.TrimSpace(tube) == "" {
			return fmt.Errorf("home visit of %s: a sampled visit needs its tube: %w", residentCode, ErrInvalid)
		}
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := shareRound(ctx, tx, roundID)
		if err != nil {
			return err
		}
		var res struct {
			ID     int64  `db:"id"`
			Cohort string `db:"cohort"`
		}
		err = tx.GetContext(ctx, &res, `SELECT id, cohort FROM residents WHERE code = $1`, residentCode)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("resident %s: %w", residentCode, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var current string
		err = tx.GetContext(ctx, &current, `SELECT state FROM home_visits WHERE round_id = $1 AND resident_id = $2 AND attempt = $3 FOR UPDATE`,
			roundID, res.ID, attempt)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("visit %d of resident %s: %w", attempt, residentCode, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if current != "assigned" && current != state {
			return fmt.Errorf("visit %d of resident %s is recorded as %s: %w", attempt, residentCode, current, ErrConflict)
		}
		if current == "assigned" && !r.Open() {
			return fmt.Errorf("round %d: %w", roundID, ErrRoundClosed)
		}
		if sampled {
			if _, err := tx.ExecContext(ctx, `INSERT INTO samples (tube, round_id, resident_id, point_id, taken_at, cohort, home_visit)
				SELECT $1, $2, $3, NULL, $4, $5, true ON CONFLICT DO NOTHING`, tube, roundID, res.ID, at, res.Cohort); err != nil {
				return fmt.Errorf("sample %s: %w", tube, err)
			}
			var got struct {
				Resident int64 `db:"resident_id"`
				Round    int64 `db:"round_id"`
			}
			err := tx.GetContext(ctx, &got, `SELECT resident_id, round_id FROM samples WHERE tube = $1`, tube)
			if errors.Is(err, sql.ErrNoRows) {
				// The resident's unique key refused the row: sampled already.
				var other string
				if err := tx.GetContext(ctx, &other, `SELECT tube FROM samples WHERE round_id = $1 AND resident_id = $2`, roundID, res.ID); err != nil {
					return err
				}
				return fmt.Errorf("resident %s is already sampled in round %d with tube %s: %w", residentCode, roundID, other, ErrConflict)
			}
			if err != nil {
				return err
			}
			if got.Resident != res.ID || got.Round != roundID {
				return fmt.Errorf("tube %s is recorded for another resident or round: %w", tube, ErrConflict)
			}
		}
		if current == state {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE home_visits SET state = $4, updated_at = $5 WHERE round_id = $1 AND resident_id = $2 AND attempt = $3`,
			roundID, res.ID, attempt, state, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("record home visit: %w", err)
	}
	return nil
}

// RevisitMissed sends a worker again to every resident whose latest visit
// missed and who has no sample in the round: a new attempt, assigned to
// the next worker of the resident's pool after the one who missed (the same
// one when the pool has one). It returns how many visits it added; calling
// it again adds none until another visit misses.
func (s *Store) RevisitMissed(ctx context.Context, roundID int64) (int, error) {
	var added int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		if !r.Open() {
			return fmt.Errorf("round %d: %w", roundID, ErrRoundClosed)
		}
		var missed []struct {
			Resident int64 `db:"resident_id"`
			AreaID   int64 `db:"area_id"`
			Attempt  int   `db:"attempt"`
			Staff    int64 `db:"staff_id"`
		}
		if err := tx.SelectContext(ctx, &missed, `
			SELECT l.resident_id, res.area_id, l.attempt, l.staff_id FROM (
			    SELECT DISTINCT ON (resident_id) resident_id, attempt, state, coalesce(staff_id, 0) AS staff_id
			    FROM home_visits WHERE round_id = $1 ORDER BY resident_id, attempt DESC) l
			JOIN residents res ON res.id = l.resident_id
			WHERE l.state = 'missed' AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = l.resident_id)
			ORDER BY res.code`, roundID); err != nil {
			return fmt.Errorf("missed visits: %w", err)
		}
		if len(missed) == 0 {
			return nil
		}
		w, err := loadWorkers(ctx, tx, r)
		if err != nil {
			return err
		}
		residents, attempts, staff := make([]int64, len(missed)), make([]int64, len(missed)), make([]int64, len(missed))
		for i, m := range missed {
			residents[i], attempts[i] = m.Resident, int64(m.Attempt+1)
			p := w.pool(m.AreaID)
			if len(p) == 0 {
				continue
			}
			next := 0
			for j, st := range p {
				if st.ID == m.Staff {
					next = (j + 1) % len(p)
				}
			}
			staff[i] = p[next].ID
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO home_visits (round_id, resident_id, attempt, staff_id)
			SELECT $1, u.resident, u.attempt, nullif(u.staff, 0) FROM unnest($2::bigint[], $3::int[], $4::bigint[]) AS u(resident, attempt, staff)
			ON CONFLICT DO NOTHING`, roundID, pq.Array(residents), pq.Array(attempts), pq.Array(staff))
		if err != nil {
			return fmt.Errorf("revisits: %w", err)
		}
		n, err := res.RowsAffected()
		added = int(n)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revisit missed of round %d: %w", roundID, err)
	}
	return added, nil
}

// HomeVisit is one visit of a round, for the grid workers' lists.
type HomeVisit struct {
	Resident string `db:"resident"`
	AreaCode string `db:"area_code"`
	Building string `db:"building"`
	Attempt  int    `db:"attempt"`
	Staff    string `db:"staff"`
	State    string `db:"state"`
}

// HomeVisits lists the visits of a round, by resident code and attempt.
func (s *Store) HomeVisits(ctx context.Context, roundID int64) ([]HomeVisit, error) {
	var out []HomeVisit
	err := s.db.SelectContext(ctx, &out, `SELECT r.code AS resident, a.code AS area_code, r.building, h.attempt, coalesce(st.code, '') AS staff, h.state
		FROM home_visits h JOIN residents r ON r.id = h.resident_id JOIN areas a ON a.id = r.area_id
		LEFT JOIN staff st ON st.id = h.staff_id
		WHERE h.round_id = $1 ORDER BY r.code, h.attempt`, roundID)
	if err != nil {
		return nil, fmt.Errorf("home visits of round %d: %w", roundID, err)
	}
	return out, nil
}

// RoundProgress is a round's samples against what it expects.
type RoundProgress struct {
	Points     []PointProgress
	Cohorts    []CohortProgress
	HomeVisits VisitProgress
	// Sampled and Expected count everyone, points and home visits.
	Sampled   int
	Expected  int
	Positives int
	// FirstAt and LastAt bound the samples' times; zero before the first.
	FirstAt time.Time
	LastAt  time.Time
}

// PointProgress is one point's samples.
type PointProgress struct {
	SiteID          int64
	Code            string
	CapacityPerHour int
	Sampled         int
	Expected        int
	FirstAt         time.Time
	LastAt          time.Time
}

// CohortProgress counts a cohort's residents who come to points.
type CohortProgress struct {
	Cohort   string
	Sampled  int
	Expected int
}

// VisitProgress counts the residents sampled at home: Sampled have a
// sample, Missed were missed on their latest visit and have none, Pending
// are the rest (not visited yet, or a revisit is on its way).
type VisitProgress struct {
	Residents int
	Sampled   int
	Missed    int
	Pending   int
}

// RoundProgress counts a round's samples per point and cohort, in SQL over
// the round's samples (one pass), against the residents expected when the
// round opened.
func (s *Store) RoundProgress(ctx context.Context, roundID int64) (RoundProgress, error) {
	var p RoundProgress
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getRound(ctx, tx, roundID, false); err != nil {
			return err
		}
		// Compiling the aggregate costs more than running it, even at a
		// million samples.
		if _, err := tx.ExecContext(ctx, `SET LOCAL jit = off; SET LOCAL work_mem = '64MB'`); err != nil {
			return err
		}
		plan, err := readPlan(ctx, tx, roundID)
		if err != nil {
			return err
		}
		var groups []struct {
			Point     sql.NullInt64 `db:"point_id"`
			Cohort    string        `db:"cohort"`
			HomeVisit bool          `db:"home_visit"`
			N         int           `db:"n"`
			Positives int           `db:"positives"`
			First     time.Time     `db:"first_at"`
			Last      time.Time     `db:"last_at"`
		}
		if err := tx.SelectContext(ctx, &groups, `SELECT point_id, cohort, home_visit, count(*) AS n,
			count(*) FILTER (WHERE result = 'positive') AS positives, min(taken_at) AS first_at, max(taken_at) AS last_at
			FROM samples WHERE round_id = $1 GROUP BY point_id, cohort, home_visit`, roundID); err != nil {
			return fmt.Errorf("samples of round %d: %w", roundID, err)
		}
		var cohorts []struct {
			Cohort     string `db:"cohort"`
			Residents  int    `db:"residents"`
			HomeVisits int    `db:"home_visits"`
		}
		if err := tx.SelectContext(ctx, &cohorts, `SELECT cohort, residents, home_visits FROM round_cohorts WHERE round_id = $1 ORDER BY residents DESC, cohort`, roundID); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &p.HomeVisits.Missed, `SELECT count(*) FROM (
			    SELECT DISTINCT ON (resident_id) resident_id, state FROM home_visits WHERE round_id = $1 ORDER BY resident_id, attempt DESC) l
			WHERE l.state = 'missed' AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = l.resident_id)`, roundID); err != nil {
			return err
		}

		points := map[int64]*PointProgress{}
		for _, pt := range plan.Points {
			p.Points = append(p.Points, PointProgress{SiteID: pt.SiteID, Code: pt.Code, CapacityPerHour: pt.CapacityPerHour, Expected: pt.Expected})
		}
		for i := range p.Points {
			points[p.Points[i].SiteID] = &p.Points[i]
		}
		byCohort := map[string]*CohortProgress{}
		for _, c := range cohorts {
			p.HomeVisits.Residents += c.HomeVisits
			p.Expected += c.Residents + c.HomeVisits
			if c.Residents > 0 {
				p.Cohorts = append(p.Cohorts, CohortProgress{Cohort: c.Cohort, Expected: c.Residents})
			}
		}
		for i := range p.Cohorts {
			byCohort[p.Cohorts[i].Cohort] = &p.Cohorts[i]
		}
		for _, g := range groups {
			p.Sampled += g.N
			p.Positives += g.Positives
			p.FirstAt, p.LastAt = earliest(p.FirstAt, g.First), latest(p.LastAt, g.Last)
			if g.Point.Valid {
				if pt := points[g.Point.Int64]; pt != nil {
					pt.Sampled += g.N
					pt.FirstAt, pt.LastAt = earliest(pt.FirstAt, g.First), latest(pt.LastAt, g.Last)
				}
			}
			if g.HomeVisit {
				p.HomeVisits.Sampled += g.N
				continue
			}
			c := byCohort[g.Cohort]
			if c == nil {
				p.Cohorts = append(p.Cohorts, CohortProgress{Cohort: g.Cohort})
				for i := range p.Cohorts {
					byCohort[p.Cohorts[i].Cohort] = &p.Cohorts[i]
				}
				c = byCohort[g.Cohort]
			}
			c.Sampled += g.N
		}
		p.HomeVisits.Pending = max(p.HomeVisits.Residents-p.HomeVisits.Sampled-p.HomeVisits.Missed, 0)
		return nil
	})
	if err != nil {
		return RoundProgress{}, fmt.Errorf("progress of round %d: %w", roundID, err)
	}
	return p, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// SetLateGrace sets how long after a round closes a late sample (taken
// during the round, uploaded after the close) is still recorded against
// it; positive results are taken whenever they come.
func (s *Store) SetLateGrace(ctx context.Context, roundID int64, grace time.Duration) error {
	if grace < 0 {
		return fmt.Errorf("late grace %s of round %d: %w", grace, roundID, ErrInvalid)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE testing_rounds SET late_grace = make_interval(secs => $2) WHERE id = $1`, roundID, grace.Seconds())
	if err != nil {
		return fmt.Errorf("late grace of round %d: %w", roundID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("testing round %d: %w", roundID, ErrNotFound)
	}
	return nil
}

// ExtendRound moves an open round's deadline later, so that samples taken
// in the extension are accepted; an earlier deadline, or a closed round,
// changes nothing. It returns the round's deadline.
func (s *Store) ExtendRound(ctx context.Context, roundID int64, deadline time.Time, e Event) (time.Time, error) {
	var out time.Time
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		out = r.Deadline
		if !r.Open() || !deadline.After(r.Deadline) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE testing_rounds SET deadline = $2 WHERE id = $1`, roundID, deadline); err != nil {
			return err
		}
		out = deadline
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("extend round %d: %w", roundID, err)
	}
	return out, nil
}

// RoundClose is a closed round's final figures, counted by the database in
// the transaction that closed it: these are the figures a workflow reports.
type RoundClose struct {
	Expected  int `db:"expected"`
	Sampled   int `db:"sampled"`
	Positives int `db:"positives"`
	Missing   int `db:"missing"`
	// HomeVisitsOpen counts residents on the home-visit list without a
	// sample.
	HomeVisitsOpen int `db:"home_visits_open"`
}

// CloseRound closes a round: it takes the round's row FOR UPDATE, which
// waits for every intake that holds the round (IngestSamples and
// RecordHomeVisit take it FOR SHARE and re-check that it is open), writes
// everyone in its area without a sample to the missing list (one INSERT …
// SELECT), and the round stops taking samples. It returns the final
// figures; closing a closed round changes nothing and returns the same
// figures.
func (s *Store) CloseRound(ctx context.Context, roundID int64, e Event) (RoundClose, error) {
	var out RoundClose
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		if r.Open() {
			if _, err := tx.ExecContext(ctx, `INSERT INTO round_missing (round_id, resident_id)
				SELECT $1, res.id FROM residents res JOIN areas a ON a.id = res.area_id
				WHERE (a.path = $2 OR a.path LIKE $3)
				  AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = res.id)
				ON CONFLICT DO NOTHING`, roundID, r.AreaPath, under(r.AreaPath)); err != nil {
				return fmt.Errorf("missing list: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE testing_rounds SET closed_at = now() WHERE id = $1`, roundID); err != nil {
				return err
			}
		}
		if err := tx.GetContext(ctx, &out, `SELECT
			    (SELECT coalesce(sum(residents + home_visits), 0) FROM round_cohorts WHERE round_id = $1) AS expected,
			    (SELECT count(*) FROM samples WHERE round_id = $1) AS sampled,
			    (SELECT count(*) FROM samples WHERE round_id = $1 AND result = 'positive') AS positives,
			    (SELECT count(*) FROM round_missing WHERE round_id = $1) AS missing,
			    (SELECT count(DISTINCT h.resident_id) FROM home_visits h WHERE h.round_id = $1
			       AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = h.resident_id)) AS home_visits_open`,
			roundID); err != nil {
			return fmt.Errorf("final figures: %w", err)
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return RoundClose{}, fmt.Errorf("close round %d: %w", roundID, err)
	}
	return out, nil
}

// MissingResident is a resident without a sample in a round: no personal
// details.
type MissingResident struct {
	ID        int64  `db:"id"`
	Code      string `db:"code"`
	AreaCode  string `db:"area_code"`
	Building  string `db:"building"`
	Cohort    string `db:"cohort"`
	HomeVisit bool   `db:"home_visit"`
}

// MissingContact is a missing resident with the name and phone to call
// back. Only the authorised call-back list reads it.
type MissingContact struct {
	MissingResident
	Name  string `db:"name"`
	Phone string `db:"phone"`
}

// String keeps the contact details out of logs and errors.
func (m MissingContact) String() string { return "resident " + m.Code }

// DefaultMissingPage is the page size of the missing list when none is
// given; MaxMissingPage the largest.
const (
	DefaultMissingPage = 1000
	MaxMissingPage     = 10000
)

// Missing returns a page of the residents missing from a round, by ID after
// afterID: the list written when it closed, or while it is open, those
// without a sample so far.
func (s *Store) Missing(ctx context.Context, roundID, afterID int64, limit int) ([]MissingResident, error) {
	var out []MissingResident
	err := s.missing(ctx, roundID, afterID, limit, &out)
	return out, err
}

// MissingContacts is Missing with the names and phones of the residents,
// for an authorised call-back list. The contacts come through the
// database's audited function muster_read_contacts, which logs the reader
// (the login), each resident, the time and the reason; the login must hold
// the muster_callback role. Nothing else reads personal details.
func (s *Store) MissingContacts(ctx context.Context, roundID, afterID int64, limit int, reason string) ([]MissingContact, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("missing contacts of round %d: reason is required: %w", roundID, ErrInvalid)
	}
	var page []MissingResident
	if err := s.missing(ctx, roundID, afterID, limit, &page); err != nil {
		return nil, err
	}
	out := make([]MissingContact, len(page))
	ids := make([]int64, len(page))
	for i, m := range page {
		out[i].MissingResident = m
		ids[i] = m.ID
	}
	if len(ids) == 0 {
		return out, nil
	}
	var contacts []struct {
		ResidentID int64  `db:"resident_id"`
		Name       string `db:"name"`
		Phone      string `db:"phone"`
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &contacts, `SELECT resident_id, coalesce(name, '') AS name, coalesce(phone, '') AS phone
			FROM muster_read_contacts($1, $2)`, pq.Array(ids), reason)
	})
	if isInsufficientPrivilege(err) {
		return nil, fmt.Errorf("missing contacts of round %d: this database user may not read contacts: connect as a login granted the muster_callback role (GRANT muster_callback TO <login>)", roundID)
	}
	if err != nil {
		return nil, fmt.Errorf("missing contacts of round %d: %w", roundID, err)
	}
	byID := make(map[int64]int, len(out))
	for i, m := range out {
		byID[m.ID] = i
	}
	for _, c := range contacts {
		if i, ok := byID[c.ResidentID]; ok {
			out[i].Name, out[i].Phone = c.Name, c.Phone
		}
	}
	return out, nil
}

func (s *Store) missing(ctx context.Context, roundID, afterID int64, limit int, dest *[]MissingResident) error {
	if limit <= 0 {
		limit = DefaultMissingPage
	}
	limit = min(limit, MaxMissingPage)
	cols := `res.id, res.code, a.code AS area_code, res.building, res.cohort, res.home_visit`
	return s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, false)
		if err != nil {
			return err
		}
		if !r.Open() {
			err = tx.SelectContext(ctx, dest, `SELECT `+cols+` FROM round_missing m JOIN residents res ON res.id = m.resident_id
				JOIN areas a ON a.id = res.area_id
				WHERE m.round_id = $1 AND m.resident_id > $2 ORDER BY m.resident_id LIMIT $3`, roundID, afterID, limit)
		} else {
			var areas []int64
			areas, err = areaIDsUnder(ctx, tx, r.AreaPath)
			if err != nil {
				return err
			}
			err = tx.SelectContext(ctx, dest, `SELECT `+cols+` FROM (
				    SELECT * FROM residents r WHERE r.area_id = ANY($2) AND r.id > $3
				      AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = r.id)
				    ORDER BY r.id LIMIT $4) res
				JOIN areas a ON a.id = res.area_id ORDER BY res.id`, roundID, pq.Array(areas), afterID, limit)
		}
		if err != nil {
			return fmt.Errorf("missing of round %d: %w", roundID, err)
		}
		return nil
	})
}

// RosterEntry is a resident of a round and the point that serves them
// (none for a home visit): what a field simulator or a station's
// pre-printed list needs, without personal details.
type RosterEntry struct {
	ID        int64  `db:"id"`
	Code      string `db:"code"`
	Cohort    string `db:"cohort"`
	HomeVisit bool   `db:"home_visit"`
	Point     string `db:"point"`
}

// Roster returns a page of a round's residents by ID after afterID, with
// the point assigned to each.
func (s *Store) Roster(ctx context.Context, roundID, afterID int64, limit int) ([]RosterEntry, error) {
	if limit <= 0 {
		limit = DefaultMissingPage
	}
	limit = min(limit, MaxMissingPage)
	var out []RosterEntry
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, false)
		if err != nil {
			return err
		}
		areas, err := areaIDsUnder(ctx, tx, r.AreaPath)
		if err != nil {
			return err
		}
		return tx.SelectContext(ctx, &out, `
			SELECT res.id, res.code, res.cohort, res.home_visit, CASE WHEN res.home_visit THEN '' ELSE coalesce(si.code, '') END AS point
			FROM (SELECT * FROM residents WHERE area_id = ANY($2) AND id > $3 ORDER BY id LIMIT $4) res
			JOIN areas a ON a.id = res.area_id
			LEFT JOIN round_assignments ra ON ra.round_id = $1 AND ra.area_id = res.area_id
			     AND (ra.building = '' OR ra.building = res.building)
			LEFT JOIN sites si ON si.id = ra.site_id
			ORDER BY res.id`, roundID, pq.Array(areas), afterID, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("roster of round %d: %w", roundID, err)
	}
	return out, nil
}
