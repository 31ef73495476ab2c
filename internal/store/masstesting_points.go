// Sampling points added to a running testing round, and the unfinished
// work moved to them.

package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/plan"
)

// AddRoundPoint opens another sampling point in a running round (an
// escalation's recommendation, once a person accepts it) and moves work to
// it. Compounds that are finished stay where they are. Of the unfinished
// ones (those in the new point's community, or all of them when it has
// none), the busiest point — the most residents still to sample per hour of
// capacity — gives its largest compound to the new point as long as that
// leaves the new point less busy than the giver was; the samples a point
// already took from a compound it gives away stay in its expected figure.
// Opening a point that is open already changes nothing and returns the
// plan.
func (s *Store) AddRoundPoint(ctx context.Context, roundID int64, siteCode string, e domain.Event) (domain.RoundPlan, error) {
	var rp domain.RoundPlan
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, true)
		if err != nil {
			return err
		}
		var site point
		err = tx.GetContext(ctx, &site, `SELECT s.id, s.code, s.name, s.capacity_per_hour, s.area_id, a.path AS area_path
			FROM sites s JOIN areas a ON a.id = s.area_id
			WHERE s.code = $1 AND s.kind = $2 AND s.district = (SELECT ra.district FROM testing_rounds r JOIN areas ra ON ra.id = r.area_id WHERE r.id = $3)`,
			siteCode, SamplingPointKind, roundID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sampling point %q: %w", siteCode, domain.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var added bool
		if err := tx.GetContext(ctx, &added, `SELECT NOT EXISTS (SELECT 1 FROM round_points WHERE round_id = $1 AND site_id = $2)`, roundID, site.SiteID); err != nil {
			return err
		}
		if added {
			if !r.Open() {
				return fmt.Errorf("round %d closed at %s: %w", roundID, r.ClosedAt.Time.Format(time.RFC3339), ErrRoundClosed)
			}
			if site.Capacity <= 0 {
				return fmt.Errorf("sampling point %s has no capacity: %w", siteCode, domain.ErrInvalid)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO round_points (round_id, site_id, capacity_per_hour) VALUES ($1, $2, $3)`,
				roundID, site.SiteID, site.Capacity); err != nil {
				return fmt.Errorf("open point %s: %w", siteCode, err)
			}
			if err := rebalance(ctx, tx, r, &site); err != nil {
				return err
			}
		}
		if rp, err = readPlan(ctx, tx, roundID); err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return domain.RoundPlan{}, fmt.Errorf("add point %s to round %d: %w", siteCode, roundID, err)
	}
	return rp, nil
}

// rebalance moves unfinished compounds to a newly opened point (see
// AddRoundPoint and plan.Rebalance).
func rebalance(ctx context.Context, tx *sqlx.Tx, r round, added *point) error {
	tree, err := loadAreaTree(ctx, tx, r.AreaPath)
	if err != nil {
		return err
	}
	if _, ok := tree[added.AreaID]; !ok {
		// A point borrowed from outside the round's area.
		var n areaNode
		if err := tx.GetContext(ctx, &n, `SELECT id, code, path, level, parent_id FROM areas WHERE id = $1`, added.AreaID); err != nil {
			return err
		}
		tree[n.ID] = n.planArea()
	}
	added.community = tree.Community(added.AreaID)
	units, err := heldUnits(ctx, tx, r.ID, tree)
	if err != nil {
		return err
	}
	var points []*point
	if err := tx.SelectContext(ctx, &points, `SELECT s.id, s.code, s.name, rp.capacity_per_hour, s.area_id, a.path AS area_path
		FROM round_points rp JOIN sites s ON s.id = rp.site_id JOIN areas a ON a.id = s.area_id
		WHERE rp.round_id = $1 AND rp.site_id <> $2`, r.ID, added.SiteID); err != nil {
		return fmt.Errorf("points of round %d: %w", r.ID, err)
	}
	ps := make([]plan.Point, len(points))
	at := map[int64]int{}
	for i, p := range points {
		ps[i] = plan.Point{Capacity: p.Capacity, Name: p.Code}
		at[p.SiteID] = i
	}
	held := make([]plan.Held, len(units))
	for i, u := range units {
		held[i] = plan.Held{Point: -1, Remaining: u.remaining(), Group: u.community}
		if j, ok := at[u.SiteID]; ok {
			held[i].Point = j
		}
	}
	moves := plan.Rebalance(ps, plan.Point{Capacity: added.Capacity, Group: added.community, Name: added.Code}, held)
	if len(moves) == 0 {
		return nil
	}
	carried := map[int64]int{}
	moved := make([]*unit, len(moves))
	for i, m := range moves {
		u := units[m.Held]
		// The giver keeps the samples it took from the compound since it was
		// assigned; the new point expects those still to come.
		sinceAssigned := u.sampled - (u.Residents - u.Expected)
		carried[points[m.From].SiteID] += max(sinceAssigned, 0)
		u.SiteID, u.Expected = added.SiteID, u.remaining()
		moved[i] = u
	}
	if err := writeAssignments(ctx, tx, r.ID, moved); err != nil {
		return err
	}
	sites, counts := make([]int64, 0, len(carried)), make([]int64, 0, len(carried))
	for site, n := range carried {
		sites, counts = append(sites, site), append(counts, int64(n))
	}
	_, err = tx.ExecContext(ctx, `UPDATE round_points rp SET carried = rp.carried + u.n
		FROM unnest($2::bigint[], $3::int[]) AS u(site, n) WHERE rp.round_id = $1 AND rp.site_id = u.site`,
		r.ID, pq.Array(sites), pq.Array(counts))
	if err != nil {
		return fmt.Errorf("samples carried by the points of round %d: %w", r.ID, err)
	}
	return nil
}

// heldUnits reads a round's assignments with the samples taken from each
// at points so far, by area and building (the order plan.Rebalance breaks
// ties in).
func heldUnits(ctx context.Context, tx *sqlx.Tx, roundID int64, tree plan.Tree) ([]*unit, error) {
	var units []*unit
	if err := tx.SelectContext(ctx, &units, `SELECT area_id, building, residents, expected, site_id FROM round_assignments WHERE round_id = $1`, roundID); err != nil {
		return nil, fmt.Errorf("assignments of round %d: %w", roundID, err)
	}
	slices.SortFunc(units, func(a, b *unit) int {
		return cmp.Or(cmp.Compare(a.AreaID, b.AreaID), cmp.Compare(a.Building, b.Building))
	})
	var sampled []struct {
		AreaID   int64  `db:"area_id"`
		Building string `db:"building"`
		N        int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &sampled, `
		SELECT r.area_id, r.building, count(*) AS n
		FROM samples s JOIN residents r ON r.id = s.resident_id
		WHERE s.round_id = $1 AND NOT s.home_visit GROUP BY 1, 2`, roundID); err != nil {
		return nil, fmt.Errorf("samples of round %d: %w", roundID, err)
	}
	type unitKey struct {
		area     int64
		building string
	}
	byKey := map[unitKey]*unit{}
	for _, u := range units {
		u.community = tree.Community(u.AreaID)
		byKey[unitKey{u.AreaID, u.Building}] = u
	}
	// A compound planned whole is assigned under building ''; one the
	// plan split, by building.
	for _, s := range sampled {
		if u := byKey[unitKey{s.AreaID, s.Building}]; u != nil {
			u.sampled += s.N
		} else if u := byKey[unitKey{s.AreaID, ""}]; u != nil {
			u.sampled += s.N
		}
	}
	return units, nil
}
