package runbook

// Codes name runbooks, steps and areas; a runbook reference is a code with
// an optional version.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var codePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// IsCode reports whether s is a valid runbook name or step ID: lower-case
// letters, digits and '-', starting with a letter or digit, at most 63
// characters.
func IsCode(s string) bool { return codePattern.MatchString(s) }

// ParseRef reads a runbook reference NAME or NAME@VERSION; version 0 means
// the latest.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, pinned := strings.Cut(ref, "@")
	if !IsCode(name) {
		return "", 0, fmt.Errorf("runbook %q: want NAME or NAME@VERSION, where NAME is lower-case letters, digits and '-'", ref)
	}
	if !pinned {
		return name, 0, nil
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 {
		return "", 0, fmt.Errorf("runbook %q: the version after @ must be a whole number from 1", ref)
	}
	return name, version, nil
}
