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
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

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

func (o PostOrder) check() error {
	switch {
	case o.Incident == "" || o.Step == "":
		return fmt.Errorf("posts: incident and step are required: %w", domain.ErrInvalid)
	case o.AreaID <= 0:
		return fmt.Errorf("posts: area ID %d: %w", o.AreaID, domain.ErrAreaNotFound)
	case !o.To.After(o.From):
		return fmt.Errorf("posts: shift ends (%s) before it starts (%s): %w", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339), domain.ErrInvalid)
	case o.Hours <= 0 || o.Hours > 24:
		return fmt.Errorf("posts: shift of %g hours: want more than 0 and at most 24: %w", o.Hours, domain.ErrInvalid)
	}
	for name, n := range map[string]int{"per_sampling_point": o.PerSamplingPoint, "per_community": o.PerCommunity, "per_supplier": o.PerSupplier, "per_checkpoint": o.PerCheckpoint} {
		if n < 0 || n > 1000 {
			return fmt.Errorf("posts: %s = %d: want 0 to 1000: %w", name, n, domain.ErrInvalid)
		}
	}
	return nil
}

// PlanPosts records the posts a supply step needs staffed, derived from the
// running response: the sampling points, communities and suppliers in the
// area and the incident's open checkpoints there. Posts already recorded
// for the step are kept, so a repeated call changes nothing.
func (s *Store) PlanPosts(ctx context.Context, o PostOrder, e domain.Event) (domain.PostSummary, error) {
	if err := o.check(); err != nil {
		return domain.PostSummary{}, err
	}
	sum := domain.PostSummary{ByKind: map[string]int{}}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var scope string
		if err := tx.GetContext(ctx, &scope, `SELECT path FROM areas WHERE id = $1`, o.AreaID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("posts: area ID %d: %w", o.AreaID, domain.ErrAreaNotFound)
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

// MsgMobilization is the message key of a mobilization notice.
const MsgMobilization = "mobilization"

// AssignStaff fills the step's open posts, nearest first and fairly: each
// post takes staff from its own area before its parent's and so on up the
// tree; among equals, people with fewer hours booked go first; posts are
// filled one person at a time in turn, so scarce staff are spread across
// posts. Nobody goes over their shift limit. Each person assigned gets a
// mobilization notice and a pass for the area. Calling it again only tops
// up posts that are short, so a retry adds nothing.
func (s *Store) AssignStaff(ctx context.Context, o AssignOrder, e domain.Event) (domain.Mobilization, error) {
	var m domain.Mobilization
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
		open, err := openPosts(ctx, tx, o.Step)
		if err != nil {
			return 0, err
		}
		if len(open) == 0 {
			break
		}
		free, err := freeStaff(ctx, tx, o, open, lost)
		if err != nil {
			return 0, err
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
	if err := announceAssignments(ctx, tx, o); err != nil {
		return 0, err
	}
	return total, nil
}

// openPosts returns the step's posts still short of staff.
func openPosts(ctx context.Context, tx *sqlx.Tx, step string) ([]openPost, error) {
	var posts []openPost
	if err := tx.SelectContext(ctx, &posts, `SELECT p.id, p.post, a.path, p.roles, lower(p.shift) AS shift_from, upper(p.shift) AS shift_to, p.hours,
		    p.needed - (SELECT count(*) FROM staff_assignments x WHERE x.post_id = p.id AND x.state IN ('notified', 'acknowledged')) AS missing
		FROM staff_posts p JOIN areas a ON a.id = p.area_id
		WHERE p.step = $1 ORDER BY p.id`, step); err != nil {
		return nil, fmt.Errorf("posts of %s: %w", step, err)
	}
	open := posts[:0]
	for _, p := range posts {
		if p.Missing > 0 {
			open = append(open, p)
		}
	}
	return open, nil
}

// freeStaff returns the people who may take the open posts: of a role the
// posts take, free for the shift, not lapsed on this step before, not at a
// checkpoint, within their shift limit and not lost to another booking in
// an earlier attempt.
func freeStaff(ctx context.Context, tx *sqlx.Tx, o AssignOrder, open []openPost, lost map[int64]bool) ([]candidate, error) {
	roles := map[string]bool{}
	for _, p := range open {
		for _, r := range p.Roles {
			roles[r] = true
		}
	}
	// All posts of a step share its shift.
	from, to, hours := open[0].From, open[0].To, open[0].Hours
	var cands []candidate
	if err := tx.SelectContext(ctx, &cands, `SELECT st.id, st.code, sa.path, st.role, st.max_shift_hours,
		    coalesce((SELECT sum(x.hours) FROM staff_assignments x WHERE x.staff_id = st.id AND x.state IN ('notified', 'acknowledged')), 0) AS booked
		FROM staff st JOIN areas sa ON sa.id = st.area_id
		-- A step draws on its own district's people only.
		WHERE st.district = (SELECT district FROM areas WHERE id = $6)
		  AND st.role = ANY($1) AND (st.signed_up_for IS NULL OR st.signed_up_for = $2)
		  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id
		                  AND x.state IN ('notified', 'acknowledged') AND x.shift && tstzrange($3, $4))
		  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id AND x.step = $5 AND x.state = 'lapsed')
		  -- Nobody standing at a checkpoint is taken away from it.
		  AND NOT EXISTS (SELECT 1 FROM checkpoint_staff cs WHERE cs.staff_id = st.id AND cs.released_at IS NULL)`,
		pq.Array(keys(roles)), o.Incident, from, to, o.Step, o.AreaID); err != nil {
		return nil, fmt.Errorf("candidates for %s: %w", o.Step, err)
	}
	free := cands[:0]
	for _, c := range cands {
		if !lost[c.ID] && c.Booked+hours <= c.Max {
			free = append(free, c)
		}
	}
	return free, nil
}

// announceAssignments tells everyone of the step newly assigned, and gives
// everyone assigned a pass for the order's area.
func announceAssignments(ctx context.Context, tx *sqlx.Tx, o AssignOrder) error {
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
		return fmt.Errorf("mobilization notices: %w", err)
	}
	if o.AreaID > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO passes (code, incident, holder_kind, staff_id, area_id, valid, issued_for)
			SELECT `+passCode+`, x.incident, 'staff', x.staff_id, $2, x.shift, $1 || '/staff/' || st.code
			FROM staff_assignments x JOIN staff st ON st.id = x.staff_id
			WHERE x.step = $1 AND x.state IN ('notified', 'acknowledged')
			ON CONFLICT (incident, issued_for) DO UPDATE SET revoked_at = NULL, revoked_reason = NULL, valid = excluded.valid
			WHERE passes.revoked_reason LIKE 'assignment lapsed%'`, o.Step, o.AreaID); err != nil {
			return fmt.Errorf("passes for %s: %w", o.Step, err)
		}
	}
	return nil
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
		pre := domain.PathPrefixes(p.Path)
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

func mobilization(ctx context.Context, tx *sqlx.Tx, step string) (domain.Mobilization, error) {
	var m domain.Mobilization
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
func (s *Store) MobilizationOf(ctx context.Context, step string) (domain.Mobilization, error) {
	var m domain.Mobilization
	err := s.withTx(ctx, func(tx *sqlx.Tx) (err error) {
		m, err = mobilization(ctx, tx, step)
		return err
	})
	return m, err
}
