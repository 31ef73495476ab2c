// Package builtin embeds Muster's built-in runbooks, written from the seed
// response of Xiaodian District (3–4 April 2022). They are published like
// any other runbook (service.PublishBuiltins, or `muster runbook publish
// --builtin`) and described in docs/runbooks.md.
package builtin

import (
	"embed"
	"io/fs"
)

//go:embed *.yaml
var files embed.FS

// Source is one built-in runbook: its file name (NAME.yaml, where NAME is
// the runbook's name) and its YAML text.
type Source struct {
	Name string
	Data []byte
}

// Builtin returns the built-in runbooks, sorted by file name.
func Builtin() ([]Source, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var out []Source
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Source{Name: e.Name(), Data: b})
	}
	return out, nil
}
