package store

// Inspection rounds: the sites of a round spread over the inspectors, the
// inspectors' reports of their sites, and an incident's inspection
// follow-up in figures. Findings themselves are in findings.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// SiteKindCheckpoint in a round's site kinds adds the checkpoints open in
// its area to the sites inspected.
const SiteKindCheckpoint = "checkpoint"

// RoundOrder opens an inspection round.
type RoundOrder struct {
	Incident   string
	Step       string
	WorkflowID string
	Round      int
	// Area is the code or path of the area inspected.
	Area string
	// SiteKinds are the kinds of site inspected besides the sub-districts.
	SiteKinds   []string
	Departments []domain.Unit
	Inspectors  []string
	// Only, when set, limits the round to these sites: a follow-up of the
	// sites the previous round closed without.
	Only []string
}

// OpenInspectionRound records a round over the sub-districts under the area
// and its sites of the given kinds, spread over the inspectors (see
// assignInspectors); the sites the previous round closed without go to
// another inspector. A repeated call returns the recorded round.
func (s *Store) OpenInspectionRound(ctx context.Context, o RoundOrder, e domain.Event) (domain.InspectionPlan, error) {
	switch {
	case o.Round < 1:
		return domain.InspectionPlan{}, fmt.Errorf("round %d: want 1 or more: %w", o.Round, domain.ErrInvalid)
	case len(o.Inspectors) == 0:
		return domain.InspectionPlan{}, fmt.Errorf("inspectors: name at least one: %w", domain.ErrInvalid)
	}
	area, err := s.AreaByCode(ctx, o.Area)
	if err != nil {
		return domain.InspectionPlan{}, err
	}
	var plan domain.InspectionPlan
	err = s.withTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &plan.RoundID, `INSERT INTO inspection_rounds (incident, step, round, workflow_id)
			VALUES ($1, $2, $3, $4) ON CONFLICT (incident, step, round) DO UPDATE SET workflow_id = inspection_rounds.workflow_id
			RETURNING id`, o.Incident, o.Step, o.Round, o.WorkflowID); err != nil {
			return fmt.Errorf("open inspection round %d: %w", o.Round, err)
		}
		plan.Round = o.Round
		rows, units, err := roundSites(ctx, tx, o, area)
		if err != nil {
			return err
		}
		var previous []domain.InspectionSite
		if o.Round > 1 {
			if err := tx.SelectContext(ctx, &previous, `SELECT s.site, s.inspector FROM inspection_sites s
				JOIN inspection_rounds r ON r.id = s.round_id
				WHERE r.incident = $1 AND r.step = $2 AND r.round = $3 AND s.reported_at IS NULL`, o.Incident, o.Step, o.Round-1); err != nil {
				return fmt.Errorf("unreported sites of inspection round %d: %w", o.Round-1, err)
			}
		}
		assignInspectors(rows, o.Inspectors, previous)
		units = append(units, o.Departments...)
		if err := insertUnits(ctx, tx, o.Incident, units); err != nil {
			return err
		}
		if err := insertRoundSites(ctx, tx, plan.RoundID, o.Round, rows); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &plan.Sites, `SELECT site, name, kind, sub_district, unit, inspector, reported_at IS NOT NULL AS reported
			FROM inspection_sites WHERE round_id = $1 ORDER BY sub_district, kind <> 'sub-district', site`, plan.RoundID); err != nil {
			return fmt.Errorf("sites of inspection round %d: %w", o.Round, err)
		}
		if err := tx.SelectContext(ctx, &plan.Units, `SELECT code, name, kind, person FROM inspection_units WHERE incident = $1 ORDER BY kind DESC, code`, o.Incident); err != nil {
			return fmt.Errorf("units of %s: %w", o.Incident, err)
		}
		return appendEvent(ctx, tx, e)
	})
	return plan, err
}

// roundSites returns the sites a round inspects, each with its
// sub-district and the unit responsible, and the sub-districts' offices as
// units: every sub-district under the area (or around it, when the area is
// a community) and its sites of the order's kinds, or only the order's
// sites when it names some.
func roundSites(ctx context.Context, tx *sqlx.Tx, o RoundOrder, area Area) ([]domain.InspectionSite, []domain.Unit, error) {
	var subs []Area
	if err := tx.SelectContext(ctx, &subs, `SELECT id, code, path, parent_id, level, name, population, buildings, public_areas, scenario
		FROM areas WHERE level = 'sub-district' AND (path = $1 OR path LIKE $1 || '/%' OR $1 LIKE path || '/%') ORDER BY path`, area.Path); err != nil {
		return nil, nil, fmt.Errorf("sub-districts of %s: %w", area.Code, err)
	}
	type siteRow struct {
		Code string `db:"code"`
		Name string `db:"name"`
		Kind string `db:"kind"`
		Path string `db:"path"`
	}
	var sites []siteRow
	if err := tx.SelectContext(ctx, &sites, `SELECT s.code, s.name, s.kind, a.path FROM sites s JOIN areas a ON a.id = s.area_id
		WHERE (a.path = $1 OR a.path LIKE $1 || '/%') AND s.kind = ANY($2) ORDER BY a.path, s.code`,
		area.Path, pq.Array(o.SiteKinds)); err != nil {
		return nil, nil, fmt.Errorf("sites of %s: %w", area.Code, err)
	}
	// Checkpoints are inspected where the runbook names them: every
	// checkpoint open in the area, whichever response set it up, as
	// compound/gate (the site a failed compliance check names).
	if slices.Contains(o.SiteKinds, SiteKindCheckpoint) {
		var cps []siteRow
		if err := tx.SelectContext(ctx, &cps, `SELECT DISTINCT a.code || '/' || g.code AS code, a.name || ', ' || g.name AS name,
			    'checkpoint' AS kind, a.path
			FROM checkpoints c JOIN gates g ON g.id = c.gate_id JOIN areas a ON a.id = c.area_id
			WHERE c.closed_at IS NULL AND (a.path = $1 OR a.path LIKE $1 || '/%')
			ORDER BY a.path, code`, area.Path); err != nil {
			return nil, nil, fmt.Errorf("checkpoints of %s: %w", area.Code, err)
		}
		sites = append(sites, cps...)
	}
	var units []domain.Unit
	var rows []domain.InspectionSite
	for _, sd := range subs {
		u := domain.Unit{Code: sd.Code + "-office", Name: sd.Name + " office", Kind: "sub-district", Person: "head of " + sd.Name}
		units = append(units, u)
		// A round over one community inspects its sites, not the
		// whole sub-district around it.
		if sd.Path == area.Path || strings.HasPrefix(sd.Path, area.Path+"/") {
			rows = append(rows, domain.InspectionSite{Site: sd.Code, Name: sd.Name, Kind: "sub-district", SubDistrict: sd.Code, Unit: u.Code})
		}
		for _, st := range sites {
			if st.Path == sd.Path || strings.HasPrefix(st.Path, sd.Path+"/") {
				rows = append(rows, domain.InspectionSite{Site: st.Code, Name: st.Name, Kind: st.Kind, SubDistrict: sd.Code, Unit: u.Code})
			}
		}
	}
	if len(o.Only) > 0 {
		kept := rows[:0]
		for _, r := range rows {
			if slices.Contains(o.Only, r.Site) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	return rows, units, nil
}

// insertRoundSites records the sites of a round once.
func insertRoundSites(ctx context.Context, tx *sqlx.Tx, roundID int64, round int, rows []domain.InspectionSite) error {
	var codes, names, kinds, sds, us, insp []string
	for _, r := range rows {
		codes, names, kinds = append(codes, r.Site), append(names, r.Name), append(kinds, r.Kind)
		sds, us, insp = append(sds, r.SubDistrict), append(us, r.Unit), append(insp, r.Inspector)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO inspection_sites (round_id, site, name, kind, sub_district, unit, inspector)
		SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
		ON CONFLICT (round_id, site) DO NOTHING`, roundID, pq.Array(codes), pq.Array(names), pq.Array(kinds),
		pq.Array(sds), pq.Array(us), pq.Array(insp)); err != nil {
		return fmt.Errorf("sites of inspection round %d: %w", round, err)
	}
	return nil
}

// assignInspectors spreads the sites, in sub-district order, over the
// inspectors in consecutive shares whose sizes differ by at most one: the
// loads are balanced by count, and a sub-district is split only where an
// inspector's share ends, so each inspector keeps to one or a few
// neighbouring sub-districts. A site left unreported in the previous round
// (its inspector given) goes to the next inspector instead, so that the
// same person is not sent again to a site they did not reach.
func assignInspectors(rows []domain.InspectionSite, inspectors []string, previous []domain.InspectionSite) {
	k := min(len(inspectors), len(rows))
	i := 0
	for j := range k {
		size := len(rows) / k
		if j < len(rows)%k {
			size++
		}
		for range size {
			rows[i].Inspector = inspectors[j]
			i++
		}
	}
	if len(inspectors) < 2 {
		return
	}
	before := map[string]string{}
	for _, p := range previous {
		before[p.Site] = p.Inspector
	}
	for i := range rows {
		prev, ok := before[rows[i].Site]
		if !ok || prev != rows[i].Inspector {
			continue
		}
		if n := slices.Index(inspectors, prev); n >= 0 {
			rows[i].Inspector = inspectors[(n+1)%len(inspectors)]
		}
	}
}

func insertUnits(ctx context.Context, tx *sqlx.Tx, incident string, units []domain.Unit) error {
	var codes, names, kinds, persons []string
	for _, u := range units {
		if u.Kind == "" {
			u.Kind = "department"
		}
		if u.Person == "" {
			u.Person = "head of " + u.Name
		}
		codes, names, kinds, persons = append(codes, u.Code), append(names, u.Name), append(kinds, u.Kind), append(persons, u.Person)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO inspection_units (incident, code, name, kind, person)
		SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT (incident, code) DO NOTHING`,
		incident, pq.Array(codes), pq.Array(names), pq.Array(kinds), pq.Array(persons)); err != nil {
		return fmt.Errorf("units of %s: %w", incident, err)
	}
	return nil
}

// CloseInspectionRound records the end of a round.
func (s *Store) CloseInspectionRound(ctx context.Context, roundID int64, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE inspection_rounds SET closed_at = now() WHERE id = $1 AND closed_at IS NULL`, roundID); err != nil {
			return fmt.Errorf("close inspection round %d: %w", roundID, err)
		}
		return appendEvent(ctx, tx, e)
	})
}

// SiteReport is an inspector's report of one site.
type SiteReport struct {
	RoundID   int64
	Site      string
	Inspector string
	Findings  []domain.NewFinding
}

// ReportSite records an inspector's report of a site and its findings in
// one transaction. A site outside the round, or a finding naming an unknown
// unit or severity, is rejected with ErrInvalid and nothing is written; a
// second report of the same site returns the first one's findings.
func (s *Store) ReportSite(ctx context.Context, r SiteReport, e domain.Event) (domain.SiteReportResult, error) {
	var out domain.SiteReportResult
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var site struct {
			domain.InspectionSite
			Incident string `db:"incident"`
		}
		err := tx.GetContext(ctx, &site, `SELECT s.site, s.name, s.kind, s.sub_district, s.unit, s.inspector,
			s.reported_at IS NOT NULL AS reported, r.incident
			FROM inspection_sites s JOIN inspection_rounds r ON r.id = s.round_id
			WHERE s.round_id = $1 AND s.site = $2 FOR UPDATE OF s`, r.RoundID, r.Site)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("site %q is not in inspection round %d: %w", r.Site, r.RoundID, domain.ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("site %s: %w", r.Site, err)
		}
		if site.Reported {
			out.Duplicate = true
			return tx.SelectContext(ctx, &out.Findings, `SELECT `+findingColumns+` FROM findings
				WHERE round_id = $1 AND site = $2 AND source = 'inspection' ORDER BY id`, r.RoundID, r.Site)
		}
		var units []string
		if err := tx.SelectContext(ctx, &units, `SELECT code FROM inspection_units WHERE incident = $1`, site.Incident); err != nil {
			return fmt.Errorf("units of %s: %w", site.Incident, err)
		}
		var keys, unitCol, cats, sevs, descs []string
		for i, f := range r.Findings {
			if f.Unit == "" {
				f.Unit = site.Unit
			}
			if err := domain.CheckFinding(i, f, units); err != nil {
				return err
			}
			keys = append(keys, fmt.Sprintf("round/%d/%s/%d", r.RoundID, r.Site, i+1))
			unitCol, cats, sevs, descs = append(unitCol, f.Unit), append(cats, f.Category), append(sevs, f.Severity), append(descs, f.Description)
		}
		if len(keys) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO findings (key, incident, round_id, source, site, sub_district, unit, category, severity, description, inspector, followed_by)
				SELECT k, $1, $2, 'inspection', $3, $4, u, c, sv, d, $5, $1
				FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) AS t(k, u, c, sv, d)
				ON CONFLICT (key) DO NOTHING`, site.Incident, r.RoundID, r.Site, site.SubDistrict, site.Inspector,
				pq.Array(keys), pq.Array(unitCol), pq.Array(cats), pq.Array(sevs), pq.Array(descs)); err != nil {
				return fmt.Errorf("findings at %s: %w", r.Site, err)
			}
		}
		by := r.Inspector
		if by == "" {
			by = site.Inspector
		}
		if _, err := tx.ExecContext(ctx, `UPDATE inspection_sites SET reported_at = now(), reported_by = $3, findings = $4
			WHERE round_id = $1 AND site = $2`, r.RoundID, r.Site, by, len(keys)); err != nil {
			return fmt.Errorf("report of %s: %w", r.Site, err)
		}
		if err := tx.SelectContext(ctx, &out.Findings, `SELECT `+findingColumns+` FROM findings WHERE key = ANY($1) ORDER BY id`, pq.Array(keys)); err != nil {
			return fmt.Errorf("findings at %s: %w", r.Site, err)
		}
		return appendEvent(ctx, tx, e)
	})
	return out, err
}

// InspectionReport is an incident's inspection follow-up in figures.
type InspectionReport struct {
	Incident      string                `json:"incident"`
	Rounds        int                   `db:"rounds" json:"rounds"`
	Sites         int                   `db:"sites" json:"sites"`
	SitesReported int                   `db:"sites_reported" json:"sites_reported"`
	Total         domain.Tally          `json:"total"`
	BySubDistrict []domain.Tally        `json:"by_sub_district"`
	ByUnit        []domain.Tally        `json:"by_unit"`
	Groups        []domain.FindingGroup `json:"groups"`
	Open          []domain.Finding      `json:"open"`
	Talks         []domain.Talk         `json:"talks"`
}

// InspectionReport sums an incident's findings per sub-district and unit,
// groups problems shared by several sites, and lists what is still open.
func (s *Store) InspectionReport(ctx context.Context, incident string) (InspectionReport, error) {
	r := InspectionReport{Incident: incident}
	const tally = `SELECT %s AS key, count(*) AS found, count(*) FILTER (WHERE state = 'closed') AS rectified,
		count(*) FILTER (WHERE state = 'withdrawn') AS withdrawn, count(*) FILTER (WHERE state NOT IN ('closed', 'withdrawn')) AS open,
		count(*) FILTER (WHERE overdue) AS overdue, count(*) FILTER (WHERE escalated) AS escalated
		FROM findings WHERE coalesce(followed_by, incident) = $1 GROUP BY 1 ORDER BY 1`
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	if err := tx.GetContext(ctx, &r, `SELECT
		(SELECT count(*) FROM inspection_rounds WHERE incident = $1) AS rounds,
		(SELECT count(*) FROM inspection_sites s JOIN inspection_rounds ro ON ro.id = s.round_id WHERE ro.incident = $1) AS sites,
		(SELECT count(*) FROM inspection_sites s JOIN inspection_rounds ro ON ro.id = s.round_id WHERE ro.incident = $1 AND s.reported_at IS NOT NULL) AS sites_reported`,
		incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	if err := tx.SelectContext(ctx, &r.BySubDistrict, fmt.Sprintf(tally, "sub_district"), incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	if err := tx.SelectContext(ctx, &r.ByUnit, fmt.Sprintf(tally, "unit"), incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	var total []domain.Tally
	if err := tx.SelectContext(ctx, &total, fmt.Sprintf(tally, "'total'::text"), incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	if len(total) == 1 {
		r.Total = total[0]
	}
	r.Total.Key = "total"
	if r.Groups, err = findingGroups(ctx, tx, incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	if err := tx.SelectContext(ctx, &r.Open, `SELECT `+findingColumns+` FROM findings
		WHERE coalesce(followed_by, incident) = $1 AND state NOT IN ('closed', 'withdrawn') ORDER BY deadline_at NULLS LAST, id`, incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	if err := tx.SelectContext(ctx, &r.Talks, `SELECT t.incident, t.finding_id, t.unit, coalesce(u.name, t.unit) AS unit_name, t.person, t.reason, t.at
		FROM inspection_talks t JOIN findings f ON f.id = t.finding_id
		LEFT JOIN inspection_units u ON u.incident = coalesce(f.followed_by, f.incident) AND u.code = t.unit
		WHERE coalesce(f.followed_by, f.incident) = $1 ORDER BY t.id`, incident); err != nil {
		return r, fmt.Errorf("inspection report of %s: %w", incident, err)
	}
	return r, nil
}

// findingGroups returns the categories of problem found at several sites of
// one unit, the most widespread first.
func findingGroups(ctx context.Context, tx *sqlx.Tx, incident string) ([]domain.FindingGroup, error) {
	var rows []struct {
		domain.FindingGroup
		Sites pq.StringArray `db:"sites"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT category, unit, array_agg(DISTINCT site ORDER BY site) AS sites,
		count(*) FILTER (WHERE state NOT IN ('closed', 'withdrawn')) AS open
		FROM findings WHERE coalesce(followed_by, incident) = $1 GROUP BY category, unit HAVING count(DISTINCT site) > 1 ORDER BY count(DISTINCT site) DESC, category, unit`, incident); err != nil {
		return nil, err
	}
	var out []domain.FindingGroup
	for _, row := range rows {
		g := row.FindingGroup
		g.Sites = row.Sites
		out = append(out, g)
	}
	return out, nil
}

// InspectionWorkflow returns the workflow ID of the incident's latest
// inspection round, where site reports go.
func (s *Store) InspectionWorkflow(ctx context.Context, incident string) (string, error) {
	var id string
	err := s.db.GetContext(ctx, &id, `SELECT workflow_id FROM inspection_rounds WHERE incident = $1 ORDER BY id DESC LIMIT 1`, incident)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("incident %q has no inspection round: %w", incident, domain.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("inspection of %s: %w", incident, err)
	}
	return id, nil
}
