// Residents of a scenario: the registry a testing round samples. A scenario
// lists them in a CSV file (residents: FILE) or generates them from its
// population counts (generate_residents), seeded so the same file always
// gives the same rows. Generated personal details are plainly fake.

package scenario

import (
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Generate makes residents up from the population counts: every compound
// gets exactly its population, every campus site its population.
type Generate struct {
	// Seed makes the generated rows reproducible: the same seed and the same
	// file give the same residents.
	Seed int64 `yaml:"seed"`
	// HomeVisitShare is the share of each compound's residents sampled at
	// home (elderly with limited mobility, pregnant, disabled); a compound's
	// own home_visit_share overrides it.
	HomeVisitShare float64 `yaml:"home_visit_share"`
	// Cohorts splits the residents into cohorts.
	Cohorts Cohorts `yaml:"cohorts"`

	line int
}

// Cohorts lists the cohorts of compound residents and of campus people, in
// priority order, with the share of each.
type Cohorts struct {
	Compound []CohortShare `yaml:"compound"`
	Campus   []CohortShare `yaml:"campus"`

	line int
}

// CohortShare is one cohort and its share of the people.
type CohortShare struct {
	Cohort string  `yaml:"cohort"`
	Share  float64 `yaml:"share"`

	line int
}

// Default cohorts when generate_residents names none: compounds hold
// residents; campuses students first, then teachers.
var (
	DefaultCompoundCohorts = []CohortShare{{Cohort: "resident", Share: 1}}
	DefaultCampusCohorts   = []CohortShare{{Cohort: "student", Share: 0.9}, {Cohort: "teacher", Share: 0.1}}
)

// DefaultCohort is the cohort of a listed resident whose cohort is blank.
const DefaultCohort = "resident"

// CampusBuildingSize is how many campus people a generated campus building
// (dormitory or staff block) holds.
const CampusBuildingSize = 500

// ResidentRow is one resident: a pseudonymous code, where they live and
// whether they are sampled at home, and their personal details. The
// personal details never leave the store's contacts table: String and
// LogValue show the code alone.
type ResidentRow struct {
	Code string
	// AreaCode is the resident's compound, or the community for campus
	// people.
	AreaCode  string
	Building  string
	Cohort    string
	HomeVisit bool
	// HomeVisitKind is the kind of a home-visit resident, one of the
	// scenario's home_visit_kinds (empty when it names none), and
	// HomeVisitPriority its priority (0: visited after every kind).
	HomeVisitKind     string
	HomeVisitPriority int
	// Site is the campus or school a campus person belongs to, and
	// CohortRank their cohort's place in that site's cohorts (1 first; 0
	// when the site lists none or not theirs).
	Site       string
	CohortRank int

	Name     string
	IDNumber string
	Phone    string
}

// String shows the resident's code only, so personal details cannot reach
// a log or an error through %v.
func (r ResidentRow) String() string { return "resident " + r.Code }

// GoString keeps %#v from printing personal details.
func (r ResidentRow) GoString() string { return r.String() }

// LogValue keeps slog from printing personal details.
func (r ResidentRow) LogValue() slog.Value {
	return slog.GroupValue(slog.String("code", r.Code), slog.String("area", r.AreaCode), slog.String("cohort", r.Cohort))
}

// residentCode is the rule for resident codes: pseudonymous, no spaces.
var residentCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ResidentColumns are the columns of a residents CSV file; code and area
// are required.
var ResidentColumns = []string{"code", "area", "building", "cohort", "home_visit", "site", "name", "id_number", "phone"}

// registry returns the scenario's residents: those listed in its CSV file,
// or those it generates.
func (f *File) registry() []ResidentRow {
	switch {
	case f.listed != nil:
		return append([]ResidentRow(nil), f.listed...)
	case f.GenerateResidents != nil:
		return f.generate()
	}
	return nil
}

// generate makes the residents of every compound and campus site up.
func (f *File) generate() []ResidentRow {
	g := f.GenerateResidents
	compound := g.Cohorts.Compound
	if len(compound) == 0 {
		compound = DefaultCompoundCohorts
	}
	campus := g.Cohorts.Campus
	if len(campus) == 0 {
		campus = DefaultCampusCohorts
	}
	kinds := f.visitKinds()
	total := 0
	var walk func(a *Area, fn func(a *Area))
	walk = func(a *Area, fn func(a *Area)) {
		fn(a)
		for i := range a.Areas {
			walk(&a.Areas[i], fn)
		}
	}
	for i := range f.Areas {
		walk(&f.Areas[i], func(a *Area) {
			if a.Level == LevelCompound {
				total += a.Population
			}
			for _, s := range a.Sites {
				if s.Kind == "campus" {
					total += s.Population * max(s.Count, 1)
				}
			}
		})
	}
	out := make([]ResidentRow, 0, total)
	for i := range f.Areas {
		walk(&f.Areas[i], func(a *Area) {
			if a.Level == LevelCompound && a.Population > 0 {
				share := g.HomeVisitShare
				if a.HomeVisitShare != nil {
					share = *a.HomeVisitShare
				}
				from := len(out)
				out = generateGroup(out, g.Seed, a.Code, a.Code, a.Population, buildingNames("b", a.Buildings, a.Population), compound, share)
				giveVisitKinds(out[from:], kinds)
			}
			for _, s := range a.Sites {
				if s.Kind != "campus" || s.Population <= 0 {
					continue
				}
				cohorts := campus
				if len(s.Cohorts) > 0 {
					cohorts = s.Cohorts
				}
				for _, code := range expand(s.Code, s.Count) {
					n := (s.Population + CampusBuildingSize - 1) / CampusBuildingSize
					from := len(out)
					out = generateGroup(out, g.Seed, code, a.Code, s.Population, buildingNames(code+"-b", n, s.Population), cohorts, 0)
					placeAtSite(out[from:], code, s.Cohorts)
				}
			}
		})
	}
	return out
}

// buildingNames returns the names of n buildings (at least one).
func buildingNames(prefix string, n, population int) []string {
	n = max(min(n, population), 1)
	width := max(len(strconv.Itoa(n)), 2)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%0*d", prefix, width, i+1)
	}
	return out
}

// generateGroup appends the n people of one compound or campus. Their codes
// are r-<group>-1 … r-<group>-n; buildings fill in order; cohorts take
// consecutive runs in priority order, sized by largest remainder so they
// add up to n exactly; round(n × homeShare) of them, drawn with the seed,
// are sampled at home. Each group draws from its own stream (seed and group
// code), so adding a compound does not change the others.
func generateGroup(out []ResidentRow, seed int64, group, area string, n int, buildings []string, cohorts []CohortShare, homeShare float64) []ResidentRow {
	h := fnv.New64a()
	h.Write([]byte(group))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))

	home := make([]bool, n)
	k := int(math.Round(float64(n) * homeShare))
	for _, i := range rng.Perm(n)[:min(k, n)] {
		home[i] = true
	}
	sizes := apportion(n, cohorts)
	c, left := 0, sizes[0]
	prefix := "r-" + group + "-"
	for i := range n {
		for left == 0 && c < len(cohorts)-1 {
			c++
			left = sizes[c]
		}
		left--
		out = append(out, ResidentRow{
			Code:      prefix + strconv.Itoa(i+1),
			AreaCode:  area,
			Building:  buildings[i*len(buildings)/n],
			Cohort:    cohorts[c].Cohort,
			HomeVisit: home[i],
			Name:      fakeName(rng),
			IDNumber:  fakeIDNumber(rng),
			Phone:     fakePhone(rng),
		})
	}
	return out
}

// apportion splits n over the shares by largest remainder, so the parts add
// up to n; ties go to the cohort listed first.
func apportion(n int, shares []CohortShare) []int {
	sum := 0.0
	for _, s := range shares {
		sum += s.Share
	}
	out := make([]int, len(shares))
	rem := make([]float64, len(shares))
	given := 0
	for i, s := range shares {
		exact := float64(n) * s.Share / sum
		out[i] = int(math.Floor(exact))
		rem[i] = exact - float64(out[i])
		given += out[i]
	}
	for ; given < n; given++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
	}
	return out
}

var (
	fakeSurnames = []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun", "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo"}
	fakeGiven    = []string{"Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong", "Yan", "Jie", "Juan", "Tao", "Ming", "Chao", "Xiu", "Xia", "Ping"}
)

// fakeName is a plainly fake name: a common surname and given name marked
// "(fake)".
func fakeName(rng *rand.Rand) string {
	return fakeSurnames[rng.IntN(len(fakeSurnames))] + " " + fakeGiven[rng.IntN(len(fakeGiven))] + " (fake)"
}

// fakeIDNumber is an ID number no one holds: it starts with FAKE.
func fakeIDNumber(rng *rand.Rand) string {
	return "FAKE" + strconv.FormatUint(1e13+rng.Uint64N(9e13), 10)
}

// fakePhone is a number no one answers: the 000 prefix is not assigned.
func fakePhone(rng *rand.Rand) string {
	n := rng.Uint64N(1e8)
	s := strconv.FormatUint(1e8+n, 10)[1:]
	return "000-" + s[:4] + "-" + s[4:]
}

// readResidents reads a residents CSV file: a header naming the columns
// (code and area required, the others of ResidentColumns optional, in any
// order), then one resident a line. Every problem is reported with the
// file, the line and the column; personal details never appear in an
// error.
func readResidents(path string, f *File) ([]ResidentRow, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, &Error{Source: f.source, Field: "residents", Msg: fmt.Sprintf("cannot read the residents file: %v", err)}
	}
	defer file.Close()
	// A device or a pipe (residents: /dev/zero) would be read for ever.
	if fi, err := file.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, &Error{Source: f.source, Field: "residents", Msg: fmt.Sprintf("%s is not a regular file", path)}
	} else if fi.Size() > MaxResidentsFileBytes {
		return nil, &Error{Source: f.source, Field: "residents", Msg: fmt.Sprintf("%s is larger than %d MiB: split the scenario into several districts", path, MaxResidentsFileBytes>>20)}
	}
	return parseResidents(file, path, f.areaLevels(), f.visitKinds(), f.siteCohortLists())
}

// areaLevels maps each area code of the file to its level.
func (f *File) areaLevels() map[string]Level {
	out := map[string]Level{}
	var walk func(as []Area)
	walk = func(as []Area) {
		for i := range as {
			out[as[i].Code] = as[i].Level
			walk(as[i].Areas)
		}
	}
	walk(f.Areas)
	return out
}

// maxResidentErrors bounds the errors reported from one residents file.
const maxResidentErrors = 50

func parseResidents(r io.Reader, source string, areas map[string]Level, kinds []HomeVisitKind, sites map[string][]CohortShare) ([]ResidentRow, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	col, err := residentHeader(cr, source)
	if err != nil {
		return nil, err
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var (
		out   []ResidentRow
		errs  Errors
		first = map[string]int{}
	)
	add := func(line int, field, format string, args ...any) {
		if len(errs) < maxResidentErrors {
			errs = append(errs, &Error{Source: source, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(source, err)
		}
		line, _ := cr.FieldPos(0)
		row := ResidentRow{
			Code: get(rec, "code"), AreaCode: get(rec, "area"), Building: get(rec, "building"), Cohort: get(rec, "cohort"),
			Name: get(rec, "name"), IDNumber: get(rec, "id_number"), Phone: get(rec, "phone"),
		}
		switch {
		case row.Code == "":
			add(line, "code", "is required")
		case !residentCode.MatchString(row.Code):
			add(line, "code", "%q is not a resident code: letters, digits, '.', '_' and '-', at most 128 characters", row.Code)
		case first[row.Code] > 0:
			add(line, "code", "resident %q is already listed on line %d", row.Code, first[row.Code])
		default:
			first[row.Code] = line
		}
		switch lvl, ok := areas[row.AreaCode]; {
		case row.AreaCode == "":
			add(line, "area", "is required: the resident's compound (or community, for campus people)")
		case !ok:
			add(line, "area", "unknown area %q: residents live in an area of this scenario", row.AreaCode)
		case lvl != LevelCompound && lvl != LevelCommunity:
			add(line, "area", "area %q is a %s: residents live in a compound, or a community for campus people", row.AreaCode, lvl)
		}
		if row.Cohort == "" {
			row.Cohort = DefaultCohort
		} else if !codePattern.MatchString(row.Cohort) {
			add(line, "cohort", "%q is not a cohort: use lower-case letters, digits and '-' (resident, student, teacher, staff, …)", row.Cohort)
		}
		if msg := homeVisitOf(&row, get(rec, "home_visit"), kinds); msg != "" {
			add(line, "home_visit", "%s", msg)
		}
		if site := get(rec, "site"); site != "" {
			if cohorts, ok := sites[site]; ok {
				row.Site, row.CohortRank = site, cohortRank(cohorts, row.Cohort)
			} else {
				add(line, "site", "unknown site %q: a campus or school of this scenario", site)
			}
		}
		if len(out) == MaxResidents {
			return nil, &Error{Source: source, Line: line, Msg: fmt.Sprintf("more than %d residents: split the scenario into several districts", MaxResidents)}
		}
		out = append(out, row)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// homeVisitOf sets the row's home visit from its home_visit column: true
// or false, or a kind of home visit the scenario declares (which gives the
// visit its priority). It returns what is wrong with the value, or "".
func homeVisitOf(row *ResidentRow, value string, kinds []HomeVisitKind) string {
	switch hv := strings.ToLower(value); hv {
	case "", "false", "no", "0":
	case "true", "yes", "1":
		row.HomeVisit = true
	default:
		i := slices.IndexFunc(kinds, func(k HomeVisitKind) bool { return k.Kind == hv })
		switch {
		case i >= 0:
			row.HomeVisit, row.HomeVisitKind, row.HomeVisitPriority = true, kinds[i].Kind, kinds[i].Priority
		case len(kinds) > 0:
			return fmt.Sprintf("%q is not true, false or a kind of home visit (home_visit_kinds: %s)", hv, visitKindNames(kinds))
		default:
			return fmt.Sprintf("%q is not true or false (or a kind of home visit, once the scenario declares home_visit_kinds)", hv)
		}
	}
	return ""
}

// residentHeader reads the header line of a residents file and returns
// the column of each name; the code and area columns are required.
func residentHeader(cr *csv.Reader, source string) (map[string]int, error) {
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Source: source, Msg: "the residents file is empty: it needs a header line (" + strings.Join(ResidentColumns, ",") + ")"}
	}
	if err != nil {
		return nil, csvError(source, err)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !containsString(ResidentColumns, name) {
			return nil, &Error{Source: source, Line: 1, Msg: fmt.Sprintf("unknown column %q (columns: %s)", h, strings.Join(ResidentColumns, ", "))}
		}
		if _, dup := col[name]; dup {
			return nil, &Error{Source: source, Line: 1, Msg: fmt.Sprintf("column %q is given twice", name)}
		}
		col[name] = i
	}
	for _, req := range []string{"code", "area"} {
		if _, ok := col[req]; !ok {
			return nil, &Error{Source: source, Line: 1, Msg: fmt.Sprintf("the header has no %q column (columns: %s)", req, strings.Join(ResidentColumns, ", "))}
		}
	}
	return col, nil
}

func csvError(source string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{Source: source, Line: pe.Line, Msg: pe.Err.Error()}
	}
	return &Error{Source: source, Msg: err.Error()}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CityPointsPerCommunity is how many sampling points each community of a
// generated city has, at CityPointCapacity residents an hour each.
const (
	CityPointsPerCommunity = 4
	CityPointCapacity      = 250
	cityCompoundSize       = 1000
	citySubDistrictSize    = 10
)

// GenerateCity builds a large synthetic district for benchmarks and load
// tests: communities grouped ten to a sub-district, each with four sampling
// points, grid and community workers, and compounds of about a thousand
// residents (sizes vary with the seed) adding up to exactly residents. Its
// residents are generated (generate_residents with the seed, 1% home
// visits); Rows returns them.
func GenerateCity(residents, communities int, seed int64) (*File, error) {
	if residents < communities || communities < 1 {
		return nil, fmt.Errorf("a city needs at least one community and one resident per community (got %d residents, %d communities)", residents, communities)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x63697479))
	f := &File{
		Name:              "synthetic-city",
		Description:       fmt.Sprintf("A generated district of %d residents in %d communities (seed %d).", residents, communities, seed),
		GenerateResidents: &Generate{Seed: seed, HomeVisitShare: 0.01},
		source:            "generated city",
	}
	district := Area{Code: "city", Name: "Synthetic City", Level: LevelDistrict}
	perCommunity := splitEvenly(residents, communities)
	var sub *Area
	for c := range communities {
		if c%citySubDistrictSize == 0 {
			n := c/citySubDistrictSize + 1
			district.Areas = append(district.Areas, Area{Code: fmt.Sprintf("sd-%02d", n), Name: fmt.Sprintf("Sub-district %d", n), Level: LevelSubDistrict})
			sub = &district.Areas[len(district.Areas)-1]
		}
		code := fmt.Sprintf("c-%03d", c+1)
		comm := Area{
			Code: code, Name: fmt.Sprintf("Community %d", c+1), Level: LevelCommunity,
			Staff: []StaffGroup{
				{Code: code + "-grid", Name: "Grid worker", Role: "grid-worker", Count: 6},
				{Code: code + "-worker", Name: "Community worker", Role: "community-worker", Count: 10},
			},
			Sites: []Site{{Code: code + "-sampling", Name: "Sampling point", Kind: "sampling-point", CapacityPerHour: CityPointCapacity, Count: CityPointsPerCommunity}},
		}
		n := perCommunity[c]
		k := max(1, (n+cityCompoundSize/2)/cityCompoundSize)
		sizes := splitEvenly(n, k)
		// Shift people between neighbouring compounds so sizes differ
		// (between about half and one and a half of the average).
		for i := 0; i+1 < k; i++ {
			d := rng.IntN(sizes[i]/2 + 1)
			if rng.IntN(2) == 0 && sizes[i]-d >= 1 {
				sizes[i] -= d
				sizes[i+1] += d
			} else if sizes[i+1]-d >= 1 {
				sizes[i] += d
				sizes[i+1] -= d
			}
		}
		for i, size := range sizes {
			comm.Areas = append(comm.Areas, Area{
				Code: fmt.Sprintf("%s-k%02d", code, i+1), Name: fmt.Sprintf("Compound %d-%d", c+1, i+1), Level: LevelCompound,
				Population: size, Buildings: max(1, size/100),
				Gates: []Gate{{Code: "main", Name: "Main gate", Entrance: true}},
			})
		}
		sub.Areas = append(sub.Areas, comm)
	}
	f.Areas = []Area{district}
	if errs := f.validate(); len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// splitEvenly splits n into k parts differing by at most one.
func splitEvenly(n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}
