package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// aliasBomb is a file of under a kilobyte that once made `muster
// scenario check` grow to 22.9 GB: each level of areas is nine aliases of
// the level below, and each area is decoded on its own, which reset
// yaml.v3's guard against alias expansion.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("name: bomb\nareas:\n  - &l0 {code: c, name: C, level: compound, population: 1, gates: [{code: g, name: G}]}\n")
	for n := 1; n <= 8; n++ {
		fmt.Fprintf(&b, "  - &l%d {code: c%d, name: C, level: community, areas: [", n, n)
		for i := range 9 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*l%d", n-1)
		}
		b.WriteString("]}\n")
	}
	return b.String()
}

// TestParseBoundsMemory: a file that would expand or allocate without end
// is refused in under a second, naming the line or field, with a bounded
// amount of memory.
func TestParseBoundsMemory(t *testing.T) {
	big := "name: big\nareas:\n  - code: x\n    name: X\n    level: district\n    population: 2000000000\n    areas:\n      - {code: c, name: C, level: compound, population: 2000000000, gates: [{code: g, name: G}]}\n"
	many := "name: many\ngenerate_residents: {}\nareas:\n  - code: x\n    name: X\n    level: district\n    areas:\n"
	for i := range 4 {
		many += "      - {code: c" + string(rune('a'+i)) + ", name: C, level: compound, population: 1500000, gates: [{code: g" + string(rune('a'+i)) + ", name: G}]}\n"
	}
	for _, tc := range []struct {
		name, text, words string
	}{
		{"alias bomb", aliasBomb(), "aliases"},
		{"anchored area reused", "name: x\nareas:\n  - &d {code: x, name: X, level: district}\n  - *d\n", "aliases"},
		{"population of two billion", big, "is more than 2000000"},
		{"residents over the total", many, "more than 5000000 residents"},
		{"file over the size limit", "name: x\n# " + strings.Repeat("x", MaxFileBytes) + "\n", "larger than"},
	} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Parse("test.yaml", []byte(tc.text))
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		if err == nil || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%s: Parse = %v, want an error mentioning %q", tc.name, err, tc.words)
		}
		if d > time.Second {
			t.Errorf("%s: Parse took %s, want under a second", tc.name, d)
		}
		if alloc > 64<<20 {
			t.Errorf("%s: Parse allocated %d MiB, want at most 64 MiB", tc.name, alloc>>20)
		}
		t.Logf("%s: %s, %d KiB allocated", tc.name, d.Round(time.Microsecond), alloc>>10)
	}
}

// TestReadFileStopsAtTheLimit: a huge file is not read whole.
func TestReadFileStopsAtTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadFile(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadFile(1 GiB) = %v, want a refusal of its size", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("ReadFile(1 GiB) allocated %d MiB, want at most 128 MiB", alloc>>20)
	}
}
