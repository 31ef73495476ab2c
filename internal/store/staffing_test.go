package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/store"
)

func TestStaffingOf(t *testing.T) {
	r := parse(t, tiny)
	s := loaded(t, r)
	path := map[string]string{}
	for _, a := range r.Areas {
		path[a.Code] = a.Path
	}
	for _, code := range []string{"town", "east", "oak-court"} {
		t.Run(code, func(t *testing.T) {
			p := path[code]
			gates := 0
			for _, g := range r.Gates {
				if ap := path[g.AreaCode]; ap == p || strings.HasPrefix(ap, p+"/") {
					gates++
				}
			}
			staff := 0
			for _, st := range r.Staff {
				ap := path[st.AreaCode]
				if (slices.Contains(store.PathPrefixes(p), ap) || strings.HasPrefix(ap, p+"/")) && slices.Contains(store.CheckpointRoles, st.Role) {
					staff++
				}
			}
			if gates == 0 || staff == 0 {
				t.Fatalf("scenario tiny has %d gates and %d staff under %s; want some of each", gates, staff, code)
			}
			got, err := s.StaffingOf(context.Background(), p)
			if want := (store.Staffing{Gates: gates, Staff: staff}); err != nil || got != want {
				t.Errorf("StaffingOf(%s) = %+v, %v; want %+v", p, got, err, want)
			}
		})
	}
}
