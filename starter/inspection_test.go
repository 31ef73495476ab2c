package main

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/store"
)

func TestParseFinding(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    store.NewFinding
		wantErr string
	}{
		{in: "category=mask-checks,severity=high,description=no checks, not even at the front", want: store.NewFinding{Category: "mask-checks", Severity: "high", Description: "no checks, not even at the front"}},
		{in: "category=registration, severity=low, unit=market-regulation, description=register incomplete",
			want: store.NewFinding{Category: "registration", Severity: "low", Unit: "market-regulation", Description: "register incomplete"}},
		{in: "category=x,colour=red", wantErr: `unknown key "colour"`},
		{in: "just words", wantErr: "key=value"},
	} {
		got, err := parseFinding(0, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseFinding(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseFinding(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestInspectionFlagsBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"inspection", "report-site", "xd-0403", "beiying"}, "--finding"},
		{[]string{"inspection", "report-site", "xd-0403", "beiying", "--none", "--finding", "category=x"}, "not both"},
		{[]string{"inspection", "report-site", "Bad Incident", "beiying", "--none"}, "incident"},
		{[]string{"inspection", "rectify", "xd-0403", "twelve"}, `finding "twelve"`},
		{[]string{"inspection", "reinspect", "xd-0403", "12", "--by", "inspector-01"}, "--pass or --fail"},
		{[]string{"inspection", "reinspect", "xd-0403", "12", "--by", "inspector-01", "--pass", "--fail"}, "--pass or --fail"},
	} {
		out, err := runCLI(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("starter %s = %v (%q), want an error containing %q", strings.Join(tt.args, " "), err, out, tt.want)
		}
	}
}
