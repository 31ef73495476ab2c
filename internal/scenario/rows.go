package scenario

import "fmt"

// Rows is a validated scenario flattened into the records the store keeps.
// Parents come before their children.
type Rows struct {
	Scenario string
	// Locale is the district's language, "en" when the file names none.
	Locale string
	Areas  []AreaRow
	Gates  []GateRow
	Roads  []RoadRow
	Staff  []StaffRow
	Sites  []SiteRow
	// Commodities are the scenario's own commodities.
	Commodities []Commodity
	// Registry is the residents, listed in the scenario's residents file or
	// generated from its populations; empty when the file has neither.
	Registry []ResidentRow
	// HomeVisitKinds are the scenario's kinds of home visit, by priority.
	HomeVisitKinds []HomeVisitKind
}

// AreaRow is one area with its path (codes from the top, joined by '/').
type AreaRow struct {
	Code        string
	Path        string
	ParentCode  string
	Level       Level
	Name        string
	Population  int
	Buildings   int
	PublicAreas []string
}

// GateRow is a compound gate.
type GateRow struct {
	AreaCode string
	Code     string
	Name     string
	Entrance bool
}

// RoadRow is a road section next to an area.
type RoadRow struct {
	AreaCode string
	Code     string
	Name     string
	Entrance bool
}

// StaffRow is one staff member and the area they belong to.
type StaffRow struct {
	AreaCode string
	Code     string
	Name     string
	Role     string
	// Group is the staff entry's code; Skills and MaxShiftHours come with it.
	Group         string
	Skills        []string
	MaxShiftHours int
}

// SiteRow is one site and the area it lies in.
type SiteRow struct {
	AreaCode        string
	Code            string
	Name            string
	Kind            string
	Population      int
	CapacityPerHour int
	// Serves is the area a supplier feeds; Stock its tonnes per commodity.
	Serves string
	Stock  map[string]float64
}

// Rows flattens the scenario.
func (f *File) Rows() Rows {
	r := Rows{Scenario: f.Name, Locale: f.Locale, Commodities: f.Commodities}
	if r.Locale == "" {
		r.Locale = "en"
	}
	for i := range f.Areas {
		r.walk(&f.Areas[i], "", "")
	}
	r.Registry = f.registry()
	r.HomeVisitKinds = f.visitKinds()
	return r
}

// Residents sums the residents of every area and site.
func (r Rows) Residents() int {
	n := 0
	for _, a := range r.Areas {
		n += a.Population
	}
	for _, s := range r.Sites {
		n += s.Population
	}
	return n
}

func (r *Rows) walk(a *Area, parentPath, parentCode string) {
	path := a.Code
	if parentPath != "" {
		path = parentPath + "/" + a.Code
	}
	r.Areas = append(r.Areas, AreaRow{
		Code: a.Code, Path: path, ParentCode: parentCode, Level: a.Level, Name: a.Name,
		Population: a.Population, Buildings: a.Buildings, PublicAreas: append([]string{}, a.PublicAreas...),
	})
	for _, g := range a.Gates {
		name := g.Name
		if name == "" {
			name = g.Code
		}
		r.Gates = append(r.Gates, GateRow{AreaCode: a.Code, Code: g.Code, Name: name, Entrance: g.Entrance})
	}
	for _, rd := range a.Roads {
		r.Roads = append(r.Roads, RoadRow{AreaCode: a.Code, Code: rd.Code, Name: rd.Name, Entrance: rd.Entrance})
	}
	for _, s := range a.Staff {
		for i, code := range expand(s.Code, s.Count) {
			r.Staff = append(r.Staff, StaffRow{AreaCode: a.Code, Code: code, Name: numbered(s.Name, code, i, s.Count), Role: s.Role,
				Group: s.Code, Skills: s.Skills, MaxShiftHours: s.MaxShiftHours})
		}
	}
	for _, s := range a.Sites {
		for i, code := range expand(s.Code, s.Count) {
			r.Sites = append(r.Sites, SiteRow{
				AreaCode: a.Code, Code: code, Name: numbered(s.Name, code, i, s.Count), Kind: s.Kind,
				Population: s.Population, CapacityPerHour: s.CapacityPerHour,
				Serves: s.Serves, Stock: s.Stock,
			})
		}
	}
	for i := range a.Areas {
		r.walk(&a.Areas[i], path, a.Code)
	}
}

func numbered(name, code string, i, count int) string {
	if name == "" {
		return code
	}
	if count <= 1 {
		return name
	}
	return fmt.Sprintf("%s %d", name, i+1)
}
