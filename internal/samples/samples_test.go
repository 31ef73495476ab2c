package samples

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/store"
)

var cst = time.FixedZone("CST", 8*3600)

func TestRead(t *testing.T) {
	src := "\ufeffTube, resident ,point,taken_at,result\n" +
		"T1,r-k-1,p-01,2022-04-03T17:05:00+08:00,\n" +
		"T2,r-k-2,p-01,2022-04-03 17:06,Negative\n" +
		"\n" +
		"T3,r-k-3,,2022-04-03 17:07:30,positive\n" +
		"\"T4\",\"r-k-4\",p-02,2022-04-03T09:08:00.5Z,\n"
	rows, bad, err := ReadIn(strings.NewReader(src), "s.csv", 0, cst)
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if len(bad) != 0 {
		t.Errorf("Read() row errors = %v, want none", bad)
	}
	want := []store.SampleRow{
		{Line: 2, Tube: "T1", Resident: "r-k-1", Point: "p-01", TakenAt: time.Date(2022, 4, 3, 17, 5, 0, 0, cst)},
		{Line: 3, Tube: "T2", Resident: "r-k-2", Point: "p-01", TakenAt: time.Date(2022, 4, 3, 17, 6, 0, 0, cst), Result: "negative"},
		{Line: 5, Tube: "T3", Resident: "r-k-3", TakenAt: time.Date(2022, 4, 3, 17, 7, 30, 0, cst), Result: "positive"},
		{Line: 6, Tube: "T4", Resident: "r-k-4", Point: "p-02", TakenAt: time.Date(2022, 4, 3, 9, 8, 0, 5e8, time.UTC)},
	}
	if len(rows) != len(want) {
		t.Fatalf("Read() = %d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if g, w := rows[i], want[i]; g.Line != w.Line || g.Tube != w.Tube || g.Resident != w.Resident || g.Point != w.Point || g.Result != w.Result || !g.TakenAt.Equal(w.TakenAt) {
			t.Errorf("Read() row %d = %+v, want %+v", i, g, w)
		}
	}

	// The result column may be left out; columns may come in any order.
	rows, _, err = ReadIn(strings.NewReader("resident,taken_at,tube,point\nr-1,2022-04-03 18:00,T9,p\n"), "s.csv", 0, cst)
	if err != nil || len(rows) != 1 || rows[0].Tube != "T9" || rows[0].Resident != "r-1" || rows[0].Result != "" {
		t.Errorf("Read(reordered, no result) = %+v, %v, want one row for T9", rows, err)
	}
}

func TestReadRowErrors(t *testing.T) {
	src := "tube,resident,point,taken_at,result\n" +
		"T1,r-1,p,2022-04-03 17:00,\n" +
		",r-2,p,2022-04-03 17:00,\n" +
		"T3,,p,2022-04-03 17:00,\n" +
		"T4,r-4,p,,\n" +
		"T5,r-5,p,yesterday,\n" +
		"T6,r-6,p,2022-04-03 17:00,pos\n" +
		"T7,r-7,p,03/04/2022 17:00,\n" +
		"T8,r-8,,2022-04-03 17:00,\n"
	rows, bad, err := ReadIn(strings.NewReader(src), "s.csv", 0, cst)
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if len(rows) != 2 || rows[0].Tube != "T1" || rows[1].Tube != "T8" {
		t.Errorf("Read() rows = %+v, want T1 and T8", rows)
	}
	want := []struct {
		line         int
		tube, reason string
	}{
		{3, "", "tube is empty"},
		{4, "T3", "resident is empty"},
		{5, "T4", "taken_at is empty"},
		{6, "T5", `taken_at "yesterday" is not a time`},
		{7, "T6", `result "pos" is not negative, positive or empty`},
		{8, "T7", `taken_at "03/04/2022 17:00" is not a time`},
	}
	if len(bad) != len(want) {
		t.Fatalf("Read() row errors = %v, want %d", bad, len(want))
	}
	for i, w := range want {
		if bad[i].Line != w.line || bad[i].Tube != w.tube || !strings.Contains(bad[i].Reason, w.reason) {
			t.Errorf("row error %d = %+v, want line %d tube %q mentioning %q", i, bad[i], w.line, w.tube, w.reason)
		}
	}
}

func TestReadFileErrors(t *testing.T) {
	header := "tube,resident,point,taken_at,result\n"
	row := "T1,r-1,p,2022-04-03 17:00,\n"
	tests := []struct {
		name, src string
		max       int
		line      int
		msg       string
	}{
		{"empty", "", 0, 0, "the file is empty"},
		{"missing column", "tube,resident,taken_at\n" + row, 0, 1, `no "point" column`},
		{"unknown column", "tube,resident,point,taken_at,reslt\n", 0, 1, `unknown column "reslt"`},
		{"column twice", "tube,resident,point,taken_at,tube\n", 0, 1, `column "tube" is given twice`},
		{"wrong field count", header + row + "T2,r-2,p\n" + row, 0, 3, "wrong number of fields"},
		{"bare quote", header + "T\"1,r-1,p,2022-04-03 17:00,\n", 0, 2, "bare \""},
		{"over max", header + row + row + row, 2, 0, "more than 2 rows"},
		{"header only", header, 0, 0, "no samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, bad, err := ReadIn(strings.NewReader(tt.src), "s.csv", tt.max, cst)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Read(%s) = %d rows, %v, %v, want a *FileError", tt.name, len(rows), bad, err)
			}
			if fe.Line != tt.line || !strings.Contains(fe.Msg, tt.msg) || fe.Source != "s.csv" || rows != nil || bad != nil {
				t.Errorf("Read(%s) = %q (line %d), want line %d mentioning %q and no rows", tt.name, err, fe.Line, tt.line, tt.msg)
			}
		})
	}
	if got := (&FileError{Source: "s.csv", Line: 3, Msg: "bad"}).Error(); got != "s.csv:3: bad" {
		t.Errorf("FileError.Error() = %q, want %q", got, "s.csv:3: bad")
	}
}

func TestMerge(t *testing.T) {
	res := store.IngestResult{Rows: 3, Accepted: 1, Rejected: []store.RowError{{Line: 4, Reason: "b"}}}
	got := Merge(res, []RowError{{Line: 2, Reason: "a"}, {Line: 9, Reason: "c"}})
	want := store.IngestResult{Rows: 5, Accepted: 1, Rejected: []store.RowError{{Line: 2, Reason: "a"}, {Line: 4, Reason: "b"}, {Line: 9, Reason: "c"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge() = %+v, want %+v", got, want)
	}
	for _, tt := range []struct {
		res  store.IngestResult
		want bool
	}{
		{store.IngestResult{Rejected: []store.RowError{{Line: 2}}}, true},
		{store.IngestResult{AlreadyRecorded: 1, Rejected: []store.RowError{{Line: 2}}}, false},
		{store.IngestResult{Accepted: 1, Rejected: []store.RowError{{Line: 2}}}, false},
		{store.IngestResult{AlreadyRecorded: 3}, false},
	} {
		if got := NothingAccepted(tt.res); got != tt.want {
			t.Errorf("NothingAccepted(%+v) = %v, want %v", tt.res, got, tt.want)
		}
	}
}
