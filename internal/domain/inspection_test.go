package domain

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckFinding: the first bad field of a finding is named, as bad input.
func TestCheckFinding(t *testing.T) {
	t.Parallel()
	units := []string{"b-office", "a-office"}
	for _, c := range []struct {
		name string
		f    NewFinding
		want string // "" for valid
	}{
		{"valid", NewFinding{Category: "masks", Severity: "low", Description: "d", Unit: "a-office"}, ""},
		{"no category", NewFinding{Severity: "low", Description: "d", Unit: "a-office"}, "findings[2].category is required"},
		{"bad severity", NewFinding{Category: "masks", Severity: "dire", Description: "d", Unit: "a-office"}, `findings[2].severity "dire": want one of low, medium, high`},
		{"no description", NewFinding{Category: "masks", Severity: "low", Description: " ", Unit: "a-office"}, "findings[2].description is required"},
		{"unknown unit", NewFinding{Category: "masks", Severity: "low", Description: "d", Unit: "c"}, `findings[2].unit "c": unknown unit (units: a-office, b-office)`},
	} {
		err := CheckFinding(2, c.f, units)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: CheckFinding() = %v, want nil", c.name, err)
		case c.want != "" && (!errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s: CheckFinding() = %v, want ErrInvalid saying %q", c.name, err, c.want)
		}
	}
	if units[0] != "b-office" {
		t.Errorf("CheckFinding() sorted the caller's units: %v", units)
	}
}
