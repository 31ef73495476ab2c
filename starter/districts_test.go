package main

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/pgtest"
)

// TestDistrictFlag loads two districts that share codes: a shared code is
// refused without --district, naming both districts, and works with it;
// a code only one district has needs no flag.
func TestDistrictFlag(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	for _, args := range [][]string{{"migrate"}, {"scenario", "load", "--reference"}, {"scenario", "load", "../internal/scenario/testdata/districts/tuanbo.yaml"}} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("muster %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	for _, c := range []struct {
		args       []string
		want, deny string
		fails      bool
	}{
		{args: []string{"areas", "longbao"}, want: "districts tuanbo, xiaodian: add --district", fails: true},
		{args: []string{"supply", "stock", "longbao"}, want: "add --district", fails: true},
		{args: []string{"supply", "report-stock", "supermarket-01", "milk", "1"}, want: "districts tuanbo, xiaodian", fails: true},
		{args: []string{"--district", "tuanbo", "areas", "longbao"}, want: "tuanbo/beiying/longbao/tb-lanyuan", deny: "xiaodian"},
		{args: []string{"--district", "xiaodian", "areas", "--level", "compound", "longbao"}, want: "xiaodian/beiying/longbao/heping-yuan", deny: "tuanbo"},
		{args: []string{"areas", "tuanbo/beiying/longbao"}, want: "tb-meiyuan", deny: "xiaodian"},
		{args: []string{"areas", "tb-haigang"}, want: "tb-haigang-1"},
		{args: []string{"--district", "tuanbo", "supply", "stock", "longbao"}, want: "meiteihao-kangning"},
		{args: []string{"--district", "tuanbo", "supply", "report-stock", "supermarket-01", "milk", "1"}, want: "Recorded 1"},
		{args: []string{"areas"}, want: "tuanbo/tb-south"},
	} {
		out, err := runCLI(t, c.args...)
		got := out
		if err != nil {
			got += err.Error()
		}
		if (err != nil) != c.fails || !strings.Contains(got, c.want) || (c.deny != "" && strings.Contains(got, c.deny)) {
			t.Errorf("muster %s = %v %q; want failure %v, %q and not %q", strings.Join(c.args, " "), err, out, c.fails, c.want, c.deny)
		}
	}
}
