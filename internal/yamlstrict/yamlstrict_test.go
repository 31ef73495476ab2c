package yamlstrict

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

type gate struct {
	Code     string `yaml:"code"`
	Entrance bool   `yaml:"entrance"`
	Skip     string `yaml:"-"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{text: "code: g1\nentrance: true\n"},
		{text: "code: g1\nexit: true\n", want: `line 2: unknown field "exit" in a gate (fields: code, entrance)`},
		{text: "- g1\n", want: "line 1: a gate must be a mapping of fields, not a list"},
		{text: "g1\n", want: `line 1: a gate must be a mapping of fields, not the value "g1"`},
	}
	for _, tt := range tests {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(tt.text), &root); err != nil {
			t.Fatal(err)
		}
		var g gate
		line := -1
		err := Decode(root.Content[0], "a gate", &g, &line)
		if got := errText(err); got != tt.want {
			t.Errorf("Decode(%q) = %q, want %q", tt.text, got, tt.want)
		}
		if line != 1 {
			t.Errorf("Decode(%q) line = %d, want 1", tt.text, line)
		}
		if tt.want == "" && (g.Code != "g1" || !g.Entrance) {
			t.Errorf("Decode(%q) = %+v, want code g1 and an entrance", tt.text, g)
		}
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		msg      string
		wantLine int
		wantMsg  string
	}{
		{"yaml: line 3: did not find expected key", 3, "did not find expected key"},
		{"line 12: unknown field", 12, "unknown field"},
		{"yaml: control characters are not allowed", 0, "control characters are not allowed"},
	}
	for _, tt := range tests {
		if line, msg := Line(tt.msg); line != tt.wantLine || msg != tt.wantMsg {
			t.Errorf("Line(%q) = %d, %q; want %d, %q", tt.msg, line, msg, tt.wantLine, tt.wantMsg)
		}
	}
}

func TestFindAlias(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("a: &x 1\nb: *x\n"), &root); err != nil {
		t.Fatal(err)
	}
	if a := FindAlias(&root); a == nil || a.Value != "x" || a.Line != 2 {
		t.Errorf("FindAlias = %+v, want the alias *x on line 2", a)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
