package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

func TestSamplesCommands(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	t.Setenv("DATABASE_URL", dbURL)
	if out, err := runCLI(t, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	if out, err := runCLI(t, "scenario", "load", "--reference"); err != nil {
		t.Fatalf("scenario load: %v %s", err, out)
	}
	st, err := service.OpenStore(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	longbao, err := st.AreaByCode(ctx, "longbao")
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	opens := time.Date(2022, 4, 3, 17, 0, 0, 0, cst)
	plan, err := st.OpenRound(ctx, "xd-0403", longbao.ID, 1, opens, opens.Add(7*time.Hour),
		domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403/testing", Step: "open", State: "done"})
	if err != nil {
		t.Fatal(err)
	}
	roster, err := st.Roster(ctx, plan.RoundID, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	var good []store.RosterEntry
	for _, r := range roster {
		if !r.HomeVisit {
			good = append(good, r)
		}
	}

	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	row := func(tube string, r store.RosterEntry, at string) string {
		return fmt.Sprintf("%s,%s,%s,%s,", tube, r.Code, r.Point, at)
	}
	batch := write("point.csv",
		"tube,resident,point,taken_at,result",
		row("T-1", good[0], "2022-04-03T17:05:00+08:00"),
		row("T-2", good[1], "2022-04-03T17:06:00+08:00"),
		row("T-3", good[2], "not a time"),
		row("T-4", good[3], "2022-04-03T12:00:00+08:00"),
		"T-5,r-nobody,longbao-sampling-01,2022-04-03T17:07:00+08:00,",
	)

	out, err := runCLI(t, "samples", "upload", batch, "--incident", "xd-0403")
	if err != nil {
		t.Fatalf("samples upload = %v, %s; want the batch taken with rejections listed", err, out)
	}
	for _, w := range []string{"5 rows: 2 accepted, 0 already recorded, 0 results recorded, 3 rejected", "LINE", "is not a time",
		"is outside round 1 of longbao", `unknown resident "r-nobody"`} {
		if !strings.Contains(out, w) {
			t.Errorf("samples upload printed %q, want it to contain %q", out, w)
		}
	}
	out, err = runCLI(t, "samples", "upload", batch, "--incident", "xd-0403", "-o", "json")
	var res store.IngestResult
	if jerr := json.Unmarshal([]byte(out), &res); err != nil || jerr != nil || res.AlreadyRecorded != 2 || res.Accepted != 0 || len(res.Rejected) != 3 {
		t.Errorf("samples upload again -o json = %v, %q; want 2 already recorded, 3 rejected", err, out)
	}

	bad := write("bad.csv", "tube,resident,point,taken_at", "T-9,r-nobody,longbao-sampling-01,2022-04-03T17:07:00+08:00")
	out, err = runCLI(t, "samples", "upload", bad, "--incident", "xd-0403")
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "no row was accepted") {
		t.Errorf("samples upload (nothing good) = %v (exit %d), %q; want exit status 2", err, exitCode(err), out)
	}
	malformed := write("malformed.csv", "tube,resident,point,taken_at,result", row("T-10", good[4], "2022-04-03T17:08:00+08:00"), "T-11,r-1")
	_, err = runCLI(t, "samples", "upload", malformed, "--incident", "xd-0403")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "malformed.csv:3: wrong number of fields") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("samples upload (malformed) = %v, want a file error naming line 3 and exit status 1", err)
	}
	if _, err := runCLI(t, "samples", "upload", batch, "--incident", "Bad Incident"); err == nil || !strings.Contains(err.Error(), "--incident") {
		t.Errorf("samples upload --incident 'Bad Incident' = %v, want an error naming --incident", err)
	}

	out, err = runCLI(t, "samples", "missing", "xd-0403", "--area", "longbao", "--round", "1")
	if err != nil || !strings.Contains(out, "still open") || !strings.Contains(out, "7011 missing") || strings.Contains(out, "(fake)") {
		t.Errorf("samples missing = %v, %.300q; want 7,011 missing and no names", err, out)
	}
	if _, err := st.CloseRound(ctx, plan.RoundID, domain.Event{Incident: "xd-0403", WorkflowID: "response/xd-0403/testing", Step: "close", State: "done"}); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "samples", "missing", "xd-0403", "--area", "longbao", "--round", "1", "--contacts")
	if err != nil || !strings.Contains(out, "personal data") || !strings.Contains(out, "(fake)") || !strings.Contains(out, "PHONE") || !strings.Contains(out, "7011 missing") {
		t.Errorf("samples missing --contacts = %v, %.300q; want the personal-data notice, names and phones", err, out)
	}
	if _, err := runCLI(t, "samples", "missing", "xd-0403", "--area", "longbao", "--round", "2"); err == nil || !strings.Contains(err.Error(), "no round 2") {
		t.Errorf("samples missing --round 2 = %v, want no such round", err)
	}
}

func TestSamplesUploadRetriesThenGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("DATABASE_URL", "postgres://postgres@"+addr+"/muster?sslmode=disable")
	path := filepath.Join(t.TempDir(), "point.csv")
	if err := os.WriteFile(path, []byte("tube,resident,point,taken_at\nT-1,r-1,p-1,2022-04-03T17:05:00+08:00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := runCLI(t, "samples", "upload", path, "--incident", "inc-1", "--retry-for", "4s")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("samples upload with PostgreSQL down = %v, want it to give up with exit status 1", err)
	}
	if !strings.Contains(out, "database unavailable") || !strings.Contains(out, "retrying in 1s") || !strings.Contains(out, "upload "+path) {
		t.Errorf("samples upload said %q, want what it retried and when", out)
	}
	if took := time.Since(start); took < 2*time.Second || took > 10*time.Second {
		t.Errorf("samples upload gave up after %s, want about the 4 s of --retry-for", took)
	}
}
