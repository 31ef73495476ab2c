package store

// Assignments as the people assigned see them: acknowledging, reminders,
// lapses and reassignment, and release when a step ends.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

const assignmentColumns = `x.id, x.incident, x.step, p.post, st.code AS staff, x.state, x.ack_by, lower(x.shift) AS shift_from, upper(x.shift) AS shift_to`

// AssignmentByID returns an assignment.
func (s *Store) AssignmentByID(ctx context.Context, id int64) (domain.Assignment, error) {
	var a domain.Assignment
	err := s.db.GetContext(ctx, &a, `SELECT `+assignmentColumns+` FROM staff_assignments x
		JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id WHERE x.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("assignment %d: %w", id, domain.ErrAssignmentNotFound)
	}
	return a, err
}

// Assignments lists an incident's assignments, optionally of one person.
func (s *Store) Assignments(ctx context.Context, incident, staff string) ([]domain.Assignment, error) {
	out := []domain.Assignment{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+assignmentColumns+` FROM staff_assignments x
		JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id
		WHERE x.incident = $1 AND ($2 = '' OR st.code = $2) ORDER BY x.id`, incident, staff)
	return out, err
}

// Acknowledge records that the holder of an assignment acknowledged it.
// Only the person assigned may acknowledge; a lapsed or ended assignment
// cannot be, nor one past its acknowledgement deadline, nor one of a
// response that has closed; acknowledging twice is the same as once.
func (s *Store) Acknowledge(ctx context.Context, id int64, staff string, at time.Time) (domain.Assignment, error) {
	var a domain.Assignment
	staff = strings.TrimSpace(staff)
	if staff == "" {
		return a, fmt.Errorf("staff: name the person acknowledging (their staff code): %w", domain.ErrInvalid)
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &a, `SELECT `+assignmentColumns+` FROM staff_assignments x
			JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id WHERE x.id = $1 FOR UPDATE OF x`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("assignment %d: %w", id, domain.ErrAssignmentNotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case a.Staff != staff:
			return fmt.Errorf("assignment %d is not %s's: only the person assigned can acknowledge it: %w", id, staff, domain.ErrConflict)
		case a.State == "acknowledged":
			return nil
		case a.State == "lapsed":
			return fmt.Errorf("assignment %d lapsed: it was not acknowledged by %s and the post went to someone else: %w", id, a.AckBy.Format(time.RFC3339), domain.ErrConflict)
		case a.State == "released":
			return fmt.Errorf("assignment %d has ended: %w", id, domain.ErrConflict)
		case at.After(a.AckBy):
			return fmt.Errorf("assignment %d was to be acknowledged by %s: too late, the post goes to someone else: %w", id, a.AckBy.Format(time.RFC3339), domain.ErrConflict)
		}
		var state string
		err = tx.GetContext(ctx, &state, `SELECT state FROM responses WHERE incident = $1`, a.Incident)
		switch {
		case err == nil && (state == "closed" || state == "aborted"):
			return fmt.Errorf("assignment %d: the response of incident %s has %s: %w", id, a.Incident, state, domain.ErrConflict)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff_assignments SET state = 'acknowledged', acknowledged_at = $2 WHERE id = $1`, id, at); err != nil {
			return fmt.Errorf("acknowledge %d: %w", id, err)
		}
		a.State = "acknowledged"
		return appendEvent(ctx, tx, domain.Event{Incident: a.Incident, WorkflowID: a.Step, Step: fmt.Sprintf("ack/%d", id), State: "done", Actor: "staff " + staff, Reason: "assignment acknowledged"})
	})
	return a, err
}

// Remind sends a reminder to everyone of the step who has not acknowledged
// yet and has not been reminded, and returns how many were reminded.
func (s *Store) Remind(ctx context.Context, step string, at time.Time, e domain.Event) (int, error) {
	var n int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `WITH r AS (
			    UPDATE staff_assignments SET reminded_at = $2 WHERE step = $1 AND state = 'notified' AND reminded_at IS NULL RETURNING id)
			INSERT INTO notices (dedup_key, incident, area_id, audience, kind, body)
			SELECT 'remind|' || x.id, x.incident, p.area_id, 'staff ' || st.code, 'mobilization-reminder/' || x.id,
			       format('Reminder: acknowledge your assignment to %s by %s or it goes to someone else: muster supply ack %s --staff %s',
			              p.post, to_char(x.ack_by, 'YYYY-MM-DD HH24:MI:SS'), x.id, st.code)
			FROM r JOIN staff_assignments x ON x.id = r.id JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id
			ON CONFLICT (dedup_key) DO NOTHING`, step, at); err != nil {
			return fmt.Errorf("remind %s: %w", step, err)
		}
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM staff_assignments WHERE step = $1 AND reminded_at IS NOT NULL`, step); err != nil {
			return err
		}
		e.Reason = fmt.Sprintf("%d reminded", n)
		return appendEvent(ctx, tx, e)
	})
	return n, err
}

// Reassign lapses the step's assignments not acknowledged by now (their
// passes are revoked, their holders told) and fills the posts again with
// other people, who must acknowledge by o.AckBy.
func (s *Store) Reassign(ctx context.Context, o AssignOrder, now time.Time, e domain.Event) (domain.Mobilization, error) {
	var m domain.Mobilization
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var lapsed []int64
		if err := tx.SelectContext(ctx, &lapsed, `UPDATE staff_assignments SET state = 'lapsed', ended_at = $2
			WHERE step = $1 AND state = 'notified' AND ack_by <= $2 RETURNING id`, o.Step, now); err != nil {
			return fmt.Errorf("lapse %s: %w", o.Step, err)
		}
		if len(lapsed) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE passes ps SET revoked_at = $2, revoked_reason = 'assignment lapsed: not acknowledged'
				FROM staff_assignments x JOIN staff st ON st.id = x.staff_id
				WHERE x.id = ANY($1) AND ps.incident = x.incident AND ps.issued_for = x.step || '/staff/' || st.code AND ps.revoked_at IS NULL`,
				pq.Array(lapsed), now); err != nil {
				return fmt.Errorf("revoke passes of lapsed assignments: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO notices (dedup_key, incident, area_id, audience, kind, body)
				SELECT 'lapse|' || x.id, x.incident, p.area_id, 'staff ' || st.code, 'mobilization-lapsed/' || x.id,
				       format('Your assignment %s to %s was not acknowledged in time and has gone to someone else.', x.id, p.post)
				FROM staff_assignments x JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id
				WHERE x.id = ANY($1) ON CONFLICT (dedup_key) DO NOTHING`, pq.Array(lapsed)); err != nil {
				return fmt.Errorf("lapse notices: %w", err)
			}
		}
		n, err := assign(ctx, tx, o)
		if err != nil {
			return err
		}
		if m, err = mobilization(ctx, tx, o.Step); err != nil {
			return err
		}
		m.New = n
		e.Reason = fmt.Sprintf("%d lapsed unacknowledged in all, %d reassigned now, %d short", m.Lapsed, n, m.Shortfall)
		return appendEvent(ctx, tx, e)
	})
	return m, err
}

// ReleaseStaff ends a step's assignments: the people go back to their
// usual work and may be booked again.
func (s *Store) ReleaseStaff(ctx context.Context, step string, at time.Time, e domain.Event) (int, error) {
	var n int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE staff_assignments SET state = 'released', ended_at = $2
			WHERE step = $1 AND state IN ('notified', 'acknowledged')`, step, at); err != nil {
			return fmt.Errorf("release %s: %w", step, err)
		}
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM staff_assignments WHERE step = $1 AND state = 'released'`, step); err != nil {
			return err
		}
		e.Reason = fmt.Sprintf("%d released", n)
		return appendEvent(ctx, tx, e)
	})
	return n, err
}
