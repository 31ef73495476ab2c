// A round's plan previewed before the round opens: what a command center
// is warned of when a runbook's testing round could not finish by its
// deadline.

package store

import (
	"context"
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
		area, err := getAreaNode(ctx, tx, areaID)
		if err != nil {
			return err
		}
		points, units, cohorts, err := roundInputs(ctx, tx, area)
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
