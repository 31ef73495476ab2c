package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var codePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// maxGenerated bounds Count on staff and sites so a typo cannot create a
// million rows.
const maxGenerated = 10000

type validator struct {
	source string
	errs   Errors
	codes  map[string]string // area, site and staff codes → field path of first use
	serves []servesRef       // suppliers' areas, checked once every area is known
	// residents counts the populations seen, against MaxResidents.
	residents int
	overTotal bool
	known     []string // commodities a supplier may stock
}

func (v *validator) add(line int, field, format string, args ...any) {
	v.errs = append(v.errs, &Error{Source: v.source, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) code(line int, field, code, kind string) {
	switch {
	case code == "":
		v.add(line, field, "is required")
	case !codePattern.MatchString(code):
		v.add(line, field, "%q is not a code: use lower-case letters, digits and '-', at most 63 characters", code)
	default:
		key := kind + ":" + code
		if first, ok := v.codes[key]; ok {
			v.add(line, field, "%s code %q is already used at %s", kind, code, first)
			return
		}
		v.codes[key] = field
	}
}

func (f *File) validate() Errors {
	v := &validator{source: f.source, codes: map[string]string{}}
	if strings.TrimSpace(f.Name) == "" {
		v.add(f.line, "name", "is required: name the scenario")
	} else if !codePattern.MatchString(f.Name) {
		v.add(f.line, "name", "%q is not a code: use lower-case letters, digits and '-'", f.Name)
	}
	v.commodities(f.Commodities)
	v.homeVisitKinds(f.HomeVisitKinds)
	if len(f.Areas) == 0 {
		v.add(f.line, "areas", "is required: list at least one area (usually the district)")
	}
	for i := range f.Areas {
		v.area(&f.Areas[i], fmt.Sprintf("areas[%d]", i), "")
	}
	v.servesKnownAreas()
	if f.Residents != "" && f.GenerateResidents != nil {
		v.add(f.GenerateResidents.line, "generate_residents", "give residents (a CSV file) or generate_residents, not both")
	}
	switch f.Locale {
	case "", "en", "zh-CN":
	default:
		v.add(f.line, "locale", "%q is not a supported locale: use en or zh-CN", f.Locale)
	}
	for i, r := range f.References {
		field := fmt.Sprintf("references[%d]", i)
		if !slices.Contains(ReferenceMetrics, r.Metric) {
			v.add(r.line, field+".metric", "%q is not a metric: use one of %s", r.Metric, strings.Join(ReferenceMetrics, ", "))
		}
		if r.Value < 0 || r.Value != r.Value {
			v.add(r.line, field+".value", "must be a figure of 0 or more (got %g)", r.Value)
		}
		if strings.TrimSpace(r.Label) == "" {
			v.add(r.line, field+".label", "is required: say what the figure is")
		}
		if r.Round < 0 {
			v.add(r.line, field+".round", "must be a round number of 1 or more (got %d)", r.Round)
		}
		if r.Area != "" && !codePattern.MatchString(r.Area) {
			v.add(r.line, field+".area", "%q is not a code", r.Area)
		}
	}
	if g := f.GenerateResidents; g != nil {
		v.share(g.line, "generate_residents.home_visit_share", g.HomeVisitShare)
		v.cohorts(g.Cohorts.line, "generate_residents.cohorts.compound", g.Cohorts.Compound)
		v.cohorts(g.Cohorts.line, "generate_residents.cohorts.campus", g.Cohorts.Campus)
	}
	return v.errs
}

// population checks one area's or site's residents, and counts them
// against the scenario's total.
// A site entry with a count stands for times sites of n residents each.
func (v *validator) population(line int, field string, n, times int) {
	switch {
	case n < 0:
		v.add(line, field, "must not be negative (got %d)", n)
	case n > MaxPopulation:
		v.add(line, field, "%d is more than %d residents: split the area", n, MaxPopulation)
	default:
		v.residents += n * min(times, maxGenerated)
		if v.residents > MaxResidents && !v.overTotal {
			v.overTotal = true
			v.add(line, field, "the scenario counts more than %d residents by here: split it into several districts", MaxResidents)
		}
	}
}

// share checks a share of people: a number from 0 to 1.
func (v *validator) share(line int, field string, x float64) {
	if x < 0 || x > 1 || x != x {
		v.add(line, field, "must be a share from 0 to 1 (got %g)", x)
	}
}

// cohorts checks a list of cohorts and their shares: codes listed once,
// shares above 0 adding up to 1.
func (v *validator) cohorts(line int, field string, cs []CohortShare) {
	if len(cs) == 0 {
		return
	}
	seen := map[string]bool{}
	sum := 0.0
	for i, c := range cs {
		p := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case c.Cohort == "":
			v.add(c.line, p+".cohort", "is required (resident, student, teacher, staff, …)")
		case !codePattern.MatchString(c.Cohort):
			v.add(c.line, p+".cohort", "%q is not a cohort: use lower-case letters, digits and '-'", c.Cohort)
		case seen[c.Cohort]:
			v.add(c.line, p+".cohort", "%q is listed twice", c.Cohort)
		}
		seen[c.Cohort] = true
		if c.Share <= 0 || c.Share > 1 || c.Share != c.Share {
			v.add(c.line, p+".share", "must be above 0 and at most 1 (got %g)", c.Share)
		}
		sum += c.Share
	}
	if sum < 0.999 || sum > 1.001 {
		v.add(line, field, "the shares add up to %g, want 1", sum)
	}
}

func (v *validator) area(a *Area, path string, parent Level) {
	v.code(a.line, path+".code", a.Code, "area")
	if strings.TrimSpace(a.Name) == "" {
		v.add(a.line, path+".name", "is required")
	}
	switch {
	case a.Level == "":
		v.add(a.line, path+".level", "is required: one of %s", levelList())
	case a.Level.rank() < 0:
		v.add(a.line, path+".level", "unknown level %q: want one of %s", a.Level, levelList())
	case parent != "" && a.Level.rank() <= parent.rank():
		v.add(a.line, path+".level", "a %s cannot sit inside a %s: children must be lower in the tree (%s)", a.Level, parent, levelList())
	}
	v.population(a.line, path+".population", a.Population, 1)
	if a.Buildings < 0 {
		v.add(a.line, path+".buildings", "must not be negative (got %d)", a.Buildings)
	}
	if a.HomeVisitShare != nil {
		if a.Level != LevelCompound {
			v.add(a.line, path+".home_visit_share", "only compounds have residents sampled at home (this area is a %s)", a.Level)
		}
		v.share(a.line, path+".home_visit_share", *a.HomeVisitShare)
	}
	if a.Level == LevelCompound {
		if a.Population == 0 {
			v.add(a.line, path+".population", "is required for a compound: the number of residents")
		}
		if len(a.Gates) == 0 {
			v.add(a.line, path+".gates", "a compound needs at least one gate: sealing puts a checkpoint at each")
		}
		if len(a.Areas) > 0 {
			v.add(a.Areas[0].line, path+".areas", "a compound has no child areas")
		}
	} else if len(a.Gates) > 0 {
		v.add(a.Gates[0].line, path+".gates", "only compounds have gates (this area is a %s)", a.Level)
	}
	v.gatesRoadsPublic(a, path)
	for i, s := range a.Staff {
		p := fmt.Sprintf("%s.staff[%d]", path, i)
		v.generated(s.line, p, s.Code, s.Count, "staff")
		if !slices.Contains(StaffRoles, s.Role) {
			v.add(s.line, p+".role", "unknown role %q: want one of %s", s.Role, strings.Join(StaffRoles, ", "))
		}
		v.staffSupply(s, p)
	}
	for i, s := range a.Sites {
		p := fmt.Sprintf("%s.sites[%d]", path, i)
		v.generated(s.line, p, s.Code, s.Count, "site")
		if !slices.Contains(SiteKinds, s.Kind) {
			v.add(s.line, p+".kind", "unknown kind %q: want one of %s", s.Kind, strings.Join(SiteKinds, ", "))
		}
		v.population(s.line, p+".population", s.Population, max(s.Count, 1))
		if s.CapacityPerHour < 0 {
			v.add(s.line, p+".capacity_per_hour", "must not be negative (got %d)", s.CapacityPerHour)
		}
		if s.Kind == "sampling-point" && s.CapacityPerHour == 0 {
			v.add(s.line, p+".capacity_per_hour", "is required for a sampling point: residents sampled per hour")
		}
		v.supplier(s, p)
		v.siteCohorts(s, p)
	}
	for i := range a.Areas {
		v.area(&a.Areas[i], fmt.Sprintf("%s.areas[%d]", path, i), a.Level)
	}
}

// gatesRoadsPublic checks an area's gates, road sections and public areas:
// each named once.
func (v *validator) gatesRoadsPublic(a *Area, path string) {
	seen := map[string]bool{}
	for i, g := range a.Gates {
		p := fmt.Sprintf("%s.gates[%d]", path, i)
		v.localCode(g.line, p+".code", g.Code, seen, "gate")
	}
	seen = map[string]bool{}
	for i, r := range a.Roads {
		p := fmt.Sprintf("%s.roads[%d]", path, i)
		v.localCode(r.line, p+".code", r.Code, seen, "road")
		if strings.TrimSpace(r.Name) == "" {
			v.add(r.line, p+".name", "is required")
		}
	}
	seen = map[string]bool{}
	for i, z := range a.PublicAreas {
		p := fmt.Sprintf("%s.public_areas[%d]", path, i)
		switch {
		case strings.TrimSpace(z) == "":
			v.add(a.line, p, "must not be empty")
		case seen[z]:
			v.add(a.line, p, "%q is listed twice", z)
		}
		seen[z] = true
	}
}

func (v *validator) localCode(line int, field, code string, seen map[string]bool, kind string) {
	switch {
	case code == "":
		v.add(line, field, "is required")
	case !codePattern.MatchString(code):
		v.add(line, field, "%q is not a code: use lower-case letters, digits and '-'", code)
	case seen[code]:
		v.add(line, field, "%s %q is listed twice in this area", kind, code)
	}
	seen[code] = true
}

// generated checks an entry that may stand for Count numbered entries.
func (v *validator) generated(line int, path, code string, count int, kind string) {
	switch {
	case count < 0:
		v.add(line, path+".count", "must not be negative (got %d)", count)
	case count > maxGenerated:
		v.add(line, path+".count", "%d is more than %d: list them in several entries", count, maxGenerated)
	}
	if count <= 1 || count > maxGenerated {
		v.code(line, path+".code", code, kind)
		return
	}
	for _, c := range expand(code, count) {
		v.code(line, path+".code", c, kind)
	}
}

// expand returns the codes an entry with Count stands for.
func expand(code string, count int) []string {
	if count <= 1 {
		return []string{code}
	}
	width := len(fmt.Sprint(count))
	if width < 2 {
		width = 2
	}
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%0*d", code, width, i+1)
	}
	return out
}

func levelList() string {
	s := make([]string, len(Levels))
	for i, l := range Levels {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}
