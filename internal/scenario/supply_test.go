package scenario

import (
	"errors"
	"strings"
	"testing"
)

// TestSupplyParseErrors: bad supply fields are reported with the file, the
// line and the field path.
func TestSupplyParseErrors(t *testing.T) {
	head := lines(
		"name: t",
		"areas:",
		"  - code: d",
		"    name: D",
		"    level: district",
	)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown commodity", head + lines("    sites:", "      - {code: s, name: S, kind: supermarket, stock: {beer: 3}}"),
			[]string{`t.yaml:7: areas[0].sites[0].stock.beer: unknown commodity "beer"`}},
		{"negative stock", head + lines("    sites:", "      - {code: s, name: S, kind: market, stock: {milk: -1}}"),
			[]string{`t.yaml:7: areas[0].sites[0].stock.milk: must not be negative (got -1 tonnes)`}},
		{"absurd stock", head + lines("    sites:", "      - {code: s, name: S, kind: market, stock: {milk: 2000000}}"),
			[]string{`t.yaml:7: areas[0].sites[0].stock.milk: 2e+06 tonnes is more than 100000`}},
		{"stock at a campus", head + lines("    sites:", "      - {code: s, name: S, kind: campus, stock: {milk: 1}}"),
			[]string{`t.yaml:7: areas[0].sites[0].kind: a campus cannot supply`}},
		{"serves an unknown area", head + lines("    sites:", "      - {code: s, name: S, kind: supermarket, serves: atlantis}"),
			[]string{`t.yaml:7: areas[0].sites[0].serves: unknown area "atlantis"`}},
		{"shift limit", head + lines("    staff:", "      - {code: v, name: V, role: volunteer, max_shift_hours: 30}"),
			[]string{`t.yaml:7: areas[0].staff[0].max_shift_hours: must be from 1 to 24 hours`}},
		{"skill", head + lines("    staff:", "      - {code: v, name: V, role: volunteer, skills: [Sampling]}"),
			[]string{`t.yaml:7: areas[0].staff[0].skills[0]: "Sampling" is not a skill code`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.src))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse() error = %v, want scenario errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse() error =\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
	// A good supplier: serves an area of the file, its stock in the rows.
	f, err := Parse("t.yaml", []byte(head+lines("    sites:", "      - {code: s, name: S, kind: market, serves: d, stock: {milk: 1.5}}",
		"    staff:", "      - {code: v, name: V, role: volunteer, count: 2, skills: [sampling], max_shift_hours: 8}")))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Rows()
	if s := r.Sites[0]; s.Serves != "d" || s.Stock["milk"] != 1.5 {
		t.Errorf("Rows().Sites[0] = %+v, want serving d with 1.5 t of milk", s)
	}
	if st := r.Staff[1]; st.Group != "v" || st.MaxShiftHours != 8 || len(st.Skills) != 1 {
		t.Errorf("Rows().Staff[1] = %+v, want group v, 8 hours, skill sampling", st)
	}
}
