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
// suppliers' stock names them. A commodity loaded again takes the file's
// name and need; the built-in ones are never changed (the scenario
// validator refuses them).
func upsertCommodities(ctx context.Context, tx *sqlx.Tx, scenarioName string, rows []scenario.Commodity, res *LoadResult) error {
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
	return count(ctx, tx, "commodities", res, `INSERT INTO commodities (code, name, need_kg, scenario)
		SELECT u.code, u.name, nullif(u.need, '')::numeric, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(code, name, need)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, need_kg = excluded.need_kg, scenario = excluded.scenario
		WHERE commodities.scenario IS NOT NULL
		  AND (commodities.name, commodities.need_kg, commodities.scenario) IS DISTINCT FROM (excluded.name, excluded.need_kg, excluded.scenario)
		RETURNING (xmax = 0)`, pq.Array(codes), pq.Array(names), pq.Array(needs), scenarioName)
}

// defaultNeeds adds to need the daily need of every commodity a scenario
// gave one, unless need names it already.
func defaultNeeds(ctx context.Context, tx *sqlx.Tx, need map[string]float64) (map[string]float64, error) {
	var rows []struct {
		Code string  `db:"code"`
		Kg   float64 `db:"need_kg"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT code, need_kg FROM commodities WHERE need_kg IS NOT NULL ORDER BY code`); err != nil {
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
