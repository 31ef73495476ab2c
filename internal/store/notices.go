// Delivery of notices: routing the outbox to channels, claiming deliveries
// under a lease, recording attempts and receipts, and the operator's view.

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// RoutableNotice is a notice waiting to be routed, with what routing needs:
// the district it belongs to (the first segment of its area's path, or of its
// response's area when it has none) and its area's code, path and name.
type RoutableNotice struct {
	ID        int64     `db:"id"`
	Incident  string    `db:"incident"`
	Kind      string    `db:"kind"`
	Audience  string    `db:"audience"`
	AreaCode  string    `db:"area_code"`
	AreaPath  string    `db:"area_path"`
	AreaName  string    `db:"area_name"`
	CreatedAt time.Time `db:"created_at"`
}

// DeliveryPlan is one delivery routing decided for a notice. A plan whose
// Reason is set is parked undelivered at once (no route for the audience).
type DeliveryPlan struct {
	Channel       string
	ChannelType   string
	Target        string
	AudienceClass string
	Locale        string
	Reason        string
}

// RouteNotices routes up to limit unrouted notices: plan says where each
// goes, and its deliveries are written with the notice marked routed, in one
// transaction. Notices another dispatcher is routing are skipped.
func (s *Store) RouteNotices(ctx context.Context, limit int, plan func(RoutableNotice) []DeliveryPlan) (int, error) {
	n := 0
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var ns []RoutableNotice
		if err := tx.SelectContext(ctx, &ns, `SELECT n.id, n.incident, n.kind, n.audience, n.created_at,
			    coalesce(a.code, '') AS area_code, coalesce(a.path, r.area_path, '') AS area_path, coalesce(a.name, '') AS area_name
			FROM notices n
			LEFT JOIN areas a ON a.id = n.area_id
			LEFT JOIN responses r ON r.incident = n.incident
			WHERE n.routed_at IS NULL ORDER BY n.id LIMIT $1 FOR UPDATE OF n SKIP LOCKED`, limit); err != nil {
			return fmt.Errorf("unrouted notices: %w", err)
		}
		var ids []int64
		var channels, types, targets, classes, locales, states, reasons, keys []string
		for _, rn := range ns {
			for _, p := range plan(rn) {
				state := domain.DeliveryPending
				if p.Reason != "" {
					state = domain.DeliveryUndelivered
				}
				ids = append(ids, rn.ID)
				channels, types, targets = append(channels, p.Channel), append(types, p.ChannelType), append(targets, p.Target)
				classes, locales = append(classes, p.AudienceClass), append(locales, p.Locale)
				states, reasons = append(states, state), append(reasons, p.Reason)
				keys = append(keys, IdempotencyKey(rn.ID, p.Channel, p.Target))
			}
		}
		if len(ids) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notice_deliveries
				    (notice_id, channel, channel_type, target, audience_class, locale, state, reason, idempotency_key)
				SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
				ON CONFLICT (notice_id, channel, target) DO NOTHING`,
				pq.Array(ids), pq.Array(channels), pq.Array(types), pq.Array(targets), pq.Array(classes),
				pq.Array(locales), pq.Array(states), pq.Array(reasons), pq.Array(keys)); err != nil {
				return fmt.Errorf("insert deliveries: %w", err)
			}
		}
		if len(ids) > 0 {
			var parked []int64
			if err := tx.SelectContext(ctx, &parked, `SELECT id FROM notice_deliveries WHERE notice_id = ANY($1) AND state = 'undelivered'`, pq.Array(ids)); err != nil {
				return fmt.Errorf("parked deliveries: %w", err)
			}
			if err := logUndelivered(ctx, tx, parked); err != nil {
				return err
			}
		}
		all := make([]int64, len(ns))
		for i, rn := range ns {
			all[i] = rn.ID
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notices SET routed_at = now() WHERE id = ANY($1)`, pq.Array(all)); err != nil {
			return fmt.Errorf("mark notices routed: %w", err)
		}
		n = len(ns)
		return nil
	})
	return n, err
}

// IdempotencyKey is the key a delivery carries on every attempt: derived from
// the notice and the route only, so that re-routing the same notice to the
// same place yields the same key.
func IdempotencyKey(noticeID int64, channel, target string) string {
	k := "notice-" + strconv.FormatInt(noticeID, 10) + "-" + channel
	if target != "" {
		k += "-" + target
	}
	return k
}

// NoticeJob is a claimed delivery with its notice.
type NoticeJob struct {
	ID             int64     `db:"id"`
	NoticeID       int64     `db:"notice_id"`
	Channel        string    `db:"channel"`
	ChannelType    string    `db:"channel_type"`
	Target         string    `db:"target"`
	AudienceClass  string    `db:"audience_class"`
	Locale         string    `db:"locale"`
	IdempotencyKey string    `db:"idempotency_key"`
	Attempt        int       `db:"attempts"`
	Incident       string    `db:"incident"`
	Kind           string    `db:"kind"`
	Audience       string    `db:"audience"`
	Body           string    `db:"body"`
	Message        string    `db:"message_key"`
	MessageArgs    JSONArgs  `db:"message_args"`
	AreaCode       string    `db:"area_code"`
	AreaName       string    `db:"area_name"`
	CreatedAt      time.Time `db:"created_at"`
}

// JSONArgs are a message's arguments, kept as a JSON object.
type JSONArgs map[string]string

// Scan reads a JSON object column.
func (a *JSONArgs) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*a = nil
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("message args: unexpected %T", src)
	}
	return json.Unmarshal(b, (*map[string]string)(a))
}

// ClaimDeliveries leases up to limit due pending deliveries to owner until
// the lease ends. A delivery whose lease has run out (its dispatcher died) is
// due again; each claim counts as an attempt.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, lease time.Duration, limit int) ([]NoticeJob, error) {
	var ds []NoticeJob
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &ds, `WITH due AS (
			    SELECT id FROM notice_deliveries
			    WHERE state = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
			    ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
			claimed AS (
			    UPDATE notice_deliveries d SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond', attempts = d.attempts + 1
			    FROM due WHERE d.id = due.id RETURNING d.*)
			SELECT c.id, c.notice_id, c.channel, c.channel_type, c.target, c.audience_class, c.locale, c.idempotency_key, c.attempts,
			       n.incident, n.kind, n.audience, n.body, coalesce(n.message_key, '') AS message_key, n.message_args, n.created_at, coalesce(a.code, '') AS area_code, coalesce(a.name, '') AS area_name
			FROM claimed c JOIN notices n ON n.id = c.notice_id LEFT JOIN areas a ON a.id = n.area_id
			ORDER BY c.id`, owner, lease.Milliseconds(), limit)
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return ds, nil
}

// Attempt is the outcome of one attempt at a delivery.
type Attempt struct {
	DeliveryID int64
	Attempt    int
	Worker     string
	StartedAt  time.Time
	Status     int
	ReceiptID  string
	// Outcome is sent, delivered, retry or undelivered.
	Outcome string
	Error   string
	// NextAttempt is when a retry is due.
	NextAttempt time.Time
}

// ErrLeaseLost is returned when a delivery's lease passed to another
// dispatcher before the attempt was recorded; the attempt row is kept, the
// delivery is left to its new holder.
var ErrLeaseLost = errors.New("delivery lease lost")

// RecordAttempt records an attempt and moves its delivery on, if owner still
// holds it for this attempt. A notice all of whose deliveries are sent or
// delivered is marked published.
func (s *Store) RecordAttempt(ctx context.Context, a Attempt) error {
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notice_attempts (delivery_id, attempt, worker, started_at, status, receipt_id, outcome, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (delivery_id, attempt) DO NOTHING`,
			a.DeliveryID, a.Attempt, a.Worker, a.StartedAt, a.Status, a.ReceiptID, a.Outcome, a.Error); err != nil {
			return fmt.Errorf("record attempt %d of delivery %d: %w", a.Attempt, a.DeliveryID, err)
		}
		var res sql.Result
		var err error
		switch a.Outcome {
		case "retry":
			res, err = tx.ExecContext(ctx, `UPDATE notice_deliveries SET next_attempt_at = $4, reason = $5, lease_owner = NULL, lease_until = NULL
				WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'pending'`,
				a.DeliveryID, a.Worker, a.Attempt, a.NextAttempt, a.Error)
		case domain.DeliveryUndelivered:
			res, err = tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'undelivered', reason = $4, lease_owner = NULL, lease_until = NULL
				WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'pending'`,
				a.DeliveryID, a.Worker, a.Attempt, a.Error)
		case domain.DeliverySent, domain.DeliveryDelivered:
			res, err = tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = $4, reason = '', receipt_id = $5,
				    sent_at = now(), delivered_at = CASE WHEN $4 = 'delivered' THEN now() END, lease_owner = NULL, lease_until = NULL
				WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'pending'`,
				a.DeliveryID, a.Worker, a.Attempt, a.Outcome, a.ReceiptID)
			if err == nil {
				_, err = tx.ExecContext(ctx, `UPDATE notices n SET published_at = now()
					WHERE n.id = (SELECT notice_id FROM notice_deliveries WHERE id = $1) AND n.published_at IS NULL
					AND NOT EXISTS (SELECT 1 FROM notice_deliveries d WHERE d.notice_id = n.id AND d.state NOT IN ('sent', 'delivered'))`, a.DeliveryID)
			}
		default:
			return fmt.Errorf("record attempt: outcome %q is not sent, delivered, retry or undelivered", a.Outcome)
		}
		if err != nil {
			return fmt.Errorf("update delivery %d: %w", a.DeliveryID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delivery %d attempt %d: %w", a.DeliveryID, a.Attempt, ErrLeaseLost)
		}
		if a.Outcome == domain.DeliveryUndelivered {
			return logUndelivered(ctx, tx, []int64{a.DeliveryID})
		}
		return nil
	})
}

// logUndelivered appends a parked delivery to its incident's event log: it
// is a stalled step of the response until a person resends it.
func logUndelivered(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	var rows []struct {
		ID       int64  `db:"id"`
		Incident string `db:"incident"`
		Attempts int    `db:"attempts"`
		Reason   string `db:"reason"`
		Channel  string `db:"channel"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT d.id, n.incident, d.attempts, d.reason, d.channel
		FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id WHERE d.id = ANY($1) AND d.state = 'undelivered'`, pq.Array(ids)); err != nil {
		return fmt.Errorf("undelivered deliveries: %w", err)
	}
	for _, r := range rows {
		if err := appendEvent(ctx, tx, domain.Event{
			Incident: r.Incident, WorkflowID: "notices/" + r.Incident, Step: "notice-delivery/" + strconv.FormatInt(r.ID, 10),
			State: domain.DeliveryUndelivered, Reason: r.Channel + ": " + r.Reason, Actor: "muster", Seq: strconv.Itoa(r.Attempts),
		}); err != nil {
			return err
		}
	}
	return nil
}

// NoticeFilter selects deliveries for the operator's list.
type NoticeFilter struct {
	Incident string
	State    string
	Limit    int
}

// NoticeDelivery is one delivery as an operator sees it.
type NoticeDelivery struct {
	ID          int64      `db:"id" json:"id"`
	NoticeID    int64      `db:"notice_id" json:"notice_id"`
	Incident    string     `db:"incident" json:"incident"`
	Kind        string     `db:"kind" json:"kind"`
	Audience    string     `db:"audience" json:"audience"`
	Channel     string     `db:"channel" json:"channel"`
	ChannelType string     `db:"channel_type" json:"channel_type"`
	Target      string     `db:"target" json:"target,omitempty"`
	Locale      string     `db:"locale" json:"locale"`
	State       string     `db:"state" json:"state"`
	Attempts    int        `db:"attempts" json:"attempts"`
	Reason      string     `db:"reason" json:"reason,omitempty"`
	ReceiptID   string     `db:"receipt_id" json:"receipt_id,omitempty"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	SentAt      *time.Time `db:"sent_at" json:"sent_at,omitempty"`
	NextAttempt time.Time  `db:"next_attempt_at" json:"next_attempt_at"`
}

// ValidDeliveryState reports whether s names a delivery state.
func ValidDeliveryState(s string) bool {
	for _, v := range domain.DeliveryStates {
		if s == v {
			return true
		}
	}
	return false
}

// ListDeliveries returns the deliveries of an incident's notices, oldest
// first, optionally in one state.
func (s *Store) ListDeliveries(ctx context.Context, f NoticeFilter) ([]NoticeDelivery, error) {
	if f.State != "" && !ValidDeliveryState(f.State) {
		return nil, fmt.Errorf("state %q: want pending, sent, delivered or undelivered", f.State)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	var out []NoticeDelivery
	err := s.db.SelectContext(ctx, &out, `SELECT d.id, d.notice_id, n.incident, n.kind, n.audience, d.channel, d.channel_type, d.target,
		    d.locale, d.state, d.attempts, d.reason, d.receipt_id, d.created_at, d.sent_at, d.next_attempt_at
		FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
		WHERE ($1 = '' OR n.incident = $1) AND ($2 = '' OR d.state = $2)
		ORDER BY d.id LIMIT $3`, f.Incident, f.State, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// ResendDelivery puts an undelivered delivery back in the queue, due now,
// with the same idempotency key, and logs who asked and why.
func (s *Store) ResendDelivery(ctx context.Context, id int64, actor, reason string) (NoticeDelivery, error) {
	var d NoticeDelivery
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var state, incident string
		err := tx.QueryRowxContext(ctx, `SELECT d.state, n.incident FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
			WHERE d.id = $1 FOR UPDATE OF d`, id).Scan(&state, &incident)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("delivery %d: %w", id, domain.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delivery %d: %w", id, err)
		}
		if state != domain.DeliveryUndelivered {
			return fmt.Errorf("delivery %d is %s: %w", id, state, ErrNotResendable)
		}
		var channel string
		var noticeID int64
		if err := tx.QueryRowxContext(ctx, `SELECT channel, notice_id FROM notice_deliveries WHERE id = $1`, id).Scan(&channel, &noticeID); err != nil {
			return fmt.Errorf("delivery %d: %w", id, err)
		}
		if channel == "none" {
			// No route matched when the notice was routed: route it again
			// with the routes in force now. The placeholder delivery never
			// had an attempt, so it goes.
			if _, err := tx.ExecContext(ctx, `DELETE FROM notice_deliveries WHERE id = $1`, id); err != nil {
				return fmt.Errorf("resend delivery %d: %w", id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE notices SET routed_at = NULL WHERE id = $1`, noticeID); err != nil {
				return fmt.Errorf("re-route notice %d: %w", noticeID, err)
			}
			d = NoticeDelivery{ID: id, NoticeID: noticeID, Incident: incident, Channel: channel, State: domain.DeliveryPending}
			return appendEvent(ctx, tx, domain.Event{
				Incident: incident, WorkflowID: "notices/" + incident, Step: "notice-delivery/" + strconv.FormatInt(id, 10),
				State: "resent", Reason: strings.TrimSpace("routed again " + reason), Actor: actor,
			})
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'pending', next_attempt_at = now(), reason = '',
			lease_owner = NULL, lease_until = NULL WHERE id = $1`, id); err != nil {
			return fmt.Errorf("resend delivery %d: %w", id, err)
		}
		var attempts int
		if err := tx.GetContext(ctx, &attempts, `SELECT attempts FROM notice_deliveries WHERE id = $1`, id); err != nil {
			return err
		}
		why := "resent"
		if reason != "" {
			why += ": " + reason
		}
		if err := appendEvent(ctx, tx, domain.Event{
			Incident: incident, WorkflowID: "notices/" + incident, Step: "notice-delivery/" + strconv.FormatInt(id, 10),
			State: "resent", Reason: why, Actor: actor, Seq: strconv.Itoa(attempts),
		}); err != nil {
			return err
		}
		return tx.GetContext(ctx, &d, `SELECT d.id, d.notice_id, n.incident, n.kind, n.audience, d.channel, d.channel_type, d.target,
		    d.locale, d.state, d.attempts, d.reason, d.receipt_id, d.created_at, d.sent_at, d.next_attempt_at
			FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id WHERE d.id = $1`, id)
	})
	return d, err
}

// ErrNotResendable is returned when an operator resends a delivery that is
// not undelivered.
var ErrNotResendable = errors.New("only an undelivered notice can be resent")

// NoticeCounts counts an incident's deliveries per state, every state
// present (zero when none), plus the notices not routed yet as pending.
func (s *Store) NoticeCounts(ctx context.Context, incident string) (map[string]int, error) {
	out := map[string]int{}
	for _, st := range domain.DeliveryStates {
		out[st] = 0
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.state, count(*) FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
		WHERE n.incident = $1 GROUP BY d.state
		UNION ALL SELECT 'pending', count(*) FROM notices WHERE incident = $1 AND routed_at IS NULL`, incident)
	if err != nil {
		return nil, fmt.Errorf("notice counts of %s: %w", incident, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] += n
	}
	return out, rows.Err()
}

// DeliveryStats is what the metrics report across all districts.
type DeliveryStats struct {
	ByState map[string]int
	// Latencies are the seconds from notice to sent, of the deliveries sent
	// since the given time.
	Latencies []float64
}

// DeliveryStatsSince counts deliveries per state and returns the latencies
// of those sent after since.
func (s *Store) DeliveryStatsSince(ctx context.Context, since time.Time) (DeliveryStats, error) {
	st := DeliveryStats{ByState: map[string]int{}}
	for _, v := range domain.DeliveryStates {
		st.ByState[v] = 0
	}
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM notice_deliveries GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("delivery stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return st, err
		}
		st.ByState[k] = n
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	if err := s.db.SelectContext(ctx, &st.Latencies, `SELECT extract(epoch FROM d.sent_at - n.created_at)::float8
		FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id WHERE d.sent_at > $1 ORDER BY d.sent_at`, since); err != nil {
		return st, fmt.Errorf("delivery latencies: %w", err)
	}
	return st, nil
}

// DeferDelivery hands a claimed delivery back unsent: the claim no longer
// counts as an attempt and the delivery is due again at once.
func (s *Store) DeferDelivery(ctx context.Context, id int64, owner string, attempt int) error {
	res, err := s.db.ExecContext(ctx, `UPDATE notice_deliveries SET attempts = attempts - 1, lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'pending'`, id, owner, attempt)
	if err != nil {
		return fmt.Errorf("defer delivery %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delivery %d attempt %d: %w", id, attempt, ErrLeaseLost)
	}
	return nil
}
