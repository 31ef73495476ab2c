package input

import (
	"errors"
	"strings"
	"testing"
)

func TestStructNamesTheField(t *testing.T) {
	type finding struct {
		Category    string `json:"category"`
		Description string `json:"description"`
	}
	type req struct {
		Site     string    `json:"site"`
		Reason   string    `json:"reason"`
		Findings []finding `json:"findings"`
		Level    *int      `json:"level"`
	}
	for _, tc := range []struct {
		name  string
		v     req
		field string
		words string
	}{
		{"fine", req{Site: "gate-1", Reason: "line one\nline two\ttab", Findings: []finding{{"masks", "no masks at the door"}}}, "", ""},
		{"long id", req{Site: strings.Repeat("s", 65)}, "site", "65 bytes"},
		{"id at the limit", req{Site: strings.Repeat("s", 64)}, "", ""},
		{"long text", req{Reason: strings.Repeat("r", 2049)}, "reason", "at most 2048"},
		{"NUL in a description", req{Findings: []finding{{"a", "ok"}, {"b", "bad\x00"}}}, "findings[1].description", "NUL"},
		{"control in an id", req{Site: "gate\n1"}, "site", "control character"},
		{"escape in text", req{Reason: "bell\x07"}, "reason", "control character"},
		{"invalid UTF-8", req{Reason: "caf\xe9"}, "reason", "UTF-8"},
		{"replacement char", req{Findings: []finding{{"x\uFFFD", ""}}}, "findings[0].category", "UTF-8"},
	} {
		err := Struct(&tc.v)
		var e *Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: Struct = %v, want nil", tc.name, err)
		case tc.field != "" && (!errors.As(err, &e) || e.Field != tc.field || !strings.Contains(e.Msg, tc.words)):
			t.Errorf("%s: Struct = %v, want field %s mentioning %q", tc.name, err, tc.field, tc.words)
		}
	}
}
