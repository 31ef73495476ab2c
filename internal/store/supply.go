package store

// Supplies: stock per supplier and commodity, days of supply per area,
// restock orders with their shipments and delivery confirmations.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
)

// MaxTonnes bounds any stock or delivery figure: a larger one is a typo
// (kilograms for tonnes), not a delivery.
const MaxTonnes = scenario.MaxStockTonnes

// StockRow is one supplier's stock of one commodity, as reported.
type StockRow struct {
	Site      string  `db:"site" json:"site"`
	Commodity string  `db:"commodity" json:"commodity"`
	Tonnes    float64 `db:"tonnes" json:"tonnes"`
}

// ReportStock records suppliers' stock levels. Every row is checked first:
// an unknown supplier or commodity, a supplier code several districts use
// when no district is given, or a negative or absurd figure, refuses the
// whole report with every problem named by row, and nothing is written.
func (s *Store) ReportStock(ctx context.Context, district string, rows []StockRow, by string) (int, error) {
	if len(rows) == 0 {
		return 0, fmt.Errorf("rows: the report has no rows: %w", domain.ErrInvalid)
	}
	if len(rows) > 10000 {
		return 0, fmt.Errorf("rows: %d rows is more than 10000: split the report: %w", len(rows), domain.ErrInvalid)
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		known, err := commodityCodes(ctx, tx)
		if err != nil {
			return err
		}
		var suppliers []struct {
			Code     string `db:"code"`
			District string `db:"district"`
		}
		if err := tx.SelectContext(ctx, &suppliers, `SELECT s.code, s.district FROM suppliers sp JOIN sites s ON s.id = sp.site_id
			WHERE $1 = '' OR s.district = $1 ORDER BY s.district`, DistrictOf(district)); err != nil {
			return err
		}
		districtsOf := map[string][]string{}
		for _, c := range suppliers {
			districtsOf[c.Code] = append(districtsOf[c.Code], c.District)
		}
		var problems []string
		sites, commodities, dists := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		tonnes := make([]float64, len(rows))
		for i, r := range rows {
			if ds := districtsOf[r.Site]; len(ds) > 0 {
				dists[i] = ds[0]
			}
			switch {
			case len(districtsOf[r.Site]) == 0:
				problems = append(problems, fmt.Sprintf("rows[%d].site: %q is not a supplier (a supermarket or market of the scenario)", i, r.Site))
			case len(districtsOf[r.Site]) > 1:
				problems = append(problems, fmt.Sprintf("rows[%d].site: %v", i, ambiguous("supplier", r.Site, districtsOf[r.Site])))
			case !known[r.Commodity]:
				problems = append(problems, fmt.Sprintf("rows[%d].commodity: unknown commodity %q (known: %s)", i, r.Commodity, strings.Join(sortedKeys(known), ", ")))
			case math.IsNaN(r.Tonnes) || r.Tonnes < 0:
				problems = append(problems, fmt.Sprintf("rows[%d].tonnes: %g must not be negative", i, r.Tonnes))
			case r.Tonnes > MaxTonnes:
				problems = append(problems, fmt.Sprintf("rows[%d].tonnes: %g is more than %d: give tonnes, not kilograms", i, r.Tonnes, MaxTonnes))
			}
			sites[i], commodities[i], tonnes[i] = r.Site, r.Commodity, r.Tonnes
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s; nothing was recorded: %w", strings.Join(problems, "; "), domain.ErrInvalid)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO supplier_stock (site_id, commodity, tonnes, updated_at)
			SELECT s.id, u.commodity, u.tonnes, now() FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[]) AS u(site, commodity, tonnes, district)
			JOIN sites s ON s.district = u.district AND s.code = u.site
			ON CONFLICT (site_id, commodity) DO UPDATE SET tonnes = excluded.tonnes, updated_at = now()`,
			pq.Array(sites), pq.Array(commodities), pq.Array(tonnes), pq.Array(dists)); err != nil {
			return fmt.Errorf("report stock: %w", err)
		}
		return nil
	})
	return len(rows), err
}

func commodityCodes(ctx context.Context, tx *sqlx.Tx) (map[string]bool, error) {
	var codes []string
	if err := tx.SelectContext(ctx, &codes, `SELECT code FROM commodities`); err != nil {
		return nil, fmt.Errorf("commodities: %w", err)
	}
	m := map[string]bool{}
	for _, c := range codes {
		m[c] = true
	}
	return m, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NoNeedDays stands for the days of supply of an area nobody needs the
// commodity in.
const NoNeedDays = 9999

// SupplyOrder asks for a supply check of an area: the days of supply of
// every area a supplier serves in it, and restock orders where they are
// short.
type SupplyOrder struct {
	Incident string
	Step     string
	AreaID   int64
	// Need is each commodity's daily need per person, in kilograms.
	Need map[string]float64
	// MinDays is the threshold below which an area is restocked, up to
	// TargetDays.
	MinDays, TargetDays float64
	// Now is the check's time; a restock ordered now is due at Due.
	Now, Due time.Time
}

const shipmentColumns = `sh.id, sh.incident, sh.step, a.code AS area, s.code AS site, sh.commodity, sh.tonnes, sh.state,
	sh.ordered_at, sh.due_at, sh.delivered_at, sh.delivered_tonnes`

func (o SupplyOrder) check(known map[string]bool) error {
	if len(o.Need) == 0 {
		return fmt.Errorf("need: give the daily need per person of at least one commodity: %w", domain.ErrInvalid)
	}
	for _, c := range sortedKeys(o.Need) {
		kg := o.Need[c]
		switch {
		case !known[c]:
			return fmt.Errorf("need.%s: unknown commodity %q (known: %s): %w", c, c, strings.Join(sortedKeys(known), ", "), domain.ErrInvalid)
		case math.IsNaN(kg) || kg < 0 || kg > 10:
			return fmt.Errorf("need.%s: %g kg per person and day: want 0 to 10: %w", c, kg, domain.ErrInvalid)
		}
	}
	switch {
	case o.MinDays <= 0 || o.MinDays > 90:
		return fmt.Errorf("min_days: %g: want more than 0 and at most 90: %w", o.MinDays, domain.ErrInvalid)
	case o.TargetDays < o.MinDays || o.TargetDays > 180:
		return fmt.Errorf("target_days: %g: want at least min_days (%g) and at most 180: %w", o.TargetDays, o.MinDays, domain.ErrInvalid)
	case !o.Due.After(o.Now):
		return fmt.Errorf("delivery window: a shipment is due after it is ordered: %w", domain.ErrInvalid)
	}
	return nil
}

// CheckSupply computes days of supply per area and commodity: for each area
// in the order's area that a supplier serves, the stock of its suppliers
// over its population's daily need (residents fed by a supplier of an area
// below it are counted there, not twice). Where an area is below the
// threshold and has no open order, it orders a restock from its supplier
// with the least of that commodity, up to the target, due at o.Due, with a
// pass for the delivery vehicle. Open shipments past due are marked late.
// A repeated check places no second order while one is open.
func (s *Store) CheckSupply(ctx context.Context, o SupplyOrder, e domain.Event) (domain.SupplyStatus, error) {
	var st domain.SupplyStatus
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		known, err := commodityCodes(ctx, tx)
		if err != nil {
			return err
		}
		if err := o.check(known); err != nil {
			return err
		}
		// Commodities a scenario added with a daily need are counted too,
		// unless the step's need names them.
		if o.Need, err = defaultNeeds(ctx, tx, o.AreaID, o.Need); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE shipments SET state = 'late' WHERE step = $1 AND state = 'ordered' AND due_at <= $2`, o.Step, o.Now); err != nil {
			return fmt.Errorf("late shipments: %w", err)
		}
		commodities := sortedKeys(o.Need)
		if st.Levels, err = levels(ctx, tx, o.AreaID, commodities); err != nil {
			return err
		}
		for i := range st.Levels {
			ordered, err := restock(ctx, tx, o, &st.Levels[i])
			if err != nil {
				return err
			}
			if ordered {
				st.Ordered++
			}
		}
		// Every open shipment's vehicle gets a pass for the area until a
		// day after it is due.
		if _, err := tx.ExecContext(ctx, `INSERT INTO passes (code, incident, holder_kind, plate, area_id, valid, issued_for)
			SELECT `+passCode+`, sh.incident, 'vehicle', 'shipment-' || sh.id, sh.area_id,
			       tstzrange(sh.ordered_at, greatest(sh.due_at, sh.ordered_at + interval '1 minute') + (sh.due_at - sh.ordered_at)), 'shipment/' || sh.id
			FROM shipments sh WHERE sh.step = $1 AND sh.state IN ('ordered', 'late')
			ON CONFLICT (incident, issued_for) DO NOTHING`, o.Step); err != nil {
			return fmt.Errorf("shipment passes: %w", err)
		}
		var open []domain.Shipment
		if err := tx.SelectContext(ctx, &open, `SELECT `+shipmentColumns+` FROM shipments sh JOIN areas a ON a.id = sh.area_id
			JOIN sites s ON s.id = sh.site_id WHERE sh.step = $1 AND sh.state IN ('ordered', 'late') ORDER BY sh.id`, o.Step); err != nil {
			return err
		}
		for i := range open {
			sh := open[i]
			if sh.State == "late" {
				st.Late = append(st.Late, sh)
			}
			for j := range st.Levels {
				if st.Levels[j].Area == sh.Area && st.Levels[j].Commodity == sh.Commodity {
					st.Levels[j].Order = &open[i]
				}
			}
		}
		if err := tx.GetContext(ctx, &st.Orders, `SELECT count(*) FROM shipments WHERE step = $1`, o.Step); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &st.Delivered, `SELECT count(*) FROM shipments WHERE step = $1 AND state = 'delivered'`, o.Step); err != nil {
			return err
		}
		e.Reason = fmt.Sprintf("%d area-commodity levels, %d ordered now, %d late", len(st.Levels), st.Ordered, len(st.Late))
		return appendEvent(ctx, tx, e)
	})
	return st, err
}

// restock works out a level's days of supply and, when they are below the
// order's threshold, orders from the area's supplier with the least stock
// what brings the area up to the target; it reports whether it ordered.
// An area with an open order for the commodity gets no second one.
func restock(ctx context.Context, tx *sqlx.Tx, o SupplyOrder, l *domain.SupplyLevel) (bool, error) {
	l.NeedPerDay = float64(l.Population) * o.Need[l.Commodity] / 1000
	// Nobody to feed: as good as endless (JSON has no infinity).
	l.Days = NoNeedDays
	if l.NeedPerDay > 0 {
		l.Days = math.Round(l.Stock/l.NeedPerDay*100) / 100
	}
	l.Low = l.Days < o.MinDays
	if !l.Low {
		return false, nil
	}
	order := math.Ceil((o.TargetDays*l.NeedPerDay-l.Stock)*10) / 10
	if order <= 0 {
		return false, nil
	}
	r, err := tx.ExecContext(ctx, `INSERT INTO shipments (incident, step, area_id, site_id, commodity, seq, tonnes, ordered_at, due_at)
		SELECT $1, $2, $3, (SELECT sp.site_id FROM suppliers sp JOIN sites si ON si.id = sp.site_id
		                    LEFT JOIN supplier_stock ss ON ss.site_id = sp.site_id AND ss.commodity = $4
		                    WHERE sp.area_id = $3 ORDER BY coalesce(ss.tonnes, 0), si.code LIMIT 1),
		       $4, 1 + coalesce((SELECT max(seq) FROM shipments WHERE step = $2 AND area_id = $3 AND commodity = $4), 0), $5, $6, $7
		WHERE NOT EXISTS (SELECT 1 FROM shipments WHERE step = $2 AND area_id = $3 AND commodity = $4 AND state IN ('ordered', 'late'))
		ON CONFLICT DO NOTHING`, o.Incident, o.Step, l.AreaID, l.Commodity, order, o.Now, o.Due)
	if err != nil {
		return false, fmt.Errorf("restock %s %s: %w", l.Area, l.Commodity, err)
	}
	n, _ := r.RowsAffected()
	return n > 0, nil
}

// levels reads, for each area a supplier serves at or under the given
// area, the stock of each commodity and the population it feeds.
func levels(ctx context.Context, tx *sqlx.Tx, areaID int64, commodities []string) ([]domain.SupplyLevel, error) {
	var out []domain.SupplyLevel
	err := tx.SelectContext(ctx, &out, `
		WITH scope AS (SELECT path FROM areas WHERE id = $1),
		served AS (
		    SELECT DISTINCT a.id, a.code, a.path FROM suppliers sp JOIN areas a ON a.id = sp.area_id, scope
		    WHERE a.path = scope.path OR a.path LIKE scope.path || '/%'),
		fed AS (
		    -- Residents of an area, less those under another served area
		    -- below it, who are fed there.
		    SELECT sv.id, (
		        SELECT coalesce(sum(x.population), 0) FROM areas x
		        WHERE (x.path = sv.path OR x.path LIKE sv.path || '/%')
		          AND NOT EXISTS (SELECT 1 FROM served o WHERE o.id <> sv.id AND o.path LIKE sv.path || '/%'
		                          AND (x.path = o.path OR x.path LIKE o.path || '/%'))
		    ) + (
		        SELECT coalesce(sum(si.population), 0) FROM sites si JOIN areas x ON x.id = si.area_id
		        WHERE si.kind = 'campus' AND (x.path = sv.path OR x.path LIKE sv.path || '/%')
		          AND NOT EXISTS (SELECT 1 FROM served o WHERE o.id <> sv.id AND o.path LIKE sv.path || '/%'
		                          AND (x.path = o.path OR x.path LIKE o.path || '/%'))
		    ) AS population FROM served sv)
		SELECT sv.code AS area, sv.id AS area_id, f.population, c AS commodity,
		       coalesce((SELECT sum(ss.tonnes) FROM suppliers sp JOIN supplier_stock ss ON ss.site_id = sp.site_id
		                 WHERE sp.area_id = sv.id AND ss.commodity = c), 0)::float8 AS stock
		FROM served sv JOIN fed f ON f.id = sv.id, unnest($2::text[]) AS c
		ORDER BY sv.path, c`, areaID, pq.Array(commodities))
	if err != nil {
		return nil, fmt.Errorf("supply levels: %w", err)
	}
	return out, nil
}

// Delivery confirms a shipment's delivery.
type Delivery struct {
	Shipment int64   `json:"shipment"`
	Tonnes   float64 `json:"tonnes"`
	By       string  `json:"by"`
}

// ConfirmDelivery records a shipment's delivery: the supplier's stock
// grows by what arrived. A delivered shipment confirmed again with the same
// tonnes is returned unchanged; with other tonnes it is refused. A delivery
// of nothing, a negative one or one far above the order is refused.
func (s *Store) ConfirmDelivery(ctx context.Context, d Delivery, at time.Time) (domain.Shipment, error) {
	var sh domain.Shipment
	switch {
	case math.IsNaN(d.Tonnes) || d.Tonnes <= 0:
		return sh, fmt.Errorf("tonnes: %g: a delivery brings more than 0 tonnes: %w", d.Tonnes, domain.ErrInvalid)
	case d.Tonnes > MaxTonnes:
		return sh, fmt.Errorf("tonnes: %g is more than %d: give tonnes, not kilograms: %w", d.Tonnes, MaxTonnes, domain.ErrInvalid)
	case strings.TrimSpace(d.By) == "":
		d.By = "supplier"
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &sh, `SELECT `+shipmentColumns+` FROM shipments sh JOIN areas a ON a.id = sh.area_id
			JOIN sites s ON s.id = sh.site_id WHERE sh.id = $1 FOR UPDATE OF sh`, d.Shipment)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("shipment: no shipment %d: %w", d.Shipment, domain.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if sh.State == "delivered" {
			if sh.Delivered != nil && math.Abs(*sh.Delivered-d.Tonnes) < 0.0005 {
				return nil
			}
			return fmt.Errorf("shipment %d was already delivered (%g tonnes): %w", d.Shipment, deref64(sh.Delivered), domain.ErrConflict)
		}
		if d.Tonnes > 3*sh.Tonnes {
			return fmt.Errorf("tonnes: %g is more than three times the %g tonnes ordered: check the figure: %w", d.Tonnes, sh.Tonnes, domain.ErrInvalid)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE shipments SET state = 'delivered', delivered_at = $2, delivered_tonnes = $3, delivered_by = $4 WHERE id = $1`,
			d.Shipment, at, d.Tonnes, d.By); err != nil {
			return fmt.Errorf("deliver %d: %w", d.Shipment, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO supplier_stock (site_id, commodity, tonnes)
			SELECT site_id, commodity, $2 FROM shipments WHERE id = $1
			ON CONFLICT (site_id, commodity) DO UPDATE SET tonnes = supplier_stock.tonnes + excluded.tonnes, updated_at = now()`, d.Shipment, d.Tonnes); err != nil {
			return fmt.Errorf("stock after delivery %d: %w", d.Shipment, err)
		}
		sh.State, sh.DeliveredAt, sh.Delivered = "delivered", &at, &d.Tonnes
		return appendEvent(ctx, tx, domain.Event{Incident: sh.Incident, WorkflowID: sh.Step, Step: fmt.Sprintf("delivery/%d", sh.ID), State: "done",
			Actor: d.By, Reason: fmt.Sprintf("%g t of %s delivered to %s", d.Tonnes, sh.Commodity, sh.Site)})
	})
	return sh, err
}

func deref64(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// Shipments lists an incident's shipments, open ones only when asked.
func (s *Store) Shipments(ctx context.Context, incident string, openOnly bool) ([]domain.Shipment, error) {
	out := []domain.Shipment{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+shipmentColumns+` FROM shipments sh JOIN areas a ON a.id = sh.area_id
		JOIN sites s ON s.id = sh.site_id WHERE sh.incident = $1 AND (NOT $2 OR sh.state IN ('ordered', 'late')) ORDER BY sh.id`, incident, openOnly)
	return out, err
}

// Stock lists the stock of the suppliers serving an area or any area
// under it; the area's code is looked up in district (see AreaIn).
func (s *Store) Stock(ctx context.Context, district, area string) ([]StockRow, error) {
	top, err := s.AreaIn(ctx, district, area)
	if err != nil {
		return nil, err
	}
	out := []StockRow{}
	err = s.db.SelectContext(ctx, &out, `SELECT si.code AS site, ss.commodity, ss.tonnes::float8 AS tonnes
		FROM supplier_stock ss JOIN suppliers sp ON sp.site_id = ss.site_id JOIN sites si ON si.id = sp.site_id
		JOIN areas a ON a.id = sp.area_id
		WHERE a.path = $1 OR a.path LIKE $1 || '/%' ORDER BY si.code, ss.commodity`, top.Path)
	return out, err
}

// SupplyTotals sums up what an incident's staff-supply steps did.
type SupplyTotals struct {
	Assigned     int     `db:"assigned"`
	Acknowledged int     `db:"acknowledged"`
	Lapsed       int     `db:"lapsed"`
	Passes       int     `db:"passes"`
	Revoked      int     `db:"revoked"`
	Orders       int     `db:"orders"`
	Delivered    int     `db:"delivered"`
	Tonnes       float64 `db:"tonnes"`
}

// SupplyTotals counts an incident's assignments, passes and restock orders.
func (s *Store) SupplyTotals(ctx context.Context, incident string) (SupplyTotals, error) {
	var r SupplyTotals
	err := s.db.GetContext(ctx, &r, `SELECT
		(SELECT count(*) FROM staff_assignments WHERE incident = $1) AS assigned,
		(SELECT count(*) FROM staff_assignments WHERE incident = $1 AND acknowledged_at IS NOT NULL) AS acknowledged,
		(SELECT count(*) FROM staff_assignments WHERE incident = $1 AND state = 'lapsed') AS lapsed,
		(SELECT count(*) FROM passes WHERE incident = $1) AS passes,
		(SELECT count(*) FROM passes WHERE incident = $1 AND revoked_at IS NOT NULL) AS revoked,
		(SELECT count(*) FROM shipments WHERE incident = $1) AS orders,
		(SELECT count(*) FROM shipments WHERE incident = $1 AND state = 'delivered') AS delivered,
		(SELECT coalesce(sum(delivered_tonnes), 0)::float8 FROM shipments WHERE incident = $1) AS tonnes`, incident)
	if err != nil {
		return SupplyTotals{}, fmt.Errorf("supply totals of %s: %w", incident, err)
	}
	return r, nil
}
