package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// DefaultPublicAreas are disinfected when a compound lists none.
var DefaultPublicAreas = []string{"gates", "stairwells", "lift lobbies", "refuse points"}

// CheckpointRoles are the staff roles that may stand at a checkpoint.
var CheckpointRoles = []string{"community-worker", "grid-worker", "security", "volunteer", "cadre"}

// Gate is a compound gate.
type Gate struct {
	ID       int64  `db:"id"`
	Code     string `db:"code"`
	Name     string `db:"name"`
	Entrance bool   `db:"entrance"`
}

// Road is a road section next to an area.
type Road struct {
	ID       int64  `db:"id"`
	Code     string `db:"code"`
	Name     string `db:"name"`
	Entrance bool   `db:"entrance"`
	AreaCode string `db:"area_code"`
}

// SealPlan is what sealing a compound touches.
type SealPlan struct {
	Compound    Area
	Gates       []Gate
	Roads       []Road
	PublicAreas []string
	// StaffAvailable counts staff who could stand at a checkpoint now.
	StaffAvailable int
}

// SealPlan reads the compound's gates, the roads of the compound and its
// ancestors, and its public areas.
func (s *Store) SealPlan(ctx context.Context, compound string) (SealPlan, error) {
	a, err := s.AreaByCode(ctx, compound)
	if err != nil {
		return SealPlan{}, err
	}
	if a.Level != "compound" {
		return SealPlan{}, fmt.Errorf("area %q is a %s: %w", compound, a.Level, domain.ErrNotCompound)
	}
	p := SealPlan{Compound: a, PublicAreas: a.PublicAreas}
	if len(p.PublicAreas) == 0 {
		p.PublicAreas = DefaultPublicAreas
	}
	if err := s.db.SelectContext(ctx, &p.Gates, `SELECT id, code, name, entrance FROM gates WHERE area_id = $1 ORDER BY code`, a.ID); err != nil {
		return SealPlan{}, fmt.Errorf("gates of %s: %w", a.Code, err)
	}
	if err := s.db.SelectContext(ctx, &p.Roads, `SELECT r.id, r.code, r.name, r.entrance, a.code AS area_code
		FROM roads r JOIN areas a ON a.id = r.area_id
		WHERE a.path = ANY($1) ORDER BY length(a.path) DESC, r.code`, pq.Array(domain.PathPrefixes(a.Path))); err != nil {
		return SealPlan{}, fmt.Errorf("roads of %s: %w", a.Code, err)
	}
	if err := s.db.GetContext(ctx, &p.StaffAvailable, `SELECT count(*) FROM staff st JOIN areas sa ON sa.id = st.area_id
		WHERE sa.path = ANY($1) AND st.role = ANY($2)
		  AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id AND cs.released_at IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id
		                  AND x.state IN ('notified', 'acknowledged') AND x.shift && tstzrange(now(), NULL))`,
		pq.Array(domain.PathPrefixes(a.Path)), pq.Array(CheckpointRoles)); err != nil {
		return SealPlan{}, fmt.Errorf("staff for %s: %w", a.Code, err)
	}
	return p, nil
}

// eventKey is the dedup key of an event: a repeated transition is logged
// once.
func eventKey(e domain.Event) string {
	return strings.Join([]string{e.WorkflowID, e.Step, e.State, e.Seq}, "|")
}

func appendEvent(ctx context.Context, tx *sqlx.Tx, e domain.Event) error {
	if e.Actor == "" {
		e.Actor = "muster"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO step_events (incident, workflow_id, step, state, reason, actor, dedup_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING`,
		e.Incident, e.WorkflowID, e.Step, e.State, e.Reason, e.Actor, eventKey(e))
	if err != nil {
		return fmt.Errorf("append event %s %s: %w", e.Step, e.State, err)
	}
	return nil
}

// AppendEvent records a step transition on its own.
func (s *Store) AppendEvent(ctx context.Context, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error { return appendEvent(ctx, tx, e) })
}

// Events returns the event log of one workflow, or of a whole incident when
// workflowID is empty, oldest first.
func (s *Store) Events(ctx context.Context, incident, workflowID string) ([]domain.Event, error) {
	var out []domain.Event
	err := s.db.SelectContext(ctx, &out, `SELECT incident, workflow_id, step, state, reason, actor, at FROM step_events
		WHERE incident = $1 AND ($2 = '' OR workflow_id = $2) ORDER BY id`, incident, workflowID)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", incident, err)
	}
	return out, nil
}

// Response is the record of one incident's response.
type Response struct {
	Incident string `db:"incident"`
	Runbook  string `db:"runbook"`
	Level    int    `db:"level"`
	AreaPath string `db:"area_path"`
	State    string `db:"state"`
	// Locale is the language the response is shown in (en, zh-CN).
	Locale string `db:"locale"`
}

// OpenResponse records the response of an incident once; later calls for the
// same incident keep the first record.
func (s *Store) OpenResponse(ctx context.Context, r Response, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO responses (incident, runbook, level, area_path, locale)
			VALUES ($1, $2, $3, $4, coalesce((SELECT l.locale FROM areas a JOIN scenario_locales l ON l.scenario = a.scenario
				WHERE a.path = $4), 'en')) ON CONFLICT (incident) DO NOTHING`, r.Incident, r.Runbook, r.Level, r.AreaPath); err != nil {
			return fmt.Errorf("open response %s: %w", r.Incident, err)
		}
		return appendEvent(ctx, tx, e)
	})
}

// ResponseByIncident returns the response of an incident.
func (s *Store) ResponseByIncident(ctx context.Context, incident string) (Response, error) {
	var r Response
	err := s.db.GetContext(ctx, &r, `SELECT incident, runbook, level, area_path, state, locale FROM responses WHERE incident = $1`, incident)
	if errors.Is(err, sql.ErrNoRows) {
		return Response{}, fmt.Errorf("response %q: %w", incident, domain.ErrResponseNotFound)
	}
	return r, err
}

// Notice is a message in the outbox.
type Notice struct {
	Key      string
	Incident string
	AreaID   int64
	Audience string
	Kind     string
	Body     string
	// Message and Args name the catalogue's message the body was written
	// from, for rendering it in another locale; empty for a free text.
	Message string
	Args    map[string]string
}

// PublishNotice puts a notice in the outbox once per key.
func (s *Store) PublishNotice(ctx context.Context, n Notice, e domain.Event) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		args, err := json.Marshal(n.Args)
		if err != nil || n.Args == nil {
			args = []byte("{}")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notices (dedup_key, incident, area_id, audience, kind, body, message_key, message_args)
			VALUES ($1, $2, nullif($3, 0), $4, $5, $6, nullif($7, ''), $8) ON CONFLICT (dedup_key) DO NOTHING`,
			n.Key, n.Incident, n.AreaID, n.Audience, n.Kind, n.Body, n.Message, args); err != nil {
			return fmt.Errorf("notice %s: %w", n.Key, err)
		}
		return appendEvent(ctx, tx, e)
	})
}

// CheckpointOrder asks for a checkpoint at a gate.
type CheckpointOrder struct {
	Incident      string
	GateID        int64
	AreaID        int64
	Mode          string // "entry" or "closed"
	RequiredStaff int
	// Shift numbers the shift the staff are booked for (0 means the
	// first); Rest keeps anyone relieved less than that long ago off it.
	Shift int
	Rest  time.Duration
	// Outside draws on staff from outside the compound's district too,
	// once the command center approved such a request.
	Outside bool
}

// CheckpointResult is a checkpoint and who stands at it.
type CheckpointResult struct {
	CheckpointID int64
	Staff        []string
	Shortfall    int
}

// OpenCheckpoint sets up a checkpoint at a gate and assigns staff to it,
// nearest first (the compound's own staff, then its community's, and so on
// up the tree). Calling it again tops up the staff without adding a second
// checkpoint. Nobody booked for a supply shift that has not ended is
// taken. The database refuses to put one person at two posts at once, or
// at a checkpoint while a supply assignment books them, whichever response
// asks; a person booked meanwhile is passed over and someone else picked,
// and if the last pick was refused the error is ErrStaffBusy, for a retry.
// eventFor builds the log entry from the result.
// long: the staffing attempts stay inline, as their comments follow one snapshot's reasoning.
func (s *Store) OpenCheckpoint(ctx context.Context, o CheckpointOrder, eventFor func(CheckpointResult) domain.Event) (CheckpointResult, error) {
	var res CheckpointResult
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (incident, gate_id, area_id, mode, required_staff)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident, gate_id) DO NOTHING`,
			o.Incident, o.GateID, o.AreaID, o.Mode, o.RequiredStaff); err != nil {
			return fmt.Errorf("checkpoint at gate %d: %w", o.GateID, err)
		}
		var cp struct {
			ID     int64        `db:"id"`
			Closed sql.NullTime `db:"closed_at"`
		}
		if err := tx.GetContext(ctx, &cp, `SELECT id, closed_at FROM checkpoints WHERE incident = $1 AND gate_id = $2`, o.Incident, o.GateID); err != nil {
			return fmt.Errorf("checkpoint at gate %d: %w", o.GateID, err)
		}
		res.CheckpointID = cp.ID
		// A late retry after the seal was lifted must not post staff at a
		// closed checkpoint.
		var refused error
		for attempt := 0; attempt < 4 && !cp.Closed.Valid; attempt++ {
			refused = nil
			var onDuty int
			if err := tx.GetContext(ctx, &onDuty, `SELECT count(*) FROM checkpoint_staff WHERE checkpoint_id = $1 AND released_at IS NULL`, res.CheckpointID); err != nil {
				return err
			}
			need := o.RequiredStaff - onDuty
			if need <= 0 {
				break
			}
			// The district's pool stands first, nearest first; resident
			// volunteers fill what it cannot (a volunteer drive).
			// A concurrent order that commits after this statement's
			// snapshot was taken releases its row locks, so SKIP LOCKED no
			// longer hides the staff it took, yet NOT EXISTS still misses
			// them. ON CONFLICT DO NOTHING lets the one-post index drop
			// those; the next statement sees a fresh snapshot and tops up.
			// The same gap can hide a supply assignment committed
			// meanwhile: then the database refuses the statement (the
			// one-booking trigger looks again after locking the person),
			// book undoes it and the next attempt leaves that person out.
			var r sql.Result
			lost, err := book(ctx, tx, func() (err error) {
				r, err = tx.ExecContext(ctx, `
					INSERT INTO checkpoint_staff (checkpoint_id, staff_id, shift)
					SELECT $1, id, $5 FROM (
					    SELECT st.id FROM staff st
					    JOIN areas sa ON sa.id = st.area_id
					    JOIN areas ca ON ca.id = $2
					    WHERE (ca.path = sa.path OR ca.path LIKE sa.path || '/%'
					           OR ($7 AND split_part(sa.path, '/', 1) <> split_part(ca.path, '/', 1)))
					      AND st.role = ANY($3)
					      AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id AND cs.released_at IS NULL)
					      AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id
					                      AND cs.released_at > now() - $6 * interval '1 microsecond')
					      AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id
					                      AND x.state IN ('notified', 'acknowledged') AND x.shift && tstzrange(now(), NULL))
					    ORDER BY st.role = 'volunteer', length(sa.path) DESC, st.code
					    LIMIT $4
					    FOR UPDATE OF st SKIP LOCKED) free
					ON CONFLICT DO NOTHING`,
					res.CheckpointID, o.AreaID, pq.Array(CheckpointRoles), need, max(o.Shift, 1), o.Rest.Microseconds(), o.Outside)
				return err
			})
			if err != nil {
				return fmt.Errorf("assign staff to checkpoint %d: %w", res.CheckpointID, err)
			}
			if refused = lost; refused != nil {
				continue
			}
			if n, _ := r.RowsAffected(); int(n) == need {
				break
			}
		}
		if refused != nil {
			return fmt.Errorf("assign staff to checkpoint %d: %w", res.CheckpointID, refused)
		}
		if err := tx.SelectContext(ctx, &res.Staff, `SELECT st.code FROM checkpoint_staff cs JOIN staff st ON st.id = cs.staff_id
			WHERE cs.checkpoint_id = $1 AND cs.released_at IS NULL ORDER BY st.code`, res.CheckpointID); err != nil {
			return err
		}
		res.Shortfall = max(0, o.RequiredStaff-len(res.Staff))
		return appendEvent(ctx, tx, eventFor(res))
	})
	return res, err
}

// CloseRoads records the closure of road sections for the seal of an area
// and returns how many of the seal's closures are in force.
func (s *Store) CloseRoads(ctx context.Context, incident string, areaID int64, roadIDs []int64, e domain.Event) (int, error) {
	var n int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO road_closures (incident, area_id, road_id)
			SELECT $1, $2, r FROM unnest($3::bigint[]) AS r
			ON CONFLICT (incident, area_id, road_id) DO NOTHING`, incident, areaID, pq.Array(roadIDs)); err != nil {
			return fmt.Errorf("close roads: %w", err)
		}
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM road_closures WHERE incident = $1 AND area_id = $2 AND reopened_at IS NULL`, incident, areaID); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	return n, err
}

// Disinfect records disinfection of an area's public zones for a round and
// returns how many zones are done in that round.
func (s *Store) Disinfect(ctx context.Context, incident string, areaID int64, zones []string, round int, e domain.Event) (int, error) {
	var n int
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO disinfection_tasks (incident, area_id, zone, round, state, done_at)
			SELECT $1, $2, z, $4, 'done', now() FROM unnest($3::text[]) AS z
			ON CONFLICT (incident, area_id, zone, round) DO NOTHING`, incident, areaID, pq.Array(zones), round); err != nil {
			return fmt.Errorf("disinfect: %w", err)
		}
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM disinfection_tasks WHERE incident = $1 AND area_id = $2 AND round = $3 AND state = 'done'`, incident, areaID, round); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	return n, err
}

// ComplianceResult is one checkpoint's check in one round.
type ComplianceResult struct {
	Area        string         `db:"area"`
	Gate        string         `db:"gate"`
	Passed      bool           `db:"passed"`
	StaffOnDuty int            `db:"staff_on_duty"`
	Problems    pq.StringArray `db:"problems"`
}

// CheckCompliance checks every open checkpoint of an area's seal: enough
// staff on duty, and every road closure of the seal still in force. The
// first check of a round is recorded and later calls return it unchanged.
// eventFor builds the log entry from the results.
func (s *Store) CheckCompliance(ctx context.Context, incident string, areaID int64, round int, eventFor func([]ComplianceResult) domain.Event) ([]ComplianceResult, error) {
	if areaID <= 0 {
		return nil, fmt.Errorf("compliance round %d: area ID %d: %w", round, areaID, domain.ErrAreaNotFound)
	}
	return s.checkCompliance(ctx, incident, areaID, "", round, eventFor)
}

// SweepCompliance checks every open checkpoint of every seal of an
// incident once, for a response's sweep; the sweep's name keeps its records
// apart from the seals' own rounds and makes a repeated call return the
// recorded check.
func (s *Store) SweepCompliance(ctx context.Context, incident, sweep string, eventFor func([]ComplianceResult) domain.Event) ([]ComplianceResult, error) {
	if sweep == "" {
		return nil, errors.New("sweep name is required")
	}
	return s.checkCompliance(ctx, incident, 0, sweep, 1, eventFor)
}

func (s *Store) checkCompliance(ctx context.Context, incident string, areaID int64, sweep string, round int, eventFor func([]ComplianceResult) domain.Event) ([]ComplianceResult, error) {
	var out []ComplianceResult
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			WITH duty AS (
			    SELECT c.id, c.area_id, c.required_staff,
			           (SELECT count(*) FROM checkpoint_staff cs WHERE cs.checkpoint_id = c.id AND cs.released_at IS NULL) AS on_duty
			    FROM checkpoints c
			    WHERE c.incident = $1 AND ($2::bigint = 0 OR c.area_id = $2) AND c.closed_at IS NULL),
			checked AS (
			    SELECT d.id, d.on_duty,
			           CASE WHEN d.on_duty < d.required_staff
			                THEN ARRAY[format('understaffed: %s of %s on duty', d.on_duty, d.required_staff)]
			                ELSE '{}'::text[] END
			           || coalesce((SELECT array_agg('road ' || r.code || ' reopened before the seal was lifted' ORDER BY r.code)
			                        FROM road_closures rc JOIN roads r ON r.id = rc.road_id
			                        WHERE rc.incident = $1 AND rc.area_id = d.area_id AND rc.reopened_at IS NOT NULL), '{}') AS problems
			    FROM duty d)
			INSERT INTO compliance_checks (incident, checkpoint_id, sweep, round, passed, staff_on_duty, problems)
			SELECT $1, id, $3, $4, problems = '{}', on_duty, problems FROM checked
			ON CONFLICT (incident, checkpoint_id, sweep, round) DO NOTHING`, incident, areaID, sweep, round); err != nil {
			return fmt.Errorf("compliance round %d: %w", round, err)
		}
		// A failed check opens a finding in the same transaction.
		if err := openComplianceFindings(ctx, tx, incident, areaID, sweep, round); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &out, `SELECT a.code AS area, g.code AS gate, cc.passed, cc.staff_on_duty, cc.problems
			FROM compliance_checks cc JOIN checkpoints c ON c.id = cc.checkpoint_id
			JOIN gates g ON g.id = c.gate_id JOIN areas a ON a.id = c.area_id
			WHERE cc.incident = $1 AND ($2::bigint = 0 OR c.area_id = $2) AND cc.sweep = $3 AND cc.round = $4
			ORDER BY a.code, g.code`, incident, areaID, sweep, round); err != nil {
			return err
		}
		return appendEvent(ctx, tx, eventFor(out))
	})
	return out, err
}

// ReopenResult counts what lifting a seal released.
type ReopenResult struct {
	Checkpoints   int `db:"checkpoints"`
	StaffReleased int `db:"staff_released"`
	RoadsReopened int `db:"roads_reopened"`
}

// Reopen lifts the seal of an area: checkpoints close, their staff are
// released, road closures end. It returns the totals for the seal, so a
// repeated call returns the same figures and changes nothing.
func (s *Store) Reopen(ctx context.Context, incident string, areaID int64, e domain.Event) (ReopenResult, error) {
	var r ReopenResult
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		stmts := []string{
			`UPDATE checkpoint_staff cs SET released_at = now() FROM checkpoints c
			 WHERE c.id = cs.checkpoint_id AND c.incident = $1 AND c.area_id = $2 AND cs.released_at IS NULL`,
			`UPDATE checkpoints SET closed_at = now() WHERE incident = $1 AND area_id = $2 AND closed_at IS NULL`,
			`UPDATE road_closures SET reopened_at = now() WHERE incident = $1 AND area_id = $2 AND reopened_at IS NULL`,
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, incident, areaID); err != nil {
				return fmt.Errorf("reopen: %w", err)
			}
		}
		if err := revokeLiftedPasses(ctx, tx, incident, areaID); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &r, `SELECT
			(SELECT count(*) FROM checkpoints WHERE incident = $1 AND area_id = $2) AS checkpoints,
			(SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
			  WHERE c.incident = $1 AND c.area_id = $2) AS staff_released,
			(SELECT count(*) FROM road_closures WHERE incident = $1 AND area_id = $2) AS roads_reopened`, incident, areaID); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	return r, err
}

// SealRecords counts the rows a seal of an area wrote, for status and tests.
type SealRecords struct {
	Checkpoints       int `db:"checkpoints"`
	OpenCheckpoints   int `db:"open_checkpoints"`
	StaffOnDuty       int `db:"staff_on_duty"`
	StaffAssigned     int `db:"staff_assigned"`
	RoadClosures      int `db:"road_closures"`
	RoadsClosedNow    int `db:"roads_closed_now"`
	DisinfectionTasks int `db:"disinfection_tasks"`
	ComplianceChecks  int `db:"compliance_checks"`
	ComplianceFailed  int `db:"compliance_failed"`
	Notices           int `db:"notices"`
}

// SealRecords counts the rows of an area's seal; with areaID 0, of every
// seal of the incident, with every notice of the incident.
func (s *Store) SealRecords(ctx context.Context, incident string, areaID int64) (SealRecords, error) {
	var r SealRecords
	err := s.db.GetContext(ctx, &r, `SELECT
		(SELECT count(*) FROM checkpoints WHERE incident = $1 AND ($2::bigint = 0 OR area_id = $2)) AS checkpoints,
		(SELECT count(*) FROM checkpoints WHERE incident = $1 AND ($2::bigint = 0 OR area_id = $2) AND closed_at IS NULL) AS open_checkpoints,
		(SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
		  WHERE c.incident = $1 AND ($2::bigint = 0 OR c.area_id = $2) AND cs.released_at IS NULL) AS staff_on_duty,
		(SELECT count(*) FROM checkpoint_staff cs JOIN checkpoints c ON c.id = cs.checkpoint_id
		  WHERE c.incident = $1 AND ($2::bigint = 0 OR c.area_id = $2)) AS staff_assigned,
		(SELECT count(*) FROM road_closures WHERE incident = $1 AND ($2::bigint = 0 OR area_id = $2)) AS road_closures,
		(SELECT count(*) FROM road_closures WHERE incident = $1 AND ($2::bigint = 0 OR area_id = $2) AND reopened_at IS NULL) AS roads_closed_now,
		(SELECT count(*) FROM disinfection_tasks WHERE incident = $1 AND ($2::bigint = 0 OR area_id = $2)) AS disinfection_tasks,
		(SELECT count(*) FROM compliance_checks cc JOIN checkpoints c ON c.id = cc.checkpoint_id
		  WHERE cc.incident = $1 AND ($2::bigint = 0 OR c.area_id = $2)) AS compliance_checks,
		(SELECT count(*) FROM compliance_checks cc JOIN checkpoints c ON c.id = cc.checkpoint_id
		  WHERE cc.incident = $1 AND ($2::bigint = 0 OR c.area_id = $2) AND NOT cc.passed) AS compliance_failed,
		(SELECT count(*) FROM notices WHERE incident = $1 AND ($2::bigint = 0 OR area_id = $2)) AS notices`, incident, areaID)
	if err != nil {
		return SealRecords{}, fmt.Errorf("seal records of area %d: %w", areaID, err)
	}
	return r, nil
}
