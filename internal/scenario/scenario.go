// Package scenario reads scenario files: the area tree of a district
// (district → sub-district → community → compound), its residents' counts,
// compound gates, road sections, staff and sites. The format is documented in
// docs/scenario.md; the reference scenario of the seed's district is embedded.
package scenario

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/internal/yamlstrict"
)

// Level is an area's place in the tree.
type Level string

// Area levels, from the top of the tree down.
const (
	LevelDistrict    Level = "district"
	LevelSubDistrict Level = "sub-district"
	LevelCommunity   Level = "community"
	LevelCompound    Level = "compound"
)

// Levels lists the area levels from the top of the tree down.
var Levels = []Level{LevelDistrict, LevelSubDistrict, LevelCommunity, LevelCompound}

func (l Level) rank() int {
	for i, v := range Levels {
		if v == l {
			return i
		}
	}
	return -1
}

// SiteKinds lists the kinds of site a scenario may name.
var SiteKinds = []string{"sampling-point", "campus", "key-site", "supermarket", "market", "school", "hospital"}

// StaffRoles lists the roles staff may have.
var StaffRoles = []string{"community-worker", "grid-worker", "cadre", "teacher", "medical", "volunteer", "security", "disinfection"}

// File is one scenario file.
type File struct {
	// Name identifies the scenario; rows it loads are tagged with it.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Commodities are the scenario's own, besides the built-in ones.
	Commodities []Commodity `yaml:"commodities"`
	// Areas are the top-level areas, usually one district.
	Areas []Area `yaml:"areas"`
	// Residents names a CSV file listing the residents (docs/scenario.md),
	// relative to the scenario file.
	Residents string `yaml:"residents"`
	// GenerateResidents makes up the residents from the population counts
	// instead, seeded and reproducible.
	GenerateResidents *Generate `yaml:"generate_residents"`
	// Locale is the district's language for notices, questions and reports:
	// "en" (the default) or "zh-CN".
	Locale string `yaml:"locale"`
	// HomeVisitKinds are the kinds of resident sampled at home, each with
	// its priority (homevisits.go).
	HomeVisitKinds []HomeVisitKind `yaml:"home_visit_kinds"`
	// References are figures an account of a real day gives, which the
	// after-action report sets beside the response's own.
	References []ReferenceFigure `yaml:"references"`

	source string
	line   int
	// listed holds the residents read from the Residents file.
	listed []ResidentRow
}

// Area is a node of the area tree.
type Area struct {
	Code  string `yaml:"code"`
	Name  string `yaml:"name"`
	Level Level  `yaml:"level"`
	// Population is the number of residents. It is required for compounds;
	// on higher levels it is optional and only counts residents not already
	// counted in a child compound.
	Population int `yaml:"population"`
	Buildings  int `yaml:"buildings"`
	// Gates of a compound; every gate gets a checkpoint when it is sealed.
	Gates []Gate `yaml:"gates"`
	// Roads are road sections closed when the area is sealed, except entrances.
	Roads []Road `yaml:"roads"`
	// PublicAreas are the zones disinfected when the area is sealed.
	PublicAreas []string `yaml:"public_areas"`
	// HomeVisitShare overrides generate_residents.home_visit_share for the
	// residents of this compound.
	HomeVisitShare *float64     `yaml:"home_visit_share"`
	Staff          []StaffGroup `yaml:"staff"`
	Sites          []Site       `yaml:"sites"`
	Areas          []Area       `yaml:"areas"`

	line int
}

// Gate is a compound gate.
type Gate struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	// Entrance marks the gate residents may still use, through a checkpoint.
	Entrance bool `yaml:"entrance"`

	line int
}

// Road is a road section next to an area.
type Road struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	// Entrance marks the road left open so everyone enters by one street.
	Entrance bool `yaml:"entrance"`

	line int
}

// StaffGroup is one staff member, or with Count a group whose codes are
// Code-01, Code-02, … .
type StaffGroup struct {
	Code  string `yaml:"code"`
	Name  string `yaml:"name"`
	Role  string `yaml:"role"`
	Count int    `yaml:"count"`
	// Skills and MaxShiftHours feed staff supply (docs/supply.md).
	Skills        []string `yaml:"skills"`
	MaxShiftHours int      `yaml:"max_shift_hours"`

	line int
}

// Site is a place that is not an area: a sampling point, campus, key site,
// supermarket or market. With Count it stands for Count sites coded
// Code-01, Code-02, … .
type Site struct {
	Code            string `yaml:"code"`
	Name            string `yaml:"name"`
	Kind            string `yaml:"kind"`
	Population      int    `yaml:"population"`
	CapacityPerHour int    `yaml:"capacity_per_hour"`
	Count           int    `yaml:"count"`
	// Serves and Stock make a supermarket or market a supplier
	// (docs/supply.md).
	Serves string             `yaml:"serves"`
	Stock  map[string]float64 `yaml:"stock"`
	// Cohorts, on a campus or school, are its own cohorts in the order
	// its people are called (sitecohorts.go).
	Cohorts []CohortShare `yaml:"cohorts"`

	line int
}

//go:embed reference/*.yaml
var reference embed.FS

// ReferenceName is the file name of the bundled reference scenario.
const ReferenceName = "reference/xiaodian.yaml"

// Reference returns the bundled reference scenario (the seed's district).
func Reference() (*File, error) {
	b, err := reference.ReadFile(ReferenceName)
	if err != nil {
		return nil, err
	}
	return Parse("xiaodian.yaml (built in)", b)
}

// Limits of a scenario file. A district's areas, staff and sites fit in a
// few hundred KiB; the limits keep a mistaken or hostile file from
// exhausting memory before validation can say what is wrong.
const (
	// MaxFileBytes is the largest scenario file read.
	MaxFileBytes = 16 << 20
	// MaxPopulation is the most residents one area or site may count.
	MaxPopulation = 2_000_000
	// MaxResidentsFileBytes is the largest residents CSV file read.
	MaxResidentsFileBytes = 1 << 30
	// MaxResidents is the most residents a whole scenario may count
	// (each generated resident is a row in memory before it is loaded).
	MaxResidents = 5_000_000
)

// ReadFile reads and validates a scenario file.
func ReadFile(path string) (*File, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, b)
}

// ReferenceMetrics are the figures of a response a reference figure can be
// set against: residents sampled, sampling points, hours and residents per
// point-hour of a testing round, compounds sealed, checkpoint staff,
// findings opened and closed.
var ReferenceMetrics = []string{"testing.sampled", "testing.points", "testing.hours", "testing.rate",
	"seal.compounds", "seal.staff", "findings.opened", "findings.closed"}

// ReferenceFigure is one figure of an account of a real response.
type ReferenceFigure struct {
	// Metric names the response's figure it compares with (ReferenceMetrics).
	Metric string `yaml:"metric"`
	// Area, when set, limits the figure to responses over that area (its
	// code is the last part of the response's area path).
	Area string `yaml:"area"`
	// Round, when set, limits a testing figure to that round number.
	Round int     `yaml:"round"`
	Value float64 `yaml:"value"`
	// Label says what the figure is, in the account's words.
	Label  string `yaml:"label"`
	Source string `yaml:"source"`

	line int
}

// UnmarshalYAML decodes a reference figure strictly and keeps its line for errors.
func (r *ReferenceFigure) UnmarshalYAML(n *yaml.Node) error {
	type plain ReferenceFigure
	return yamlstrict.Decode(n, "a reference figure", (*plain)(r), &r.line)
}

// Error is a problem at a place in a scenario file.
type Error struct {
	Source string
	Line   int
	Field  string
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Errors is every problem found in a file.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse decodes and validates a scenario. Every problem is reported with the
// source name, the line and the field path.
func Parse(source string, data []byte) (*File, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Source: source, Msg: fmt.Sprintf("the file is larger than %d MiB: a scenario lists areas and sites, and residents go in a CSV file (residents:)", MaxFileBytes>>20)}
	}
	// The text is read into nodes first and refused if it holds an alias
	// (yamlstrict.FindAlias says why).
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, decodeError(source, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{Source: source, Msg: "file is empty; see docs/scenario.md for the format"}
	}
	if a := yamlstrict.FindAlias(&root); a != nil {
		return nil, &Error{Source: source, Line: a.Line, Msg: fmt.Sprintf("YAML aliases (*%s) are not allowed: write each entry out in full", a.Value)}
	}
	var f File
	if err := root.Content[0].Decode(&f); err != nil {
		return nil, decodeError(source, err)
	}
	f.source = source
	if errs := f.validate(); len(errs) > 0 {
		return nil, errs
	}
	if f.Residents != "" {
		path := f.Residents
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(source), path)
		}
		rows, err := readResidents(path, &f)
		if err != nil {
			return nil, err
		}
		f.listed = rows
	}
	return &f, nil
}

func decodeError(source string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var es Errors
		for _, m := range te.Errors {
			es = append(es, lineError(source, m))
		}
		return es
	}
	if e, ok := err.(*Error); ok {
		e.Source = source
		return e
	}
	return lineError(source, err.Error())
}

func lineError(source, msg string) *Error {
	line, msg := yamlstrict.Line(msg)
	return &Error{Source: source, Line: line, Msg: msg}
}

// UnmarshalYAML decodes the scenario strictly and keeps its line for errors.
func (f *File) UnmarshalYAML(n *yaml.Node) error {
	type plain File
	return yamlstrict.Decode(n, "the scenario", (*plain)(f), &f.line)
}

// UnmarshalYAML decodes generate_residents strictly and keeps its line for errors.
func (g *Generate) UnmarshalYAML(n *yaml.Node) error {
	type plain Generate
	return yamlstrict.Decode(n, "generate_residents", (*plain)(g), &g.line)
}

// UnmarshalYAML decodes cohorts strictly and keeps its line for errors.
func (c *Cohorts) UnmarshalYAML(n *yaml.Node) error {
	type plain Cohorts
	return yamlstrict.Decode(n, "cohorts", (*plain)(c), &c.line)
}

// UnmarshalYAML decodes a cohort strictly and keeps its line for errors.
func (c *CohortShare) UnmarshalYAML(n *yaml.Node) error {
	type plain CohortShare
	return yamlstrict.Decode(n, "a cohort", (*plain)(c), &c.line)
}

// UnmarshalYAML decodes an area strictly and keeps its line for errors.
func (a *Area) UnmarshalYAML(n *yaml.Node) error {
	type plain Area
	return yamlstrict.Decode(n, "an area", (*plain)(a), &a.line)
}

// UnmarshalYAML decodes a gate strictly and keeps its line for errors.
func (g *Gate) UnmarshalYAML(n *yaml.Node) error {
	type plain Gate
	return yamlstrict.Decode(n, "a gate", (*plain)(g), &g.line)
}

// UnmarshalYAML decodes a road strictly and keeps its line for errors.
func (r *Road) UnmarshalYAML(n *yaml.Node) error {
	type plain Road
	return yamlstrict.Decode(n, "a road", (*plain)(r), &r.line)
}

// UnmarshalYAML decodes a staff entry strictly and keeps its line for errors.
func (s *StaffGroup) UnmarshalYAML(n *yaml.Node) error {
	type plain StaffGroup
	return yamlstrict.Decode(n, "a staff entry", (*plain)(s), &s.line)
}

// UnmarshalYAML decodes a site strictly and keeps its line for errors.
func (s *Site) UnmarshalYAML(n *yaml.Node) error {
	type plain Site
	return yamlstrict.Decode(n, "a site", (*plain)(s), &s.line)
}
