package samples

import (
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/input"
)

// FuzzRead: whatever the bytes, Read returns rows, rejected lines or a
// file error, never panics, never returns more than max lines, and every
// row it keeps passes the input limits.
func FuzzRead(f *testing.F) {
	f.Add([]byte("tube,resident,point,taken_at,result\nLB-1,r-1,longbao-sampling-01,2022-04-03 17:05,negative\n"))
	f.Add([]byte("tube,resident,point,taken_at\n\"a\x00\",r,p,2022-04-03T17:05:00+08:00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 100
		rows, bad, err := ReadIn(strings.NewReader(string(data)), "fuzz", max, time.UTC)
		if err != nil {
			if len(rows)+len(bad) > 0 {
				t.Fatalf("Read refused the file (%v) and returned %d rows", err, len(rows)+len(bad))
			}
			return
		}
		if len(rows)+len(bad) > max {
			t.Fatalf("Read returned %d lines, over the limit of %d", len(rows)+len(bad), max)
		}
		for _, r := range rows {
			for _, v := range []string{r.Tube, r.Resident, r.Point, r.Result} {
				if err := input.ID("cell", v); err != nil {
					t.Fatalf("Read kept a row with %v", err)
				}
			}
			if r.Tube == "" || r.Resident == "" || r.TakenAt.IsZero() {
				t.Fatalf("Read kept an incomplete row %+v", r)
			}
		}
	})
}
