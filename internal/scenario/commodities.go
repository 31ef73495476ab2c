package scenario

import (
	"fmt"
	"math"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/yamlstrict"
)

// Commodity is a commodity a scenario adds to the built-in ones (medicine,
// bottled water, …): its suppliers may stock it and staff-supply steps
// count it. NeedKg, when given, is its daily need per person in
// kilograms, counted by every supply check in the district unless the
// step's own `need` names the commodity.
type Commodity struct {
	Code   string   `yaml:"code"`
	Name   string   `yaml:"name"`
	NeedKg *float64 `yaml:"need_kg"`

	line int
}

// UnmarshalYAML decodes a commodity strictly and keeps its line for errors.
func (c *Commodity) UnmarshalYAML(n *yaml.Node) error {
	type plain Commodity
	return yamlstrict.Decode(n, "a commodity", (*plain)(c), &c.line)
}

// commodities checks the scenario's own commodities and records the codes
// its suppliers may stock: the built-in ones and these.
func (v *validator) commodities(list []Commodity) {
	v.known = append([]string(nil), Commodities...)
	for i, c := range list {
		path := fmt.Sprintf("commodities[%d]", i)
		switch {
		case c.Code == "":
			v.add(c.line, path+".code", "is required")
		case !codePattern.MatchString(c.Code):
			v.add(c.line, path+".code", "%q is not a code: use lower-case letters, digits and '-'", c.Code)
		case slices.Contains(Commodities, c.Code):
			v.add(c.line, path+".code", "%s is a built-in commodity: leave it out (its need is the step's `need`)", c.Code)
		case slices.Contains(v.known, c.Code):
			v.add(c.line, path+".code", "%s is listed twice", c.Code)
		default:
			v.known = append(v.known, c.Code)
		}
		if c.Name == "" {
			v.add(c.line, path+".name", "is required")
		}
		if kg := c.NeedKg; kg != nil && (math.IsNaN(*kg) || *kg < 0 || *kg > 10) {
			v.add(c.line, path+".need_kg", "%g kg per person and day: want 0 to 10", *kg)
		}
	}
}
