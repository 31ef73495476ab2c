package store

// Findings of inspections and compliance checks: claimed by the inspection
// that follows them, assigned with a rectification deadline, rectified,
// re-inspected, reopened, marked overdue, withdrawn, and the talks with the
// people responsible.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

const findingColumns = `id, incident, source, site, sub_district, unit, category, severity, description, inspector,
	state, repeat, overdue, escalated, reopened, deadline_at, opened_at, closed_at, coalesce(followed_by, '') AS followed_by`

// FindingByID returns a finding.
func (s *Store) FindingByID(ctx context.Context, id int64) (domain.Finding, error) {
	var f domain.Finding
	err := s.db.GetContext(ctx, &f, `SELECT `+findingColumns+` FROM findings WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Finding{}, fmt.Errorf("finding %d: %w", id, domain.ErrFindingNotFound)
	}
	if err != nil {
		return domain.Finding{}, fmt.Errorf("finding %d: %w", id, err)
	}
	return f, nil
}

// ClaimFindings returns the findings the incident's inspection over an
// area follows but has not assigned yet: failed compliance checks of any
// incident whose sub-district lies in the area (or of the incident itself)
// that no inspection has claimed are claimed for it first. An inspection
// claims each finding once, and two inspections never claim the same one;
// a repeated call returns the same findings until they are assigned.
func (s *Store) ClaimFindings(ctx context.Context, incident, area string) ([]domain.Finding, error) {
	var out []domain.Finding
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		// A finding opened before any round of its own incident is
		// re-inspected by the claiming round's inspector of its sub-district.
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET followed_by = $1,
			inspector = CASE WHEN inspector <> 'discipline-office' THEN inspector
			    ELSE coalesce((SELECT s.inspector FROM inspection_sites s JOIN inspection_rounds r ON r.id = s.round_id
			                   WHERE r.incident = $1 AND s.sub_district = findings.sub_district ORDER BY r.id DESC, s.site = s.sub_district DESC, s.site LIMIT 1), inspector) END
			WHERE id IN (
			SELECT f.id FROM findings f
			WHERE f.followed_by IS NULL AND f.state = 'open' AND f.source = 'compliance'
			  AND (f.incident = $1 OR f.sub_district IN (SELECT code FROM areas WHERE level = 'sub-district'
			       AND (path = $2 OR path LIKE $2 || '/%' OR $2 LIKE path || '/%'))
			       -- Sub-district codes are unique only in a district: a
			       -- finding is claimed by an inspection of its own, the
			       -- district of its incident's checkpoints.
			       AND EXISTS (SELECT 1 FROM checkpoints c JOIN areas ca ON ca.id = c.area_id
			                   WHERE c.incident = f.incident AND ca.district = split_part($2, '/', 1)))
			ORDER BY f.id LIMIT 500 FOR UPDATE SKIP LOCKED)`, incident, area); err != nil {
			return fmt.Errorf("claim findings for %s: %w", incident, err)
		}
		return tx.SelectContext(ctx, &out, `SELECT `+findingColumns+` FROM findings
			WHERE followed_by = $1 AND state = 'open' ORDER BY id LIMIT 500`, incident)
	})
	return out, err
}

// AssignFinding starts following a finding: its rectification deadline is
// set and it is marked a repeat when the same category was found at the same
// unit before. A repeated call changes nothing and returns the finding.
func (s *Store) AssignFinding(ctx context.Context, id int64, deadline time.Time, e domain.Event) (domain.Finding, error) {
	var f domain.Finding
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE findings f SET state = 'assigned', deadline_at = $2,
			repeat = EXISTS (SELECT 1 FROM findings p WHERE coalesce(p.followed_by, p.incident) = coalesce(f.followed_by, f.incident)
			                 AND p.unit = f.unit AND p.category = f.category AND p.id < f.id)
			WHERE id = $1 AND state = 'open'`, id, deadline); err != nil {
			return fmt.Errorf("assign finding %d: %w", id, err)
		}
		if err := getFinding(ctx, tx, id, &f); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	return f, err
}

func getFinding(ctx context.Context, tx *sqlx.Tx, id int64, f *domain.Finding) error {
	err := tx.GetContext(ctx, f, `SELECT `+findingColumns+` FROM findings WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("finding %d: %w", id, domain.ErrFindingNotFound)
	}
	if err != nil {
		return fmt.Errorf("finding %d: %w", id, err)
	}
	return nil
}

// RectifyFinding records that the unit reports the finding rectified. A
// closed or withdrawn finding is rejected; a repeated report changes nothing.
func (s *Store) RectifyFinding(ctx context.Context, id int64, e domain.Event) (domain.Finding, error) {
	var f domain.Finding
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if err := getFinding(ctx, tx, id, &f); err != nil {
			return err
		}
		switch f.State {
		case domain.FindingRectified:
			return nil
		case domain.FindingClosed, domain.FindingWithdrawn:
			return fmt.Errorf("finding %d is %s: nothing to rectify: %w", id, f.State, domain.ErrInvalid)
		}
		if err := tx.GetContext(ctx, &f.State, `UPDATE findings SET state = 'rectified', rectified_at = now() WHERE id = $1 RETURNING state`, id); err != nil {
			return fmt.Errorf("rectify finding %d: %w", id, err)
		}
		return appendEvent(ctx, tx, e)
	})
	return f, err
}

// Reinspection is the assigned inspector's verdict on a rectification.
type Reinspection struct {
	FindingID int64
	By        string
	Passed    bool
	// Reopen is the finding's reopen count after a failed re-inspection,
	// and NewDeadline its next deadline; a retried call with the same count
	// changes nothing.
	Reopen      int
	NewDeadline time.Time
}

// ReinspectFinding records a re-inspection: a pass closes the finding, a
// fail reopens it with a new deadline. Only the assigned inspector may
// re-inspect, and only a rectified finding.
func (s *Store) ReinspectFinding(ctx context.Context, r Reinspection, e domain.Event) (domain.Finding, error) {
	var f domain.Finding
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if err := getFinding(ctx, tx, r.FindingID, &f); err != nil {
			return err
		}
		if r.By != f.Inspector {
			return fmt.Errorf("by %q: finding %d is assigned to inspector %s: %w", r.By, f.ID, f.Inspector, domain.ErrInvalid)
		}
		switch {
		case r.Passed && f.State == domain.FindingClosed, !r.Passed && f.Reopened >= r.Reopen:
			return nil
		case f.State != domain.FindingRectified:
			return fmt.Errorf("finding %d is %s, not rectified: nothing to re-inspect: %w", f.ID, f.State, domain.ErrInvalid)
		}
		var err error
		if r.Passed {
			err = tx.GetContext(ctx, &f, `UPDATE findings SET state = 'closed', closed_at = now() WHERE id = $1 RETURNING `+findingColumns, f.ID)
		} else {
			err = tx.GetContext(ctx, &f, `UPDATE findings SET state = 'reopened', reopened = $2, deadline_at = $3, rectified_at = NULL
				WHERE id = $1 RETURNING `+findingColumns, f.ID, r.Reopen, r.NewDeadline)
		}
		if err != nil {
			return fmt.Errorf("re-inspect finding %d: %w", f.ID, err)
		}
		return appendEvent(ctx, tx, e)
	})
	return f, err
}

// MarkFindingOverdue records that a finding passed its deadline unrectified.
func (s *Store) MarkFindingOverdue(ctx context.Context, id int64, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET overdue = true WHERE id = $1`, id); err != nil {
			return fmt.Errorf("finding %d overdue: %w", id, err)
		}
		return appendEvent(ctx, tx, e)
	})
}

// WithdrawFinding ends the follow-up of a finding still open when its
// response ends.
func (s *Store) WithdrawFinding(ctx context.Context, id int64, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET state = 'withdrawn'
			WHERE id = $1 AND state NOT IN ('closed', 'withdrawn')`, id); err != nil {
			return fmt.Errorf("withdraw finding %d: %w", id, err)
		}
		return appendEvent(ctx, tx, e)
	})
}

// RecordTalk calls in the person responsible for a finding's unit, because
// the finding is overdue or repeats an earlier one: the talk, the notice to
// the person and the event are written together, once per finding and reason.
func (s *Store) RecordTalk(ctx context.Context, findingID int64, reason string, body func(domain.Talk) string, e domain.Event) (domain.Talk, error) {
	var t domain.Talk
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var f domain.Finding
		if err := getFinding(ctx, tx, findingID, &f); err != nil {
			return err
		}
		err := tx.GetContext(ctx, &t, `SELECT coalesce(f.followed_by, f.incident) AS incident, f.id AS finding_id, f.unit, coalesce(u.name, f.unit) AS unit_name,
			coalesce(u.person, 'head of ' || f.unit) AS person, $2::text AS reason, now() AS at
			FROM findings f LEFT JOIN inspection_units u ON u.incident = coalesce(f.followed_by, f.incident) AND u.code = f.unit WHERE f.id = $1`, findingID, reason)
		if err != nil {
			return fmt.Errorf("talk about finding %d: %w", findingID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inspection_talks (incident, finding_id, unit, person, reason)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (finding_id, reason) DO NOTHING`, t.Incident, t.FindingID, t.Unit, t.Person, reason); err != nil {
			return fmt.Errorf("talk about finding %d: %w", findingID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET escalated = true WHERE id = $1`, findingID); err != nil {
			return fmt.Errorf("talk about finding %d: %w", findingID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notices (dedup_key, incident, audience, kind, body)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup_key) DO NOTHING`,
			fmt.Sprintf("%s/finding/%d/talk/%s", t.Incident, findingID, reason), t.Incident, t.Person+", "+t.UnitName,
			"inspection/talk", body(t)); err != nil {
			return fmt.Errorf("talk notice for finding %d: %w", findingID, err)
		}
		return appendEvent(ctx, tx, e)
	})
	return t, err
}

// openComplianceFindings opens a finding for every failed check of a
// compliance round, in the check's own transaction: the check key makes a
// repeated round open nothing twice. The finding is laid at the office of
// the compound's sub-district and re-inspected by the inspector who has
// that sub-district in the incident's latest round (the one with the
// sub-district's own site, when its sites are split between inspectors),
// else by the office.
func openComplianceFindings(ctx context.Context, tx *sqlx.Tx, incident string, areaID int64, sweep string, round int) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO findings (key, incident, source, site, sub_district, unit, category, severity, description, inspector)
		SELECT 'check/' || cc.incident || '/' || cc.checkpoint_id || '/' || cc.sweep || '/' || cc.round,
		       cc.incident, 'compliance', a.code || '/' || g.code, coalesce(sd.code, a.code),
		       coalesce(sd.code, a.code) || '-office', $5,
		       'high', a.name || ', ' || g.name || ': ' || array_to_string(cc.problems, '; '),
		       coalesce((SELECT s.inspector FROM inspection_sites s JOIN inspection_rounds r ON r.id = s.round_id
		                 WHERE r.incident = cc.incident AND s.sub_district = sd.code ORDER BY r.id DESC, s.site = s.sub_district DESC, s.site LIMIT 1), 'discipline-office')
		FROM compliance_checks cc
		JOIN checkpoints c ON c.id = cc.checkpoint_id
		JOIN gates g ON g.id = c.gate_id
		JOIN areas a ON a.id = c.area_id
		LEFT JOIN areas sd ON sd.level = 'sub-district' AND a.path LIKE sd.path || '/%'
		WHERE cc.incident = $1 AND ($2 = 0 OR c.area_id = $2) AND cc.sweep = $3 AND cc.round = $4 AND NOT cc.passed
		ON CONFLICT (key) DO NOTHING`, incident, areaID, sweep, round, domain.CategoryCompliance)
	if err != nil {
		return fmt.Errorf("findings of compliance round %d: %w", round, err)
	}
	return nil
}
