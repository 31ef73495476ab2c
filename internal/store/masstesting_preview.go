// A round's plan previewed before the round opens: what a command center
// is warned of when a runbook's testing round could not finish by its
// deadline.

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/musterhq/muster/internal/plan"
)

// PlanPreview is what a round over an area would be planned from now:
// its sampling points (Codes names them, in order) and the units of work
// that come to them, as package plan takes them; Residents counts
// everyone the round would expect, those visited at home included.
type PlanPreview struct {
	Codes     []string
	Points    []plan.Point
	Units     []plan.Unit
	Residents int
}

// PreviewPlan reads the points and units a round over the area would be
// planned with (the ones OpenRound gives package plan), writing nothing.
func (s *Store) PreviewPlan(ctx context.Context, areaID int64) (PlanPreview, error) {
	var pv PlanPreview
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		var area areaNode
		err := tx.GetContext(ctx, &area, `SELECT id, code, path, level, parent_id FROM areas WHERE id = $1`, areaID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("area %d: %w", areaID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		tree, err := loadAreaTree(ctx, tx, area.Path)
		if err != nil {
			return err
		}
		points, err := roundPoints(ctx, tx, area.Path, tree)
		if err != nil {
			return err
		}
		units, cohorts, err := roundUnits(ctx, tx, area, tree)
		if err != nil {
			return err
		}
		pv.Points, pv.Units, _ = planInputs(points, units)
		for _, p := range points {
			pv.Codes = append(pv.Codes, p.Code)
		}
		for _, c := range cohorts {
			pv.Residents += c.residents + c.home
		}
		return nil
	})
	if err != nil {
		return PlanPreview{}, fmt.Errorf("preview the plan of area %d: %w", areaID, err)
	}
	return pv, nil
}
