package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/scenario"
)

// upsertCommodities records the commodities a scenario adds, before its
// suppliers' stock names them. The code joins the codes any supplier may
// stock; the name and need are the scenario's districts' own, so another
// district adding the same code keeps its own. A commodity loaded again
// takes the file's name and need; the built-in ones are never changed (the
// scenario validator refuses them).
func upsertCommodities(ctx context.Context, tx *sqlx.Tx, scenarioName string, dists []string, rows []scenario.Commodity, res *LoadResult) error {
	if len(rows) == 0 {
		return nil
	}
	// The need is optional: an empty string stands for none.
	var codes, names, needs []string
	for _, c := range rows {
		need := ""
		if c.NeedKg != nil {
			need = strconv.FormatFloat(*c.NeedKg, 'g', -1, 64)
		}
		codes, names, needs = append(codes, c.Code), append(names, c.Name), append(needs, need)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO commodities (code, name, scenario)
		SELECT u.code, u.name, $3 FROM unnest($1::text[], $2::text[]) AS u(code, name)
		ON CONFLICT (code) DO NOTHING`, pq.Array(codes), pq.Array(names), scenarioName); err != nil {
		return fmt.Errorf("commodities: %w", err)
	}
	return count(ctx, tx, "commodities", res, `INSERT INTO district_commodities (district, code, name, need_kg, scenario)
		SELECT d.district, u.code, u.name, nullif(u.need, '')::numeric, $4
		FROM unnest($1::text[], $2::text[], $3::text[]) AS u(code, name, need), unnest($5::text[]) AS d(district)
		ON CONFLICT (district, code) DO UPDATE SET name = excluded.name, need_kg = excluded.need_kg, scenario = excluded.scenario
		WHERE (district_commodities.name, district_commodities.need_kg, district_commodities.scenario)
		      IS DISTINCT FROM (excluded.name, excluded.need_kg, excluded.scenario)
		RETURNING (xmax = 0)`, pq.Array(codes), pq.Array(names), pq.Array(needs), scenarioName, pq.Array(dists))
}

// defaultNeeds adds to need the daily need of every commodity the scenario
// of the district of the area with areaID gave one, unless need names it
// already.
func defaultNeeds(ctx context.Context, tx *sqlx.Tx, areaID int64, need map[string]float64) (map[string]float64, error) {
	var rows []struct {
		Code string  `db:"code"`
		Kg   float64 `db:"need_kg"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT c.code, c.need_kg FROM district_commodities c JOIN areas a ON a.district = c.district
		WHERE a.id = $1 AND c.need_kg IS NOT NULL ORDER BY c.code`, areaID); err != nil {
		return nil, fmt.Errorf("commodity needs: %w", err)
	}
	out := make(map[string]float64, len(need)+len(rows))
	for c, kg := range need {
		out[c] = kg
	}
	for _, r := range rows {
		if _, ok := out[r.Code]; !ok {
			out[r.Code] = r.Kg
		}
	}
	return out, nil
}
