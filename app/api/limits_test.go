package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/store"
)

// cost runs f and returns how long it took and how many bytes were
// allocated meanwhile (by the client and the server, which share the
// process: an upper bound on what the server allocated).
func cost(f func()) (time.Duration, uint64) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return d, after.TotalAlloc - before.TotalAlloc
}

// rowCounts counts what a refused request must not have written.
func rowCounts(t *testing.T, st *store.Store) string {
	t.Helper()
	var n [3]int
	for i, table := range []string{"samples", "sample_batches", "step_events"} {
		if err := st.DB().GetContext(context.Background(), &n[i], `SELECT count(*) FROM `+table); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprint(n)
}

// TestBoundedInput sends what once exhausted the server's memory or ended
// in a 500: every case is answered in under a second with a 4xx naming the
// field, allocating a bounded amount, and writing nothing.
func TestBoundedInput(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPI(t, st, nowhere, "api-test").with(t)

	// Bodies are built before measuring: the client's copy is not the
	// server's cost.
	var tiny strings.Builder
	tiny.WriteString(`{"rows":[{}`)
	for tiny.Len() < MaxBodyBytes-16 {
		tiny.WriteString(`,{}`)
	}
	tiny.WriteString(`]}`)
	var csv strings.Builder
	csv.WriteString("tube,resident,point,taken_at\n")
	for i := 0; i <= store.DefaultMaxBatch; i++ {
		fmt.Fprintf(&csv, "T-%06d,r-%06d,longbao-sampling-01,2022-04-03 17:05\n", i, i)
	}
	overBody := strings.Repeat("a", MaxBodyBytes+1)
	longBatch := strings.Repeat("b", 900<<10)
	samplesPath := "/v1/incidents/xd-0403/samples"
	jsonCT := map[string]string{"Content-Type": "application/json"}
	csvCT := map[string]string{"Content-Type": "text/csv"}

	for _, tt := range []struct {
		name, method, path string
		body               string
		header             map[string]string
		status             int
		field, words       string
		maxAlloc           uint64
	}{
		{"8 MiB of empty JSON rows", "POST", samplesPath, tiny.String(), jsonCT, 400, "rows", "more than the 50000 rows", 64 << 20},
		{"CSV over the limit, ?max= raised", "POST", samplesPath + "?max=2000000", csv.String(), csvCT, 400, "body", "more than 50000 rows", 96 << 20},
		{"body over 8 MiB", "POST", samplesPath, overBody, csvCT, 413, "", "larger than", 64 << 20},
		{"runbook over 8 MiB", "POST", "/v1/runbooks/validate", overBody, nil, 413, "", "larger than", 64 << 20},
		{"0.9 MB batch ID in the query", "POST", samplesPath + "?batch=" + longBatch, "tube,resident,point,taken_at\nT,r,p,2022-04-03 17:05\n", csvCT, 400, "batch", "at most 64", 32 << 20},
		{"0.9 MB batch ID in the body", "POST", samplesPath, `{"batch":"` + longBatch + `","rows":[{"tube":"T","resident":"r","point":"p","taken_at":"2022-04-03T17:05:00Z"}]}`, jsonCT, 400, "batch", "at most 64", 32 << 20},
		{"NUL in a tube", "POST", samplesPath, `{"rows":[{"tube":"T\u0000","resident":"r","point":"p","taken_at":"2022-04-03T17:05:00Z"}]}`, jsonCT, 400, "rows[0].tube", "NUL", 16 << 20},
		{"NUL in an escalate reason", "POST", "/v1/responses/xd-0403/escalate", `{"level":1,"reason":"two cases\u0000"}`, jsonCT, 400, "reason", "NUL", 16 << 20},
		{"control character in a lift reason", "POST", "/v1/responses/xd-0403/lift", `{"reason":"done\u001b[2J"}`, jsonCT, 400, "reason", "control character", 16 << 20},
		{"invalid UTF-8 in a reason", "POST", "/v1/responses/xd-0403/lift", "{\"reason\":\"caf\xe9\"}", jsonCT, 400, "reason", "UTF-8", 16 << 20},
		{"free text over 2 KB", "POST", "/v1/responses/xd-0403/lift", `{"reason":"` + strings.Repeat("r", 2049) + `"}`, jsonCT, 400, "reason", "at most 2048", 16 << 20},
		{"NUL in a finding description", "POST", "/v1/incidents/xd-0403/inspection/sites", `{"site":"beiying","findings":[{"category":"masks","severity":"high","description":"no masks\u0000"}]}`, jsonCT, 400, "findings[0].description", "NUL", 16 << 20},
		{"step ID over 64 bytes", "POST", "/v1/responses/xd-0403/steps/retry", `{"step":"` + strings.Repeat("s", 65) + `"}`, jsonCT, 400, "step", "at most 64", 16 << 20},
		{"incident over 64 bytes", "GET", "/v1/responses/" + strings.Repeat("x", 100) + "/events", "", nil, 400, "incident", "", 16 << 20},
		{"control character in a query", "GET", "/v1/incidents/xd-0403/assignments?staff=a%00b", "", nil, 400, "staff", "NUL", 16 << 20},
	} {
		before := rowCounts(t, st)
		var r reply
		d, alloc := cost(func() {
			h := map[string]string{}
			for k, v := range tt.header {
				h[k] = v
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r = c.doAs(tt.method, tt.path, body, h)
		})
		e := r.errorBody(t)
		if r.status != tt.status || e.Field != tt.field || !strings.Contains(e.Error, tt.words) {
			t.Errorf("%s: %s %s = %s (field %q), want %d, field %q, mentioning %q", tt.name, tt.method, tt.path[:min(len(tt.path), 60)], r.String()[:min(len(r.String()), 300)], e.Field, tt.status, tt.field, tt.words)
		}
		if d > time.Second {
			t.Errorf("%s: answered in %s, want under a second", tt.name, d)
		}
		if alloc > tt.maxAlloc {
			t.Errorf("%s: allocated %d MiB, want at most %d MiB", tt.name, alloc>>20, tt.maxAlloc>>20)
		}
		if after := rowCounts(t, st); after != before {
			t.Errorf("%s: rows (samples, batches, events) %s after, want %s: nothing written", tt.name, after, before)
		}
		t.Logf("%s: %d in %s, %d MiB allocated", tt.name, r.status, d.Round(time.Millisecond), alloc>>20)
	}
}

// TestConcurrencyLimit: when a route class is full, the next request of
// that class is answered 503 with Retry-After at once, and other classes
// and the health probe are still served.
func TestConcurrencyLimit(t *testing.T) {
	st := referenceStore(t)
	nowhere, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	c := newAPIWith(t, st, nowhere, "api-test", Limits{Upload: 1}).with(t)

	// One upload holds the only upload place while its body trickles in.
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", c.base+"/v1/incidents/xd-0403/samples", pr)
		req.Header.Set("Authorization", "Bearer "+c.tokenFor("POST", "/v1/incidents/xd-0403/samples"))
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte("tube,resident,point,taken_at\n"))
	deadline := time.Now().Add(5 * time.Second)
	var r reply
	for {
		r = c.doAs("POST", "/v1/incidents/xd-0403/samples", "tube,resident,point,taken_at\nT,r,p,2022-04-03 17:05\n", map[string]string{"Content-Type": "text/csv"})
		if r.status == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.errorBody(t).Error, "too many upload requests") {
		t.Errorf("second upload while one is in flight = %s (Retry-After %q), want 503 with Retry-After", r, r.header.Get("Retry-After"))
	}
	if r := c.do("GET", "/v1/runbooks", nil); r.status != http.StatusOK {
		t.Errorf("GET /v1/runbooks while uploads are full = %s, want 200", r)
	}
	pw.Close()
	<-done
	if r := c.doAs("POST", "/v1/runbooks/validate", "name: x\n", nil); r.status == http.StatusServiceUnavailable {
		t.Errorf("upload after the first ended = %s, want it served", r)
	}
}
