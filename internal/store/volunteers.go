package store

// Volunteer drives: an incident's call for volunteers in an area, open until
// its quota is reached or it closes, and the sign-ups that make volunteers
// staff who can be assigned.

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

// OpenVolunteerDrive opens the drive once; a repeated call returns it.
func (s *Store) OpenVolunteerDrive(ctx context.Context, d domain.VolunteerDrive, e domain.Event) (domain.VolunteerDrive, error) {
	if d.Quota < 0 || d.Quota > 100000 {
		return d, fmt.Errorf("volunteer quota %d: want 0 to 100000: %w", d.Quota, domain.ErrInvalid)
	}
	var out domain.VolunteerDrive
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO volunteer_drives (incident, area_id, step, quota, closes_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident, area_id) DO NOTHING`, d.Incident, d.AreaID, d.Step, d.Quota, d.ClosesAt); err != nil {
			return fmt.Errorf("volunteer drive: %w", err)
		}
		var err error
		if out, err = drive(ctx, tx, d.Incident, d.AreaID, false); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	return out, err
}

func drive(ctx context.Context, tx *sqlx.Tx, incident string, areaID int64, lock bool) (domain.VolunteerDrive, error) {
	var d domain.VolunteerDrive
	if lock {
		// The count below must see sign-ups committed while this waited
		// for the lock, so it is a statement of its own.
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM volunteer_drives WHERE incident = $1 AND area_id = $2 FOR UPDATE`, incident, areaID); err != nil {
			return d, err
		}
	}
	err := tx.GetContext(ctx, &d, `SELECT d.incident, d.area_id, a.code AS area, d.step, d.quota, d.closes_at,
		(SELECT count(*) FROM volunteer_signups v WHERE v.incident = d.incident AND v.area_id = d.area_id) AS signed_up
		FROM volunteer_drives d JOIN areas a ON a.id = d.area_id WHERE d.incident = $1 AND d.area_id = $2`, incident, areaID)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("no volunteer drive for incident %q in area %d: %w", incident, areaID, domain.ErrNotFound)
	}
	return d, err
}

// VolunteerDriveOf returns an incident's drive in an area.
func (s *Store) VolunteerDriveOf(ctx context.Context, incident string, areaID int64) (domain.VolunteerDrive, error) {
	var d domain.VolunteerDrive
	err := s.withTx(ctx, func(tx *sqlx.Tx) (err error) {
		d, err = drive(ctx, tx, incident, areaID, false)
		return err
	})
	return d, err
}

// SignUp is a volunteer signing up.
type SignUp struct {
	Incident string `json:"incident"`
	// Area is the area code of the drive.
	Area string `json:"area"`
	// Key identifies the sign-up (a form's submission ID): sent twice, it
	// is taken once.
	Key    string   `json:"key"`
	Name   string   `json:"name"`
	Skills []string `json:"skills,omitempty"`
}

// SignUpResult is the volunteer's staff code and the drive's count.
type SignUpResult struct {
	Staff    string `json:"staff"`
	SignedUp int    `json:"signed_up"`
	Quota    int    `json:"quota"`
}

// SignUpVolunteer registers a volunteer for a drive: the volunteer becomes
// staff of the drive's area for the incident and is assigned at the step's
// next check. The drive's row is locked, so the quota holds exactly even
// with many sign-ups at once.
func (s *Store) SignUpVolunteer(ctx context.Context, u SignUp, at time.Time) (SignUpResult, error) {
	var res SignUpResult
	u.Name, u.Key = strings.TrimSpace(u.Name), strings.TrimSpace(u.Key)
	switch {
	case u.Name == "" || len(u.Name) > 100:
		return res, fmt.Errorf("name: give the volunteer's name (at most 100 characters): %w", domain.ErrInvalid)
	case u.Key == "" || len(u.Key) > 100:
		return res, fmt.Errorf("key: give the sign-up's ID (at most 100 characters): %w", domain.ErrInvalid)
	}
	for i, sk := range u.Skills {
		if !codeLike(sk) {
			return res, fmt.Errorf("skills[%d]: %q is not a skill code (lower-case letters, digits and '-'): %w", i, sk, domain.ErrInvalid)
		}
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var areaID int64
		// Codes are unique only in a district: the drive's area is the
		// incident's district's.
		if err := tx.GetContext(ctx, &areaID, `SELECT id FROM areas WHERE (code = $1 OR path = $1)
			AND district = coalesce((SELECT split_part(area_path, '/', 1) FROM responses WHERE incident = $2), district)
			ORDER BY path LIMIT 1`, u.Area, u.Incident); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("area: unknown area %q: %w", u.Area, domain.ErrAreaNotFound)
			}
			return err
		}
		d, err := drive(ctx, tx, u.Incident, areaID, true)
		if err != nil {
			return err
		}
		res.Quota = d.Quota
		var existing string
		err = tx.GetContext(ctx, &existing, `SELECT st.code FROM volunteer_signups v JOIN staff st ON st.id = v.staff_id WHERE v.incident = $1 AND v.signup_key = $2`, u.Incident, u.Key)
		if err == nil {
			res.Staff, res.SignedUp = existing, d.SignedUp
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		switch {
		case !at.Before(d.ClosesAt):
			return fmt.Errorf("the volunteer drive of %s closed at %s: %w", d.Area, d.ClosesAt.Format(time.RFC3339), domain.ErrConflict)
		case d.SignedUp >= d.Quota:
			return fmt.Errorf("the volunteer drive of %s is full (%d of %d): %w", d.Area, d.SignedUp, d.Quota, domain.ErrConflict)
		}
		res.Staff = fmt.Sprintf("vol-%s-%s-%03d", u.Incident, d.Area, d.SignedUp+1)
		var staffID int64
		if err := tx.GetContext(ctx, &staffID, `INSERT INTO staff (code, area_id, role, name, skills, signed_up_for, group_code)
			VALUES ($1, $2, 'volunteer', $3, coalesce($4::text[], '{}'), $5, 'signed-up') RETURNING id`, res.Staff, areaID, u.Name, pq.Array(u.Skills), u.Incident); err != nil {
			return fmt.Errorf("register volunteer: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO volunteer_signups (incident, area_id, staff_id, signup_key, signed_at) VALUES ($1, $2, $3, $4, $5)`,
			u.Incident, areaID, staffID, u.Key, at); err != nil {
			return fmt.Errorf("sign up: %w", err)
		}
		res.SignedUp = d.SignedUp + 1
		return appendEvent(ctx, tx, domain.Event{Incident: u.Incident, WorkflowID: d.Step, Step: "signup/" + res.Staff, State: "done", Actor: "volunteer", Reason: "volunteer signed up"})
	})
	return res, err
}

func codeLike(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
