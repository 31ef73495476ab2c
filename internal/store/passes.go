package store

// Passes let supply and response staff and vehicles move in an area for a
// window. They are revoked when the last seal they were needed for is
// lifted, or when the assignment they came with lapses.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/domain"
)

// passCode makes a pass code that cannot be guessed from its number.
const passCode = `'PS-' || upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 12))`

// MaxPassWindow is the longest window a pass may cover.
const MaxPassWindow = 31 * 24 * time.Hour

// Pass states a verification answers.
const (
	PassValid     = "valid"
	PassExpired   = "expired"
	PassNotYet    = "not-yet-valid"
	PassRevoked   = "revoked"
	PassWrongArea = "wrong-area"
)

// Pass is a pass as verification shows it.
type Pass struct {
	Code          string     `db:"code" json:"code"`
	Incident      string     `db:"incident" json:"incident"`
	HolderKind    string     `db:"holder_kind" json:"holder_kind"`
	Holder        string     `db:"holder" json:"holder"`
	Area          string     `db:"area" json:"area"`
	AreaPath      string     `db:"area_path" json:"-"`
	From          time.Time  `db:"valid_from" json:"valid_from"`
	To            time.Time  `db:"valid_to" json:"valid_to"`
	RevokedAt     *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
	RevokedReason *string    `db:"revoked_reason" json:"revoked_reason,omitempty"`
}

// PassCheck is the answer to a verification: the pass and its state at a
// time (and in an area, when one is asked about).
type PassCheck struct {
	Pass
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail"`
}

const passColumns = `p.code, p.incident, p.holder_kind, coalesce(st.code, p.plate) AS holder, a.code AS area, a.path AS area_path,
	lower(p.valid) AS valid_from, upper(p.valid) AS valid_to, p.revoked_at, p.revoked_reason`

// VehiclePass asks for a pass for a vehicle.
type VehiclePass struct {
	Incident string    `json:"incident"`
	Plate    string    `json:"plate"`
	Area     string    `json:"area"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// For says what the pass is for (e.g. a supplier's run); issuing
	// again for the same purpose returns the same pass.
	For string `json:"for"`
}

// IssueVehiclePass issues a pass to a vehicle for an area and a window.
func (s *Store) IssueVehiclePass(ctx context.Context, v VehiclePass) (Pass, error) {
	v.Plate, v.For = strings.TrimSpace(v.Plate), strings.TrimSpace(v.For)
	switch {
	case v.Plate == "" || len(v.Plate) > 20:
		return Pass{}, fmt.Errorf("plate: give the vehicle's plate (at most 20 characters): %w", domain.ErrInvalid)
	case v.From.IsZero() || v.To.IsZero():
		return Pass{}, fmt.Errorf("from, to: give the pass's window: %w", domain.ErrInvalid)
	case !v.To.After(v.From):
		return Pass{}, fmt.Errorf("to: the window ends (%s) before it starts (%s): %w", v.To.Format(time.RFC3339), v.From.Format(time.RFC3339), domain.ErrInvalid)
	case v.To.Sub(v.From) > MaxPassWindow:
		return Pass{}, fmt.Errorf("to: a pass covers at most 31 days (asked: %s): %w", v.To.Sub(v.From).Round(time.Hour), domain.ErrInvalid)
	}
	if v.For == "" {
		v.For = "vehicle/" + v.Plate
	}
	var p Pass
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var areaID int64
		if err := tx.GetContext(ctx, &areaID, `SELECT id FROM areas WHERE code = $1`, v.Area); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("area: unknown area %q: %w", v.Area, domain.ErrAreaNotFound)
			}
			return err
		}
		var known bool
		if err := tx.GetContext(ctx, &known, `SELECT EXISTS (SELECT 1 FROM responses WHERE incident = $1)`, v.Incident); err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("incident: no response for incident %q: %w", v.Incident, domain.ErrResponseNotFound)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO passes (code, incident, holder_kind, plate, area_id, valid, issued_for)
			VALUES (`+passCode+`, $1, 'vehicle', $2, $3, tstzrange($4, $5), $6) ON CONFLICT (incident, issued_for) DO NOTHING`,
			v.Incident, v.Plate, areaID, v.From, v.To, v.For); err != nil {
			return fmt.Errorf("issue pass: %w", err)
		}
		if err := tx.GetContext(ctx, &p, `SELECT `+passColumns+` FROM passes p JOIN areas a ON a.id = p.area_id
			LEFT JOIN staff st ON st.id = p.staff_id WHERE p.incident = $1 AND p.issued_for = $2`, v.Incident, v.For); err != nil {
			return err
		}
		if p.Holder != v.Plate {
			return fmt.Errorf("for: %q already has a pass for %s: %w", v.For, p.Holder, domain.ErrConflict)
		}
		return appendEvent(ctx, tx, domain.Event{Incident: v.Incident, WorkflowID: "passes/" + v.Incident, Step: "pass/" + p.Code, State: "done", Actor: "command-center", Reason: "vehicle pass issued"})
	})
	return p, err
}

// VerifyPass answers whether a pass is valid at a time and, when area is
// given, for that area (the pass's area or any area under it).
func (s *Store) VerifyPass(ctx context.Context, code string, at time.Time, area string) (PassCheck, error) {
	var c PassCheck
	err := s.db.GetContext(ctx, &c.Pass, `SELECT `+passColumns+` FROM passes p JOIN areas a ON a.id = p.area_id
		LEFT JOIN staff st ON st.id = p.staff_id WHERE p.code = $1`, strings.ToUpper(strings.TrimSpace(code)))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("pass %q: %w", code, domain.ErrNotFound)
	}
	if err != nil {
		return c, err
	}
	c.At = at
	window := fmt.Sprintf("%s to %s", c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
	switch {
	case c.RevokedAt != nil && !at.Before(*c.RevokedAt):
		c.Status, c.Detail = PassRevoked, fmt.Sprintf("revoked at %s: %s", c.RevokedAt.Format(time.RFC3339), deref(c.RevokedReason))
	case at.Before(c.From):
		c.Status, c.Detail = PassNotYet, "valid from "+window
	case !at.Before(c.To):
		c.Status, c.Detail = PassExpired, "was valid "+window
	default:
		c.Status, c.Detail = PassValid, fmt.Sprintf("valid in %s until %s", c.Area, c.To.Format(time.RFC3339))
	}
	if area != "" && c.Status == PassValid {
		var path string
		// The area is looked up in the pass's own district: codes are
		// unique only there.
		if err := s.db.GetContext(ctx, &path, `SELECT path FROM areas WHERE (code = $1 OR path = $1) AND district = $2`,
			area, DistrictOf(c.AreaPath)); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return c, fmt.Errorf("area: unknown area %q: %w", area, domain.ErrAreaNotFound)
			}
			return c, err
		}
		if path != c.AreaPath && !strings.HasPrefix(path, c.AreaPath+"/") {
			c.Status, c.Detail = PassWrongArea, fmt.Sprintf("valid in %s, not in %s", c.Area, area)
		}
	}
	return c, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PassesOf lists an incident's passes.
func (s *Store) PassesOf(ctx context.Context, incident string) ([]Pass, error) {
	out := []Pass{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+passColumns+` FROM passes p JOIN areas a ON a.id = p.area_id
		LEFT JOIN staff st ON st.id = p.staff_id WHERE p.incident = $1 ORDER BY p.id`, incident)
	return out, err
}

// revokeLiftedPasses revokes the incident's passes that no seal needs any
// more once the seal of an area is lifted: a pass for the area itself, or
// for an area above it with no open checkpoint left under it. A repeated
// lift finds nothing more to revoke.
//
// Lifts of an incident revoke one at a time, each after closing its own
// checkpoints: two compounds of a community lifted at once would otherwise
// each still see the other's checkpoint open, and neither would revoke the
// community's passes. Under the lock the statement's snapshot is taken
// after the lift that held it committed.
func revokeLiftedPasses(ctx context.Context, tx *sqlx.Tx, incident string, areaID int64) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('muster/lift/' || $1))`, incident); err != nil {
		return fmt.Errorf("revoke passes: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE passes p SET revoked_at = now(), revoked_reason = 'seal lifted'
		FROM areas pa, areas lifted
		WHERE pa.id = p.area_id AND lifted.id = $2 AND p.incident = $1 AND p.revoked_at IS NULL
		  AND (pa.id = lifted.id OR lifted.path LIKE pa.path || '/%')
		  AND NOT EXISTS (SELECT 1 FROM checkpoints c JOIN areas ca ON ca.id = c.area_id
		                  WHERE c.incident = $1 AND c.closed_at IS NULL
		                    AND (ca.path = pa.path OR ca.path LIKE pa.path || '/%'))`, incident, areaID)
	if err != nil {
		return fmt.Errorf("revoke passes: %w", err)
	}
	return nil
}
