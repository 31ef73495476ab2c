package service

import (
	"context"

	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/store"
)

// CheckAreas refuses a definition that names an area the loaded scenario
// does not have: a for_each over an unknown area would otherwise fail only
// when the response reaches it. With no scenario loaded there is nothing to
// check against and the definition passes (a runbook may be published
// before its scenario). The error is runbook.Errors, each naming the
// definition's path and the area's code.
func CheckAreas(ctx context.Context, st *store.Store, source string, d *runbook.Definition) error {
	refs := d.AreaRefs()
	if len(refs) == 0 {
		return nil
	}
	codes := make([]string, len(refs))
	for i, r := range refs {
		codes[i] = r.Code
	}
	known, loaded, err := st.KnownAreas(ctx, "", codes)
	if err != nil || !loaded {
		return err
	}
	return d.UnknownAreas(source, func(code string) bool { return known[code] })
}
