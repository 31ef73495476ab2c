package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

// OpenRunbookResponse records the response of an incident run by a
// runbook, pinned to the runbook's version, and returns the locale it is
// shown in. A repeated call keeps the first record; a response opened
// earlier by a single seal gets the runbook's name and version. A new
// response takes the locale of the scenario its area was loaded from.
func (s *Store) OpenRunbookResponse(ctx context.Context, r Response, version int, e domain.Event) (string, error) {
	var locale string
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO responses (incident, runbook, runbook_version, level, area_path, locale)
			VALUES ($1, $2, $3, $4, $5, coalesce((SELECT l.locale FROM areas a JOIN scenario_locales l ON l.scenario = a.scenario
				WHERE a.path = $5), 'en'))
			ON CONFLICT (incident) DO UPDATE SET runbook = excluded.runbook, runbook_version = excluded.runbook_version
			WHERE responses.runbook_version IS NULL`, r.Incident, r.Runbook, version, r.Level, r.AreaPath); err != nil {
			return fmt.Errorf("open response %s: %w", r.Incident, err)
		}
		if err := tx.GetContext(ctx, &locale, `SELECT locale FROM responses WHERE incident = $1`, r.Incident); err != nil {
			return fmt.Errorf("open response %s: %w", r.Incident, err)
		}
		return appendEvent(ctx, tx, e)
	})
	return locale, err
}

// SetResponseState records a response's state (open, holding, closed,
// aborted) and its level.
func (s *Store) SetResponseState(ctx context.Context, incident, state string, level int, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE responses SET state = $2, level = $3,
			closed_at = CASE WHEN $2 IN ('closed', 'aborted') THEN coalesce(closed_at, now()) ELSE NULL END
			WHERE incident = $1`, incident, state, level); err != nil {
			return fmt.Errorf("response %s state: %w", incident, err)
		}
		// A response that has ended needs nobody any more: its supply
		// assignments are released, so the people may be booked again and
		// nobody acknowledges a post that no longer exists.
		if state == "closed" || state == "aborted" {
			if _, err := tx.ExecContext(ctx, `UPDATE staff_assignments SET state = 'released', ended_at = now()
				WHERE incident = $1 AND state IN ('notified', 'acknowledged')`, incident); err != nil {
				return fmt.Errorf("release the staff of response %s: %w", incident, err)
			}
		}
		return appendEvent(ctx, tx, e)
	})
}
