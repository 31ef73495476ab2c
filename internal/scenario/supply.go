package scenario

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Commodities lists the built-in commodities; a scenario adds its own
// (Commodity).
var Commodities = []string{"grain", "oil", "meat", "eggs", "vegetables", "milk"}

// SupplierKinds are the site kinds that may be suppliers.
var SupplierKinds = []string{"supermarket", "market"}

// MaxStockTonnes bounds a stock figure so a typo (kilograms for tonnes)
// is caught rather than loaded.
const MaxStockTonnes = 100000

type servesRef struct {
	line  int
	field string
	code  string
}

// staffSupply checks a staff entry's supply fields.
func (v *validator) staffSupply(s StaffGroup, path string) {
	if s.MaxShiftHours < 0 || s.MaxShiftHours > 24 {
		v.add(s.line, path+".max_shift_hours", "must be from 1 to 24 hours (got %d); leave it out for 12", s.MaxShiftHours)
	}
	for i, sk := range s.Skills {
		if !codePattern.MatchString(sk) {
			v.add(s.line, fmt.Sprintf("%s.skills[%d]", path, i), "%q is not a skill code: use lower-case letters, digits and '-'", sk)
		}
	}
}

// supplier checks a site's supply fields: only supermarkets and markets
// serve an area and hold stock, of known commodities in sensible tonnes.
func (v *validator) supplier(s Site, path string) {
	if (s.Serves != "" || len(s.Stock) > 0) && !slices.Contains(SupplierKinds, s.Kind) {
		v.add(s.line, path+".kind", "a %s cannot supply: serves and stock are for %s", s.Kind, strings.Join(SupplierKinds, " and "))
		return
	}
	if s.Serves != "" {
		v.serves = append(v.serves, servesRef{line: s.line, field: path + ".serves", code: s.Serves})
	}
	names := make([]string, 0, len(s.Stock))
	for c := range s.Stock {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		t := s.Stock[c]
		p := path + ".stock." + c
		switch {
		case !slices.Contains(v.known, c):
			v.add(s.line, p, "unknown commodity %q: want one of %s (or list it under the scenario's commodities)", c, strings.Join(v.known, ", "))
		case math.IsNaN(t) || t < 0:
			v.add(s.line, p, "must not be negative (got %g tonnes)", t)
		case t > MaxStockTonnes:
			v.add(s.line, p, "%g tonnes is more than %d: give the stock in tonnes", t, MaxStockTonnes)
		}
	}
}

// servesKnownAreas checks that every supplier serves an area of the file.
func (v *validator) servesKnownAreas() {
	for _, r := range v.serves {
		if _, ok := v.codes["area:"+r.code]; !ok {
			v.add(r.line, r.field, "unknown area %q: name an area of this scenario", r.code)
		}
	}
}
