package store

// Staff supply: posts a supply step needs staffed, assignments to them,
// acknowledgements, reminders, lapses and volunteer sign-ups. The database
// refuses to book one person twice at the same time (an exclusion
// constraint on staff and shift), whichever response asks, and refuses a
// booking that overlaps the person's checkpoint duty (migration 0008).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/scenario"
)

// ErrStaffBusy is returned when the database refused to book a person who
// another transaction, of this response or another, booked elsewhere for
// overlapping hours first. Picking again finds someone free, so a retry
// mends it: it is never bad input.
var ErrStaffBusy = errors.New("staff already booked")

// oneBookingCode is the SQLSTATE the one_booking_per_person triggers raise
// when a supply assignment and checkpoint duty of one person would overlap.
const oneBookingCode = "23M01"

func isStaffBusy(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == oneBookingCode
}

// staffBusy marks a refused booking as ErrStaffBusy, keeping the database's
// message, which names the person and the booking in the way.
func staffBusy(err error) error {
	if isStaffBusy(err) && !errors.Is(err, ErrStaffBusy) {
		return fmt.Errorf("%w: %w", ErrStaffBusy, err)
	}
	return err
}

// book runs one booking statement under a savepoint. When the database
// refuses it because someone picked was booked elsewhere meanwhile, the
// statement is undone, the transaction stays usable and the refusal is
// returned as lost (ErrStaffBusy) for the caller to pick again; any other
// error is returned as err.
func book(ctx context.Context, tx *sqlx.Tx, stmt func() error) (lost, err error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT booking`); err != nil {
		return nil, err
	}
	if err := stmt(); err != nil {
		if !isStaffBusy(err) {
			return nil, err
		}
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT booking`); rerr != nil {
			return nil, rerr
		}
		return staffBusy(err), nil
	}
	_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT booking`)
	return nil, err
}

// Roles sent to each kind of post, nearest first among them.
var (
	SamplingRoles  = []string{"teacher", "medical", "volunteer"}
	CommunityRoles = []string{"cadre", "community-worker", "grid-worker", "volunteer"}
	SupplierRoles  = []string{"volunteer", "community-worker"}
)

// PostOrder asks for the posts of a supply step in an area: so many staff
// per sampling point, community, supplier and open checkpoint of the
// incident, for one shift.
type PostOrder struct {
	Incident string
	Step     string
	AreaID   int64
	// From and To bound the shift in workflow time; Hours is its length
	// in scenario hours, counted against each person's limit.
	From, To         time.Time
	Hours            float64
	PerSamplingPoint int
	PerCommunity     int
	PerSupplier      int
	PerCheckpoint    int
}

// PostSummary counts a step's posts and the staff they need.
type PostSummary struct {
	Posts  int            `json:"posts"`
	Needed int            `json:"needed"`
	ByKind map[string]int `json:"by_kind"`
}

func (o PostOrder) check() error {
	switch {
	case o.Incident == "" || o.Step == "":
		return fmt.Errorf("posts: incident and step are required: %w", ErrInvalid)
	case o.AreaID <= 0:
		return fmt.Errorf("posts: area ID %d: %w", o.AreaID, ErrNotFound)
	case !o.To.After(o.From):
		return fmt.Errorf("posts: shift ends (%s) before it starts (%s): %w", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339), ErrInvalid)
	case o.Hours <= 0 || o.Hours > 24:
		return fmt.Errorf("posts: shift of %g hours: want more than 0 and at most 24: %w", o.Hours, ErrInvalid)
	}
	for name, n := range map[string]int{"per_sampling_point": o.PerSamplingPoint, "per_community": o.PerCommunity, "per_supplier": o.PerSupplier, "per_checkpoint": o.PerCheckpoint} {
		if n < 0 || n > 1000 {
			return fmt.Errorf("posts: %s = %d: want 0 to 1000: %w", name, n, ErrInvalid)
		}
	}
	return nil
}

// PlanPosts records the posts a supply step needs staffed, derived from the
// running response: the sampling points, communities and suppliers in the
// area and the incident's open checkpoints there. Posts already recorded
// for the step are kept, so a repeated call changes nothing.
func (s *Store) PlanPosts(ctx context.Context, o PostOrder, e Event) (PostSummary, error) {
	if err := o.check(); err != nil {
		return PostSummary{}, err
	}
	sum := PostSummary{ByKind: map[string]int{}}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var scope string
		if err := tx.GetContext(ctx, &scope, `SELECT path FROM areas WHERE id = $1`, o.AreaID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("posts: area ID %d: %w", o.AreaID, ErrNotFound)
			}
			return err
		}
		under := `(a.path = $4 OR a.path LIKE $4 || '/%')`
		shift := `tstzrange($5, $6)`
		kinds := []struct {
			kind  string
			n     int
			roles []string
			from  string
		}{
			{"sampling-point", o.PerSamplingPoint, SamplingRoles,
				`SELECT s.code, s.area_id FROM sites s JOIN areas a ON a.id = s.area_id WHERE s.kind = 'sampling-point' AND ` + under},
			{"community", o.PerCommunity, CommunityRoles,
				`SELECT 'community/' || a.code, a.id FROM areas a WHERE a.level = 'community' AND ` + under},
			{"supplier", o.PerSupplier, SupplierRoles,
				`SELECT 'supplier/' || s.code, sp.area_id FROM suppliers sp JOIN sites s ON s.id = sp.site_id JOIN areas a ON a.id = sp.area_id WHERE ` + under},
			{"checkpoint", o.PerCheckpoint, CheckpointRoles,
				`SELECT 'checkpoint/' || a.code || '/' || g.code, c.area_id FROM checkpoints c JOIN gates g ON g.id = c.gate_id JOIN areas a ON a.id = c.area_id
				 WHERE c.incident = $1 AND c.closed_at IS NULL AND ` + under},
		}
		for _, k := range kinds {
			if k.n == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO staff_posts (incident, step, post, kind, area_id, roles, needed, shift, hours)
				SELECT $1, $2, p.post, $3, p.area_id, $7, $8, `+shift+`, $9 FROM (`+k.from+`) AS p(post, area_id)
				ON CONFLICT (step, post) DO NOTHING`,
				o.Incident, o.Step, k.kind, scope, o.From, o.To, pq.Array(k.roles), k.n, o.Hours); err != nil {
				return fmt.Errorf("posts %s: %w", k.kind, err)
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT kind, count(*), sum(needed) FROM staff_posts WHERE step = $1 GROUP BY kind ORDER BY kind`, o.Step)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kind string
			var posts, needed int
			if err := rows.Scan(&kind, &posts, &needed); err != nil {
				return err
			}
			sum.Posts += posts
			sum.Needed += needed
			sum.ByKind[kind] = needed
		}
		if err := rows.Err(); err != nil {
			return err
		}
		e.Reason = fmt.Sprintf("%d posts need %d staff", sum.Posts, sum.Needed)
		return appendEvent(ctx, tx, e)
	})
	return sum, err
}

// AssignOrder asks to fill a step's posts.
type AssignOrder struct {
	Incident string
	Step     string
	// AreaID is where the passes of the people assigned are valid.
	AreaID int64
	// AckBy is when new assignments must be acknowledged.
	AckBy time.Time
}

// PendingAck is an assignment waiting for its holder's acknowledgement.
type PendingAck struct {
	ID    int64  `db:"id" json:"id"`
	Staff string `db:"staff" json:"staff"`
}

// Mobilization counts a step's staff.
type Mobilization struct {
	Posts        int `db:"posts" json:"posts"`
	Needed       int `db:"needed" json:"needed"`
	Assigned     int `db:"assigned" json:"assigned"`
	Acknowledged int `db:"acknowledged" json:"acknowledged"`
	Pending      int `db:"pending" json:"pending"`
	Lapsed       int `db:"lapsed" json:"lapsed"`
	Reminded     int `db:"reminded" json:"reminded"`
	Shortfall    int `db:"shortfall" json:"shortfall"`
	Passes       int `db:"passes" json:"passes"`
	// New counts the assignments this call made.
	New int `db:"-" json:"new"`
	// PendingAcks lists who still has to acknowledge.
	PendingAcks []PendingAck `db:"-" json:"pending_acks,omitempty"`
}

// MsgMobilization is the message key of a mobilization notice.
const MsgMobilization = "mobilization"

// AssignStaff fills the step's open posts, nearest first and fairly: each
// post takes staff from its own area before its parent's and so on up the
// tree; among equals, people with fewer hours booked go first; posts are
// filled one person at a time in turn, so scarce staff are spread across
// posts. Nobody goes over their shift limit. Each person assigned gets a
// mobilization notice and a pass for the area. Calling it again only tops
// up posts that are short, so a retry adds nothing.
func (s *Store) AssignStaff(ctx context.Context, o AssignOrder, e Event) (Mobilization, error) {
	var m Mobilization
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		n, err := assign(ctx, tx, o)
		if err != nil {
			return err
		}
		if m, err = mobilization(ctx, tx, o.Step); err != nil {
			return err
		}
		m.New = n
		e.Reason = fmt.Sprintf("%d assigned now; %d of %d posts' staff assigned, %d short", n, m.Assigned, m.Needed, m.Shortfall)
		return appendEvent(ctx, tx, e)
	})
	return m, err
}

type openPost struct {
	ID      int64          `db:"id"`
	Post    string         `db:"post"`
	Path    string         `db:"path"`
	Roles   pq.StringArray `db:"roles"`
	Missing int            `db:"missing"`
	From    time.Time      `db:"shift_from"`
	To      time.Time      `db:"shift_to"`
	Hours   float64        `db:"hours"`
}

type candidate struct {
	ID     int64   `db:"id"`
	Code   string  `db:"code"`
	Path   string  `db:"path"`
	Role   string  `db:"role"`
	Booked float64 `db:"booked"`
	Max    float64 `db:"max_shift_hours"`
}

// assign fills open posts and returns how many assignments it made. A
// person another transaction books meanwhile is skipped by the exclusion
// constraint (ON CONFLICT DO NOTHING); one put at a checkpoint meanwhile
// makes the database refuse the statement, which is undone. Either way the
// next attempt reads afresh. When the last attempt was refused, the error
// is ErrStaffBusy and a retry picks again.
func assign(ctx context.Context, tx *sqlx.Tx, o AssignOrder) (int, error) {
	total := 0
	lost := map[int64]bool{}
	var refused error
	for attempt := 0; attempt < 4; attempt++ {
		refused = nil
		var posts []openPost
		if err := tx.SelectContext(ctx, &posts, `SELECT p.id, p.post, a.path, p.roles, lower(p.shift) AS shift_from, upper(p.shift) AS shift_to, p.hours,
			    p.needed - (SELECT count(*) FROM staff_assignments x WHERE x.post_id = p.id AND x.state IN ('notified', 'acknowledged')) AS missing
			FROM staff_posts p JOIN areas a ON a.id = p.area_id
			WHERE p.step = $1 ORDER BY p.id`, o.Step); err != nil {
			return 0, fmt.Errorf("posts of %s: %w", o.Step, err)
		}
		open := posts[:0]
		roles := map[string]bool{}
		for _, p := range posts {
			if p.Missing > 0 {
				open = append(open, p)
				for _, r := range p.Roles {
					roles[r] = true
				}
			}
		}
		if len(open) == 0 {
			break
		}
		// All posts of a step share its shift.
		from, to, hours := open[0].From, open[0].To, open[0].Hours
		var cands []candidate
		if err := tx.SelectContext(ctx, &cands, `SELECT st.id, st.code, sa.path, st.role, st.max_shift_hours,
			    coalesce((SELECT sum(x.hours) FROM staff_assignments x WHERE x.staff_id = st.id AND x.state IN ('notified', 'acknowledged')), 0) AS booked
			FROM staff st JOIN areas sa ON sa.id = st.area_id
			WHERE st.role = ANY($1) AND (st.signed_up_for IS NULL OR st.signed_up_for = $2)
			  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id
			                  AND x.state IN ('notified', 'acknowledged') AND x.shift && tstzrange($3, $4))
			  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id AND x.step = $5 AND x.state = 'lapsed')
			  -- Nobody standing at a checkpoint is taken away from it.
			  AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id AND cs.released_at IS NULL)`,
			pq.Array(keys(roles)), o.Incident, from, to, o.Step); err != nil {
			return 0, fmt.Errorf("candidates for %s: %w", o.Step, err)
		}
		free := cands[:0]
		for _, c := range cands {
			if !lost[c.ID] && c.Booked+hours <= c.Max {
				free = append(free, c)
			}
		}
		postIDs, staffIDs := match(open, free)
		if len(postIDs) == 0 {
			break
		}
		var got []struct {
			Post  int64 `db:"post_id"`
			Staff int64 `db:"staff_id"`
		}
		// Rows go in staff order, so two transactions booking the same
		// people wait for each other instead of deadlocking.
		var err error
		refused, err = book(ctx, tx, func() error {
			return tx.SelectContext(ctx, &got, `INSERT INTO staff_assignments (post_id, incident, step, staff_id, shift, hours, ack_by)
				SELECT u.post, $1, $2, u.staff, p.shift, p.hours, $3
				FROM unnest($4::bigint[], $5::bigint[]) AS u(post, staff) JOIN staff_posts p ON p.id = u.post
				ORDER BY u.staff
				ON CONFLICT DO NOTHING
				RETURNING post_id, staff_id`, o.Incident, o.Step, o.AckBy, pq.Array(postIDs), pq.Array(staffIDs))
		})
		if err != nil {
			return 0, fmt.Errorf("assign staff for %s: %w", o.Step, err)
		}
		if refused != nil {
			// The person in the way is on checkpoint duty now, committed,
			// so the next attempt's candidates leave them out.
			continue
		}
		total += len(got)
		if len(got) == len(postIDs) {
			break
		}
		booked := map[int64]bool{}
		for _, g := range got {
			booked[g.Staff] = true
		}
		for _, id := range staffIDs {
			if !booked[id] {
				lost[id] = true
			}
		}
	}
	if refused != nil {
		return 0, fmt.Errorf("assign staff for %s: %w", o.Step, refused)
	}
	if total == 0 {
		return 0, nil
	}
	// Everyone newly assigned is told, and gets a pass for the area.
	// The notice keeps its message key and arguments, so each route gets it
	// in its own language (internal/notify/messages).
	if _, err := tx.ExecContext(ctx, `INSERT INTO notices (dedup_key, incident, area_id, audience, kind, body, message_key, message_args)
		SELECT 'mobilize|' || x.id, x.incident, p.area_id, 'staff ' || st.code, 'mobilization/' || x.id,
		       format('You are assigned to %s (%s) for incident %s, shift %s to %s. Acknowledge by %s: muster supply ack %s --staff %s',
		              y.post, y.kind, x.incident, y.shift_from, y.shift_to, y.ack_by, x.id, st.code),
		       $2, jsonb_build_object('post', y.post, 'post_kind', y.kind, 'incident', x.incident, 'from', y.shift_from, 'to', y.shift_to,
		              'ack_by', y.ack_by, 'assignment', x.id::text, 'staff', st.code)
		FROM staff_assignments x JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id,
		     LATERAL (SELECT p.post, p.kind, to_char(lower(x.shift), 'YYYY-MM-DD HH24:MI') AS shift_from,
		              to_char(upper(x.shift), 'YYYY-MM-DD HH24:MI') AS shift_to, to_char(x.ack_by, 'YYYY-MM-DD HH24:MI:SS') AS ack_by) y
		WHERE x.step = $1 AND x.state = 'notified'
		ON CONFLICT (dedup_key) DO NOTHING`, o.Step, MsgMobilization); err != nil {
		return 0, fmt.Errorf("mobilization notices: %w", err)
	}
	if o.AreaID > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO passes (code, incident, holder_kind, staff_id, area_id, valid, issued_for)
			SELECT `+passCode+`, x.incident, 'staff', x.staff_id, $2, x.shift, $1 || '/staff/' || st.code
			FROM staff_assignments x JOIN staff st ON st.id = x.staff_id
			WHERE x.step = $1 AND x.state IN ('notified', 'acknowledged')
			ON CONFLICT (incident, issued_for) DO UPDATE SET revoked_at = NULL, revoked_reason = NULL, valid = excluded.valid
			WHERE passes.revoked_reason LIKE 'assignment lapsed%'`, o.Step, o.AreaID); err != nil {
			return 0, fmt.Errorf("passes for %s: %w", o.Step, err)
		}
	}
	return total, nil
}

// match assigns free staff to open posts: round by round every post short
// of staff takes one person, the nearest (its own area's staff, then its
// parent's, up to the top) and among those the least booked, then by code.
// It returns parallel lists of post and staff IDs.
func match(posts []openPost, free []candidate) (postIDs, staffIDs []int64) {
	sort.Slice(free, func(i, j int) bool {
		if free[i].Booked != free[j].Booked {
			return free[i].Booked < free[j].Booked
		}
		return free[i].Code < free[j].Code
	})
	// Buckets of free staff by home area and role, best first.
	buckets := map[string][]candidate{}
	for _, c := range free {
		k := c.Path + "|" + c.Role
		buckets[k] = append(buckets[k], c)
	}
	chains := make([][]string, len(posts))
	missing := make([]int, len(posts))
	for i, p := range posts {
		pre := PathPrefixes(p.Path)
		for l, r := 0, len(pre)-1; l < r; l, r = l+1, r-1 {
			pre[l], pre[r] = pre[r], pre[l]
		}
		chains[i], missing[i] = pre, p.Missing
	}
	for progress := true; progress; {
		progress = false
		for i, p := range posts {
			if missing[i] == 0 {
				continue
			}
			for _, path := range chains[i] {
				best := ""
				for _, r := range p.Roles {
					k := path + "|" + r
					if b := buckets[k]; len(b) > 0 && (best == "" || better(b[0], buckets[best][0])) {
						best = k
					}
				}
				if best != "" {
					c := buckets[best][0]
					buckets[best] = buckets[best][1:]
					postIDs, staffIDs = append(postIDs, p.ID), append(staffIDs, c.ID)
					missing[i]--
					progress = true
					break
				}
			}
		}
	}
	return postIDs, staffIDs
}

func better(a, b candidate) bool {
	if a.Booked != b.Booked {
		return a.Booked < b.Booked
	}
	return a.Code < b.Code
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mobilization(ctx context.Context, tx *sqlx.Tx, step string) (Mobilization, error) {
	var m Mobilization
	if err := tx.GetContext(ctx, &m, `SELECT
		(SELECT count(*) FROM staff_posts WHERE step = $1) AS posts,
		(SELECT coalesce(sum(needed), 0) FROM staff_posts WHERE step = $1) AS needed,
		count(*) FILTER (WHERE state IN ('notified', 'acknowledged')) AS assigned,
		count(*) FILTER (WHERE state = 'acknowledged') AS acknowledged,
		count(*) FILTER (WHERE state = 'notified') AS pending,
		count(*) FILTER (WHERE state = 'lapsed') AS lapsed,
		count(*) FILTER (WHERE reminded_at IS NOT NULL) AS reminded,
		(SELECT count(*) FROM passes WHERE issued_for LIKE $1 || '/staff/%' AND revoked_at IS NULL) AS passes
		FROM staff_assignments WHERE step = $1`, step); err != nil {
		return m, fmt.Errorf("mobilization of %s: %w", step, err)
	}
	m.Shortfall = max(0, m.Needed-m.Assigned)
	if err := tx.SelectContext(ctx, &m.PendingAcks, `SELECT x.id, st.code AS staff FROM staff_assignments x JOIN staff st ON st.id = x.staff_id
		WHERE x.step = $1 AND x.state = 'notified' ORDER BY x.id`, step); err != nil {
		return m, err
	}
	return m, nil
}

// MobilizationOf returns a step's staff counts.
func (s *Store) MobilizationOf(ctx context.Context, step string) (Mobilization, error) {
	var m Mobilization
	err := s.withTx(ctx, func(tx *sqlx.Tx) (err error) {
		m, err = mobilization(ctx, tx, step)
		return err
	})
	return m, err
}

// Assignment is one person's assignment, as the field sees it.
type Assignment struct {
	ID       int64     `db:"id" json:"id"`
	Incident string    `db:"incident" json:"incident"`
	Step     string    `db:"step" json:"step"`
	Post     string    `db:"post" json:"post"`
	Staff    string    `db:"staff" json:"staff"`
	State    string    `db:"state" json:"state"`
	AckBy    time.Time `db:"ack_by" json:"ack_by"`
	From     time.Time `db:"shift_from" json:"shift_from"`
	To       time.Time `db:"shift_to" json:"shift_to"`
}

const assignmentColumns = `x.id, x.incident, x.step, p.post, st.code AS staff, x.state, x.ack_by, lower(x.shift) AS shift_from, upper(x.shift) AS shift_to`

// AssignmentByID returns an assignment.
func (s *Store) AssignmentByID(ctx context.Context, id int64) (Assignment, error) {
	var a Assignment
	err := s.db.GetContext(ctx, &a, `SELECT `+assignmentColumns+` FROM staff_assignments x
		JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id WHERE x.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("assignment %d: %w", id, ErrNotFound)
	}
	return a, err
}

// Assignments lists an incident's assignments, optionally of one person.
func (s *Store) Assignments(ctx context.Context, incident, staff string) ([]Assignment, error) {
	out := []Assignment{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+assignmentColumns+` FROM staff_assignments x
		JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id
		WHERE x.incident = $1 AND ($2 = '' OR st.code = $2) ORDER BY x.id`, incident, staff)
	return out, err
}

// Acknowledge records that the holder of an assignment acknowledged it.
// Only the person assigned may acknowledge; a lapsed or ended assignment
// cannot be, nor one past its acknowledgement deadline, nor one of a
// response that has closed; acknowledging twice is the same as once.
func (s *Store) Acknowledge(ctx context.Context, id int64, staff string, at time.Time) (Assignment, error) {
	var a Assignment
	staff = strings.TrimSpace(staff)
	if staff == "" {
		return a, fmt.Errorf("staff: name the person acknowledging (their staff code): %w", ErrInvalid)
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &a, `SELECT `+assignmentColumns+` FROM staff_assignments x
			JOIN staff_posts p ON p.id = x.post_id JOIN staff st ON st.id = x.staff_id WHERE x.id = $1 FOR UPDATE OF x`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("assignment %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case a.Staff != staff:
			return fmt.Errorf("assignment %d is not %s's: only the person assigned can acknowledge it: %w", id, staff, ErrConflict)
		case a.State == "acknowledged":
			return nil
		case a.State == "lapsed":
			return fmt.Errorf("assignment %d lapsed: it was not acknowledged by %s and the post went to someone else: %w", id, a.AckBy.Format(time.RFC3339), ErrConflict)
		case a.State == "released":
			return fmt.Errorf("assignment %d has ended: %w", id, ErrConflict)
		case at.After(a.AckBy):
			return fmt.Errorf("assignment %d was to be acknowledged by %s: too late, the post goes to someone else: %w", id, a.AckBy.Format(time.RFC3339), ErrConflict)
		}
		var state string
		err = tx.GetContext(ctx, &state, `SELECT state FROM responses WHERE incident = $1`, a.Incident)
		switch {
		case err == nil && (state == "closed" || state == "aborted"):
			return fmt.Errorf("assignment %d: the response of incident %s has %s: %w", id, a.Incident, state, ErrConflict)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff_assignments SET state = 'acknowledged', acknowledged_at = $2 WHERE id = $1`, id, at); err != nil {
			return fmt.Errorf("acknowledge %d: %w", id, err)
		}
		a.State = "acknowledged"
		return appendEvent(ctx, tx, Event{Incident: a.Incident, WorkflowID: a.Step, Step: fmt.Sprintf("ack/%d", id), State: "done", Actor: "staff " + staff, Reason: "assignment acknowledged"})
	})
	return a, err
}

// Remind sends a reminder to everyone of the step who has not acknowledged
// yet and has not been reminded, and returns how many were reminded.
func (s *Store) Remind(ctx context.Context, step string, at time.Time, e Event) (int, error) {
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
func (s *Store) Reassign(ctx context.Context, o AssignOrder, now time.Time, e Event) (Mobilization, error) {
	var m Mobilization
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
func (s *Store) ReleaseStaff(ctx context.Context, step string, at time.Time, e Event) (int, error) {
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

// VolunteerDrive takes volunteer sign-ups for an incident's area until the
// quota is reached or it closes.
type VolunteerDrive struct {
	Incident string    `db:"incident" json:"incident"`
	AreaID   int64     `db:"area_id" json:"-"`
	Area     string    `db:"area" json:"area"`
	Step     string    `db:"step" json:"step"`
	Quota    int       `db:"quota" json:"quota"`
	ClosesAt time.Time `db:"closes_at" json:"closes_at"`
	SignedUp int       `db:"signed_up" json:"signed_up"`
}

// OpenVolunteerDrive opens the drive once; a repeated call returns it.
func (s *Store) OpenVolunteerDrive(ctx context.Context, d VolunteerDrive, e Event) (VolunteerDrive, error) {
	if d.Quota < 0 || d.Quota > 100000 {
		return d, fmt.Errorf("volunteer quota %d: want 0 to 100000: %w", d.Quota, ErrInvalid)
	}
	var out VolunteerDrive
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

func drive(ctx context.Context, tx *sqlx.Tx, incident string, areaID int64, lock bool) (VolunteerDrive, error) {
	var d VolunteerDrive
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
		return d, fmt.Errorf("no volunteer drive for incident %q in area %d: %w", incident, areaID, ErrNotFound)
	}
	return d, err
}

// VolunteerDriveOf returns an incident's drive in an area.
func (s *Store) VolunteerDriveOf(ctx context.Context, incident string, areaID int64) (VolunteerDrive, error) {
	var d VolunteerDrive
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
		return res, fmt.Errorf("name: give the volunteer's name (at most 100 characters): %w", ErrInvalid)
	case u.Key == "" || len(u.Key) > 100:
		return res, fmt.Errorf("key: give the sign-up's ID (at most 100 characters): %w", ErrInvalid)
	}
	for i, sk := range u.Skills {
		if !codeLike(sk) {
			return res, fmt.Errorf("skills[%d]: %q is not a skill code (lower-case letters, digits and '-'): %w", i, sk, ErrInvalid)
		}
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var areaID int64
		if err := tx.GetContext(ctx, &areaID, `SELECT id FROM areas WHERE code = $1`, u.Area); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("area: unknown area %q: %w", u.Area, ErrNotFound)
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
			return fmt.Errorf("the volunteer drive of %s closed at %s: %w", d.Area, d.ClosesAt.Format(time.RFC3339), ErrConflict)
		case d.SignedUp >= d.Quota:
			return fmt.Errorf("the volunteer drive of %s is full (%d of %d): %w", d.Area, d.SignedUp, d.Quota, ErrConflict)
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
		return appendEvent(ctx, tx, Event{Incident: u.Incident, WorkflowID: d.Step, Step: "signup/" + res.Staff, State: "done", Actor: "volunteer", Reason: "volunteer signed up"})
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

// loadStaffProfiles writes the staff entries' groups, skills and shift
// limits.
func loadStaffProfiles(ctx context.Context, tx *sqlx.Tx, staff []scenario.StaffRow) error {
	n := len(staff)
	codes, groups, skills, limits := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, st := range staff {
		codes[i], groups[i], limits[i] = st.Code, st.Group, int64(st.MaxShiftHours)
		if limits[i] == 0 {
			limits[i] = 12
		}
		skills[i] = strings.Join(st.Skills, ",")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET group_code = u.grp, skills = coalesce(string_to_array(nullif(u.skills, ''), ','), '{}'), max_shift_hours = u.lim
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS u(code, grp, skills, lim)
		WHERE staff.code = u.code AND (staff.group_code, staff.max_shift_hours, staff.skills)
		      IS DISTINCT FROM (u.grp, u.lim, coalesce(string_to_array(nullif(u.skills, ''), ','), '{}'))`,
		pq.Array(codes), pq.Array(groups), pq.Array(skills), pq.Array(limits)); err != nil {
		return fmt.Errorf("staff groups: %w", err)
	}
	return nil
}

// loadSuppliers writes the supermarkets and markets as suppliers with their
// stock. A stock row already recorded is kept: the scenario gives the stock
// at the start, reports change it since.
func loadSuppliers(ctx context.Context, tx *sqlx.Tx, rows []scenario.SiteRow, res *LoadResult) error {
	var sites, serves, stockSites, commodities []string
	var tonnes []float64
	for _, s := range rows {
		if s.Kind != "supermarket" && s.Kind != "market" {
			continue
		}
		area := s.Serves
		if area == "" {
			area = s.AreaCode
		}
		sites, serves = append(sites, s.Code), append(serves, area)
		for c, t := range s.Stock {
			stockSites, commodities, tonnes = append(stockSites, s.Code), append(commodities, c), append(tonnes, t)
		}
	}
	if err := count(ctx, tx, "suppliers", res, `INSERT INTO suppliers (site_id, area_id)
		SELECT s.id, a.id FROM unnest($1::text[], $2::text[]) AS u(site, area) JOIN sites s ON s.code = u.site JOIN areas a ON a.code = u.area
		ON CONFLICT (site_id) DO UPDATE SET area_id = excluded.area_id WHERE suppliers.area_id <> excluded.area_id
		RETURNING (xmax = 0)`, pq.Array(sites), pq.Array(serves)); err != nil {
		return fmt.Errorf("suppliers: %w", err)
	}
	return count(ctx, tx, "supplier_stock", res, `INSERT INTO supplier_stock (site_id, commodity, tonnes)
		SELECT s.id, u.commodity, u.tonnes FROM unnest($1::text[], $2::text[], $3::numeric[]) AS u(site, commodity, tonnes)
		JOIN sites s ON s.code = u.site
		ON CONFLICT (site_id, commodity) DO NOTHING
		RETURNING (xmax = 0)`, pq.Array(stockSites), pq.Array(commodities), pq.Array(tonnes))
}
