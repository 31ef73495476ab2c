package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/scenario"
)

// Qingshui is a second district, of another shape than the reference: one
// outbreak community of 11 compounds and 12,650 residents (larger than
// Longbao, its largest compound 2,434), with 6 sampling points of unequal
// capacity, 150 to 400 an hour. Its codes share nothing with the
// reference's, so both load into one database.
var (
	qingshuiCompounds = []int{2434, 1650, 1400, 1250, 1150, 1050, 950, 850, 750, 650, 516}
	qingshuiPoints    = []int{150, 200, 250, 300, 350, 400}
)

// qingshui returns the rows of the generated Qingshui district.
func qingshui(t *testing.T) scenario.Rows {
	t.Helper()
	var b strings.Builder
	b.WriteString(`name: qingshui-test
description: A generated district unlike the reference, for tests.
generate_residents:
  seed: 20261204
  home_visit_share: 0.05
areas:
  - code: qs
    name: Qingshui District
    level: district
    areas:
      - code: qs-east
        name: East sub-district
        level: sub-district
        areas:
          - code: qs-hexi
            name: Hexi Community
            level: community
            staff:
              - {code: qs-hexi-grid, name: Hexi grid worker, role: grid-worker, count: 10}
            sites:
`)
	for i, c := range qingshuiPoints {
		fmt.Fprintf(&b, "              - {code: qs-hexi-p%d, name: Hexi point %d, kind: sampling-point, capacity_per_hour: %d}\n", i+1, i+1, c)
	}
	b.WriteString("            areas:\n")
	for i, n := range qingshuiCompounds {
		fmt.Fprintf(&b, `              - code: qs-hexi-k%02d
                name: Hexi compound %d
                level: compound
                population: %d
                buildings: %d
                gates:
                  - {code: main, name: Main gate, entrance: true}
                  - {code: back, name: Back gate}
`, i+1, i+1, n, max(1, n/120))
	}
	f, err := scenario.Parse("qingshui.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("scenario.Parse(qingshui) error = %v", err)
	}
	return f.Rows()
}
