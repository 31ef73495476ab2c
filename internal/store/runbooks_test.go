package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

func TestPublishRunbook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	v1 := []byte("name: r\ntitle: R\n# first\n")
	v2 := []byte("name: r\ntitle: R\n# second\n")

	steps := []struct {
		name        string
		source      []byte
		by          string
		wantVersion int
		wantCreated bool
	}{
		{"first text", v1, "alice", 1, true},
		{"same text again", v1, "bob", 1, false},
		{"changed text", v2, "bob", 2, true},
		{"changed text again", v2, "carol", 2, false},
		{"first text once more", v1, "carol", 1, false},
	}
	for _, st := range steps {
		v, created, err := s.PublishRunbook(ctx, "r", "R", st.source, st.by)
		if err != nil || v != st.wantVersion || created != st.wantCreated {
			t.Errorf("%s: PublishRunbook(r) = %d, %v, %v; want %d, %v, nil", st.name, v, created, err, st.wantVersion, st.wantCreated)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM runbooks WHERE name = 'r'`); n != 2 {
		t.Errorf("runbooks rows of r = %d, want 2", n)
	}

	latest, err := s.Runbook(ctx, "r", 0)
	if err != nil || latest.Version != 2 || latest.Source != string(v2) || latest.PublishedBy != "bob" || latest.Versions != 2 ||
		latest.Digest != store.RunbookDigest(v2) || latest.Title != "R" || latest.PublishedAt.IsZero() {
		t.Errorf("Runbook(r, 0) = %+v, %v; want version 2 by bob with the second text", latest, err)
	}
	first, err := s.Runbook(ctx, "r", 1)
	if err != nil || first.Version != 1 || first.Source != string(v1) || first.PublishedBy != "alice" {
		t.Errorf("Runbook(r, 1) = %+v, %v; want version 1 by alice with the first text", first, err)
	}

	if _, _, err := s.PublishRunbook(ctx, "other", "Other", v1, "alice"); err != nil {
		t.Fatalf("PublishRunbook(other) error = %v", err)
	}
	list, err := s.Runbooks(ctx)
	if err != nil {
		t.Fatalf("Runbooks() error = %v", err)
	}
	var got []string
	for _, r := range list {
		got = append(got, fmt.Sprintf("%s@%d/%d", r.Name, r.Version, r.Versions))
	}
	if want := []string{"other@1/1", "r@2/2"}; !slices.Equal(got, want) {
		t.Errorf("Runbooks() = %v, want %v", got, want)
	}
	versions, err := s.RunbookVersions(ctx, "r")
	got = nil
	for _, r := range versions {
		got = append(got, fmt.Sprintf("%d %s", r.Version, r.PublishedBy))
	}
	if want := []string{"1 alice", "2 bob"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("RunbookVersions(r) = %v, %v; want %v", got, err, want)
	}
}

func TestRunbookNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	if _, _, err := s.PublishRunbook(ctx, "r", "R", []byte("x"), "alice"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		version int
		msg     string
	}{
		{"nowhere", 0, `runbook "nowhere" is not published: not found`},
		{"nowhere", 1, `runbook "nowhere" has no version 1: not found`},
		{"r", 2, `runbook "r" has no version 2: not found`},
	}
	for _, tt := range tests {
		_, err := s.Runbook(ctx, tt.name, tt.version)
		if !errors.Is(err, domain.ErrNotFound) || err.Error() != tt.msg {
			t.Errorf("Runbook(%s, %d) error = %v, want %q wrapping ErrNotFound", tt.name, tt.version, err, tt.msg)
		}
	}
	if _, err := s.RunbookVersions(ctx, "nowhere"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RunbookVersions(nowhere) error = %v, want ErrNotFound", err)
	}
	if list, err := pgtest.New(t).Runbooks(ctx); err != nil || len(list) != 0 {
		t.Errorf("Runbooks() on an empty database = %v, %v; want none, nil", list, err)
	}
}

func TestPublishRunbookRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	tests := []struct {
		name, by string
		source   []byte
	}{
		{"", "alice", []byte("x")},
		{"r", "", []byte("x")},
		{"r", "alice", []byte{0xff, 0xfe, 'x'}},
	}
	for _, tt := range tests {
		if _, _, err := s.PublishRunbook(ctx, tt.name, "R", tt.source, tt.by); err == nil {
			t.Errorf("PublishRunbook(%q, by %q, %q) succeeded, want an error", tt.name, tt.by, tt.source)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM runbooks`); n != 0 {
		t.Errorf("runbooks rows after rejected publishes = %d, want 0", n)
	}
}

// TestPublishRunbookConcurrent publishes different texts of one name from
// many connections at once: each gets its own version, and the versions are
// 1…n without gaps. Publishing the same text at once yields one version.
func TestPublishRunbookConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	first := open(t, url)
	if _, err := first.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 8
	stores := make([]*store.Store, n)
	for i := range stores {
		stores[i] = open(t, url)
	}
	publishAll := func(source func(i int) []byte) ([]int, []bool) {
		versions := make([]int, n)
		created := make([]bool, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				<-start
				var err error
				versions[i], created[i], err = s.PublishRunbook(ctx, "r", "R", source(i), fmt.Sprintf("worker-%d", i))
				if err != nil {
					t.Errorf("PublishRunbook in worker %d error = %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		return versions, created
	}

	versions, created := publishAll(func(i int) []byte { return fmt.Appendf(nil, "name: r\n# text %d\n", i) })
	slices.Sort(versions)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(versions, want) || slices.Contains(created, false) {
		t.Errorf("concurrent PublishRunbook of %d texts = versions %v, created %v; want %v, all created", n, versions, created, want)
	}

	versions, created = publishAll(func(int) []byte { return []byte("name: r\n# the same text\n") })
	made := 0
	for i := range versions {
		if versions[i] != n+1 {
			t.Errorf("concurrent PublishRunbook of one text in worker %d = version %d, want %d", i, versions[i], n+1)
		}
		if created[i] {
			made++
		}
	}
	if made != 1 {
		t.Errorf("concurrent PublishRunbook of one text created %d versions, want 1", made)
	}
}
