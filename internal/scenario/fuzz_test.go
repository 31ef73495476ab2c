package scenario

import (
	"testing"
)

// FuzzParse: whatever the bytes, Parse returns a scenario or an error,
// never panics, and a scenario it accepts stays within its limits. The
// seeds (testdata/fuzz/FuzzParse) run in every `go test`; `make fuzz`
// explores further.
func FuzzParse(f *testing.F) {
	ref, err := reference.ReadFile(ReferenceName)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref)
	f.Add([]byte(aliasBomb()))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if sf.Residents != "" {
			// A file naming a residents file read from disk is not the
			// fuzzer's business.
			return
		}
		total := 0
		var walk func(as []Area)
		walk = func(as []Area) {
			for _, a := range as {
				if a.Population < 0 || a.Population > MaxPopulation {
					t.Fatalf("accepted area %s with population %d", a.Code, a.Population)
				}
				total += a.Population
				walk(a.Areas)
			}
		}
		walk(sf.Areas)
		if total > MaxResidents {
			t.Fatalf("accepted %d residents, over %d", total, MaxResidents)
		}
	})
}
