package scenario

import (
	"errors"
	"strings"
	"testing"
)

// TestScenarioCommodities: a scenario extends the commodity list with its
// own, each with a daily need per person; a supplier may stock them, and a
// bad entry is reported with the file, the line and the field path.
func TestScenarioCommodities(t *testing.T) {
	head := lines(
		"name: t",
		"commodities:",
		"  - {code: medicine, name: Medicine, need_kg: 0.02}",
		"  - {code: water, name: Bottled water}",
		"areas:",
		"  - code: d",
		"    name: D",
		"    level: district",
		"    sites:",
		"      - {code: s, name: S, kind: pharmacy-free-market, stock: {medicine: 1}}",
	)
	good := strings.Replace(head, "pharmacy-free-market", "market", 1)
	f, err := Parse("t.yaml", []byte(good))
	if err != nil {
		t.Fatalf("Parse() with scenario commodities error = %v", err)
	}
	r := f.Rows()
	if len(r.Commodities) != 2 || r.Commodities[0].Code != "medicine" || r.Commodities[0].NeedKg == nil || *r.Commodities[0].NeedKg != 0.02 ||
		r.Commodities[1].NeedKg != nil || r.Sites[0].Stock["medicine"] != 1 {
		t.Errorf("Rows() commodities = %+v, stock %v; want medicine (0.02 kg) and water (no default need), 1 t of medicine", r.Commodities, r.Sites[0].Stock)
	}
	for _, tt := range []struct {
		name, src, want string
	}{
		{"bad code", strings.Replace(good, "code: water", "code: Water", 1), `t.yaml:4: commodities[1].code: "Water" is not a code`},
		{"built in", strings.Replace(good, "code: water", "code: grain", 1), `t.yaml:4: commodities[1].code: grain is a built-in commodity`},
		{"twice", strings.Replace(good, "code: water", "code: medicine", 1), `t.yaml:4: commodities[1].code: medicine is listed twice`},
		{"no name", strings.Replace(good, "name: Bottled water", "name: ''", 1), `t.yaml:4: commodities[1].name: is required`},
		{"need", strings.Replace(good, "need_kg: 0.02", "need_kg: 20", 1), `t.yaml:3: commodities[0].need_kg: 20 kg per person and day: want 0 to 10`},
		{"unknown stock", strings.Replace(good, "{medicine: 1}", "{beer: 1}", 1), `t.yaml:10: areas[0].sites[0].stock.beer: unknown commodity "beer": want one of grain, oil, meat, eggs, vegetables, milk, medicine, water`},
	} {
		_, err := Parse("t.yaml", []byte(tt.src))
		var es Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse() error =\n%v\nwant it to contain %q", tt.name, err, tt.want)
		}
	}
}
