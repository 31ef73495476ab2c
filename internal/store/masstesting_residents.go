// The resident registry of mass testing: loading residents in bulk, with
// their personal details sealed apart in resident_contacts, and the areas
// whose residents a round covers.

package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
)

// ResidentRow is one resident to load: a pseudonymous code, where they live
// and their personal details (kept apart in resident_contacts).
type ResidentRow = scenario.ResidentRow

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
		paths, err := areaPaths(ctx, tx, rows)
		if err != nil {
			return err
		}
		return loadResidents(ctx, conn, tx, scenarioName, rows, paths, &res)
	})
	if err != nil {
		return LoadResult{}, fmt.Errorf("load residents of %s: %w", scenarioName, err)
	}
	return res, nil
}

// loadResidents is LoadResidents in its transaction.
// paths gives the path of each area code the rows name.
func loadResidents(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, scenarioName string, rows []ResidentRow, paths map[string]string, res *LoadResult) error {
	if len(rows) == 0 {
		return nil
	}
	if err := checkResidentRows(rows); err != nil {
		return err
	}
	if err := stageResidents(ctx, conn, tx, rows, paths); err != nil {
		return err
	}
	if err := residentsStayInDistrict(ctx, tx); err != nil {
		return err
	}
	return mergeResidents(ctx, tx, scenarioName, res)
}

// checkResidentRows refuses rows without a code or an area, and a code
// listed twice.
func checkResidentRows(rows []ResidentRow) error {
	seen := make(map[string]struct{}, len(rows))
	for i, r := range rows {
		switch {
		case r.Code == "":
			return fmt.Errorf("resident row %d: code is required: %w", i+1, domain.ErrInvalid)
		case r.AreaCode == "":
			return fmt.Errorf("resident %s: area is required: %w", r.Code, domain.ErrInvalid)
		}
		if _, dup := seen[r.Code]; dup {
			return fmt.Errorf("resident %s is listed twice: %w", r.Code, domain.ErrInvalid)
		}
		seen[r.Code] = struct{}{}
	}
	return nil
}

// stageResidents copies the rows into the temporary table resident_stage
// and refuses them (ErrNotFound) when an area is unknown. Each row's area
// is staged by its path, which is unique whichever districts share a code.
func stageResidents(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, rows []ResidentRow, paths map[string]string) error {
	// Loads take turns, so the split INSERT and UPDATE below never race for
	// a new code.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, residentsLock); err != nil {
		return fmt.Errorf("wait for other loads: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '256MB'; SET LOCAL jit = off`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE resident_stage (
		code text COLLATE "C", area text, building text, cohort text, home_visit boolean, home_visit_kind text, home_visit_priority int,
		site text, cohort_rank int, name text, id_number text, phone text) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("stage residents: %w", err)
	}
	err := copyText(ctx, conn, "resident_stage", []string{"code", "area", "building", "cohort", "home_visit", "home_visit_kind", "home_visit_priority", "site", "cohort_rank", "name", "id_number", "phone"}, len(rows),
		func(b []byte, i int) []byte {
			r := &rows[i]
			cohort := r.Cohort
			if cohort == "" {
				cohort = scenario.DefaultCohort
			}
			b = appendCopyText(b, r.Code)
			area, ok := paths[r.AreaCode]
			if !ok {
				area = r.AreaCode
			}
			b = appendCopyText(append(b, '\t'), area)
			b = appendCopyText(append(b, '\t'), r.Building)
			b = appendCopyText(append(b, '\t'), cohort)
			b = strconv.AppendBool(append(b, '\t'), r.HomeVisit)
			b = appendCopyText(append(b, '\t'), r.HomeVisitKind)
			b = appendCopyRank(append(b, '\t'), r.HomeVisitPriority)
			b = appendCopyText(append(b, '\t'), r.Site)
			b = appendCopyRank(append(b, '\t'), r.CohortRank)
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
		WHERE NOT EXISTS (SELECT 1 FROM areas a WHERE a.path = s.area) ORDER BY s.code LIMIT 5`); err != nil {
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
		return fmt.Errorf("%s (load the scenario's areas first): %w", b.String(), domain.ErrNotFound)
	}
	return nil
}

// appendCopyRank appends a rank or priority in COPY text: NULL when 0.
func appendCopyRank(b []byte, n int) []byte {
	if n <= 0 {
		return append(b, `\N`...)
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// mergeResidents writes the staged residents and their contacts, counting
// what changed in res.
func mergeResidents(ctx context.Context, tx *sqlx.Tx, scenarioName string, res *LoadResult) error {
	// Changed residents are updated, new ones inserted: two plain
	// statements cost half what one INSERT … ON CONFLICT does at a million.
	steps := []struct {
		table, kind, query string
	}{
		{"residents", "updated", `UPDATE residents r SET area_id = a.id, building = s.building, cohort = s.cohort,
			home_visit = s.home_visit, home_visit_kind = s.home_visit_kind, home_visit_priority = s.home_visit_priority,
			site = s.site, cohort_rank = s.cohort_rank, scenario = $1, updated_at = now()
			FROM resident_stage s JOIN areas a ON a.path = s.area
			WHERE r.code = s.code AND (r.area_id, r.building, r.cohort, r.home_visit, r.home_visit_kind, r.home_visit_priority, r.site, r.cohort_rank, r.scenario)
			      IS DISTINCT FROM (a.id, s.building, s.cohort, s.home_visit, s.home_visit_kind, s.home_visit_priority, s.site, s.cohort_rank, $1)`},
		{"residents", "inserted", `INSERT INTO residents (code, area_id, building, cohort, home_visit, home_visit_kind, home_visit_priority, site, cohort_rank, scenario)
			SELECT s.code, a.id, s.building, s.cohort, s.home_visit, s.home_visit_kind, s.home_visit_priority, s.site, s.cohort_rank, $1
			FROM resident_stage s JOIN areas a ON a.path = s.area
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
			return fmt.Errorf("analyze residents: %w", err)
		}
	}
	return nil
}

// residentsLock is the advisory lock key held while loading residents.
const residentsLock = migrationLock + 1

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
