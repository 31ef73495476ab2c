package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// TestReportCommand writes the report of a response opened on the
// reference scenario, in the scenario's language unless --locale says
// otherwise, and refuses bad flags naming them.
func TestReportCommand(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	t.Setenv("DATABASE_URL", url)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	e := domain.Event{Incident: "xd-rep", WorkflowID: "response/xd-rep", Step: "response", State: "open"}
	if err := st.OpenResponse(ctx, store.Response{Incident: "xd-rep", Runbook: "community-outbreak-level-1", Level: 1, AreaPath: longbao.Path}, e); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := runCLI(t, "report", "xd-rep", "--out", dir)
	if err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report-xd-rep.html"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report-xd-rep.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, filepath.Join(dir, "report-xd-rep.html")) {
		t.Errorf("report printed %q, want the files' paths", out)
	}
	// The reference scenario's figures for Longbao apply.
	for _, want := range []string{"After-action report: incident xd-rep", "Longbao sampling points"} {
		if !strings.Contains(string(html), want) || !strings.Contains(string(md), want) {
			t.Errorf("report files lack %q", want)
		}
	}
	if _, err := runCLI(t, "report", "xd-rep", "--out", dir, "--format", "md", "--locale", "zh-CN"); err != nil {
		t.Fatal(err)
	}
	if md, _ := os.ReadFile(filepath.Join(dir, "report-xd-rep.md")); !strings.Contains(string(md), "事后总结报告") {
		t.Errorf("--locale zh-CN wrote %.80q…", md)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "xd-none", "--out", dir}, "xd-none has no response"},
		{[]string{"report", "xd-rep", "--format", "pdf"}, "--format"},
		{[]string{"report", "xd-rep", "--locale", "fr"}, "--locale"},
	} {
		if _, err := runCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v error = %v, want one naming %q", c.args, err, c.want)
		}
	}
}
