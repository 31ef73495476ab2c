package store_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// Sizes of the assignment benchmark: 10,000 staff, 1,000 sites.
const (
	benchSubDistricts   = 10
	benchCommunitiesPer = 10
	benchSitesPer       = 10 // sampling points per community: 1,000 in all
	benchTeachers       = 1000
	benchPerSite        = 9 // 9,000 places for 10,000 people
)

// assignCity is a district of 100 communities with 10 sampling points
// each, 9,000 volunteers spread unevenly over the communities (60 to 120
// each) and 1,000 teachers at the district: 10,000 staff.
func assignCity() scenario.Rows {
	r := scenario.Rows{Scenario: "assign-bench"}
	r.Areas = append(r.Areas, scenario.AreaRow{Code: "bench", Path: "bench", Level: scenario.LevelDistrict, Name: "Bench District"})
	for i := range benchTeachers {
		r.Staff = append(r.Staff, scenario.StaffRow{AreaCode: "bench", Code: fmt.Sprintf("teacher-%04d", i+1), Name: "Teacher", Role: "teacher", Group: "teacher"})
	}
	n := 0
	for s := range benchSubDistricts {
		sd := fmt.Sprintf("sd%02d", s+1)
		r.Areas = append(r.Areas, scenario.AreaRow{Code: sd, Path: "bench/" + sd, ParentCode: "bench", Level: scenario.LevelSubDistrict, Name: sd})
		for c := range benchCommunitiesPer {
			code := fmt.Sprintf("%s-c%02d", sd, c+1)
			r.Areas = append(r.Areas, scenario.AreaRow{Code: code, Path: "bench/" + sd + "/" + code, ParentCode: sd, Level: scenario.LevelCommunity, Name: code})
			for p := range benchSitesPer {
				r.Sites = append(r.Sites, scenario.SiteRow{AreaCode: code, Code: fmt.Sprintf("%s-p%02d", code, p+1), Name: "Point", Kind: "sampling-point", CapacityPerHour: 250})
			}
			// 60 to 120 volunteers, 90 on average: some communities are
			// short and take teachers, others have people to spare.
			k := s*benchCommunitiesPer + c
			vols := 60 + (k*37)%61
			if k == benchSubDistricts*benchCommunitiesPer-1 {
				vols = 9000 - n
			}
			for v := range vols {
				r.Staff = append(r.Staff, scenario.StaffRow{AreaCode: code, Code: fmt.Sprintf("%s-v%03d", code, v+1), Name: "Volunteer", Role: "volunteer", Group: code})
			}
			n += vols
		}
	}
	return r
}

// BenchmarkAssignStaff measures filling 1,000 sites from 10,000 staff with
// AssignStaff (one set-based pass: candidates read once, matched nearest
// first in memory, inserted with one unnest statement) against a simple
// baseline measured in the same run on the same database: per site, a
// query for the nearest free staff and one INSERT per person. Both are
// held to the same exclusion constraint. Run it with `make bench` or
// `go test -run '^$' -bench AssignStaff -benchtime 1x ./internal/store`.
func BenchmarkAssignStaff(b *testing.B) {
	ctx := context.Background()
	s := pgtest.New(b)
	if _, err := s.LoadScenario(ctx, assignCity()); err != nil {
		b.Fatal(err)
	}
	district := areaID(b, s, "bench")
	var pgVersion string
	s.DB().GetContext(ctx, &pgVersion, `SELECT split_part(version(), ' on ', 1)`)
	fmt.Printf("Staff assignment benchmark — %s, %d CPUs, %s, %s\n", time.Now().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), pgVersion)
	fmt.Printf("  %d staff, %d sites, %d places (%d per site)\n", benchCount(b, s, `SELECT count(*) FROM staff`),
		benchCount(b, s, `SELECT count(*) FROM sites`), benchSubDistricts*benchCommunitiesPer*benchSitesPer*benchPerSite, benchPerSite)
	from := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)

	for i := range b.N {
		plan := func(inc string) string {
			step := "wf-" + inc
			if _, err := s.PlanPosts(ctx, store.PostOrder{Incident: inc, Step: step, AreaID: district, From: from, To: from.Add(8 * time.Hour), Hours: 8, PerSamplingPoint: benchPerSite},
				event(inc, step, "posts", "")); err != nil {
				b.Fatal(err)
			}
			return step
		}
		release := func(inc, step string) {
			if _, err := s.ReleaseStaff(ctx, step, from, event(inc, step, "release", "")); err != nil {
				b.Fatal(err)
			}
		}

		inc := fmt.Sprintf("set-%d", i)
		step := plan(inc)
		start := time.Now()
		m, err := s.AssignStaff(ctx, store.AssignOrder{Incident: inc, Step: step, AreaID: district, AckBy: from.Add(time.Hour)}, event(inc, step, "assign", ""))
		set := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		setLocal := localShare(b, s, step)
		release(inc, step)

		base := fmt.Sprintf("naive-%d", i)
		bstep := plan(base)
		start = time.Now()
		n := naiveAssign(b, s, base, bstep, from.Add(time.Hour))
		naive := time.Since(start)
		naiveLocal := localShare(b, s, bstep)
		release(base, bstep)

		if m.Assigned != n {
			b.Errorf("AssignStaff assigned %d, the baseline %d; want the same", m.Assigned, n)
		}
		fmt.Printf("  %-58s %7.3f s   %d assigned, %.1f%% from the site's own community, %d passes, %d notices\n",
			"AssignStaff (set-based: one read, match in memory, unnest)", set.Seconds(), m.Assigned, 100*setLocal, m.Passes,
			benchCount(b, s, fmt.Sprintf(`SELECT count(*) FROM notices WHERE incident = '%s'`, inc)))
		fmt.Printf("  %-58s %7.3f s   %d assigned, %.1f%% from the site's own community (no notices, no passes)\n",
			"baseline (per site: nearest-free query, per-row INSERT)", naive.Seconds(), n, 100*naiveLocal)
		fmt.Printf("  %-58s %7.1f×\n", "AssignStaff speed-up over the baseline", naive.Seconds()/set.Seconds())
		b.ReportMetric(set.Seconds(), "assign-s")
		b.ReportMetric(naive.Seconds(), "baseline-s")
		b.ReportMetric(naive.Seconds()/set.Seconds(), "speedup")
	}
}

// naiveAssign is the baseline: site by site, the nearest free people with
// a sampling role, each written with its own INSERT, in one transaction.
func naiveAssign(b *testing.B, s *store.Store, incident, step string, ackBy time.Time) int {
	ctx := context.Background()
	tx, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	var posts []struct {
		ID     int64  `db:"id"`
		AreaID int64  `db:"area_id"`
		Needed int    `db:"needed"`
		Roles  string `db:"roles"`
	}
	if err := tx.SelectContext(ctx, &posts, `SELECT id, area_id, needed, array_to_string(roles, ',') AS roles FROM staff_posts WHERE step = $1 ORDER BY id`, step); err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, p := range posts {
		var free []int64
		if err := tx.SelectContext(ctx, &free, `SELECT st.id FROM staff st JOIN areas sa ON sa.id = st.area_id JOIN areas pa ON pa.id = $1
			JOIN staff_posts sp ON sp.id = $2
			WHERE (pa.path = sa.path OR pa.path LIKE sa.path || '/%') AND st.role = ANY(string_to_array($3, ','))
			  AND NOT EXISTS (SELECT 1 FROM staff_assignments x WHERE x.staff_id = st.id AND x.state IN ('notified', 'acknowledged') AND x.shift && sp.shift)
			ORDER BY length(sa.path) DESC, st.code LIMIT $4`, p.AreaID, p.ID, p.Roles, p.Needed); err != nil {
			b.Fatal(err)
		}
		for _, id := range free {
			if _, err := tx.ExecContext(ctx, `INSERT INTO staff_assignments (post_id, incident, step, staff_id, shift, hours, ack_by)
				SELECT id, $2, $3, $4, shift, hours, $5 FROM staff_posts WHERE id = $1`, p.ID, incident, step, id, ackBy); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return n
}

// localShare is the share of a step's assignments whose person lives in
// the post's own area.
func localShare(b *testing.B, s *store.Store, step string) float64 {
	var f float64
	if err := s.DB().GetContext(context.Background(), &f, `SELECT coalesce(avg((st.area_id = p.area_id)::int), 0)::float8
		FROM staff_assignments x JOIN staff st ON st.id = x.staff_id JOIN staff_posts p ON p.id = x.post_id WHERE x.step = $1`, step); err != nil {
		b.Fatal(err)
	}
	return f
}
