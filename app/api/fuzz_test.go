package api

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/musterhq/muster/internal/input"
	"github.com/musterhq/muster/internal/store"
)

// bodyTypes are the JSON bodies the API's routes read, in a fixed order:
// the fuzzer's first argument picks one.
var bodyTypes = []func() any{
	func() any { return &StartRequest{} },
	func() any { return &LiftRequest{} },
	func() any { return &EscalateRequest{} },
	func() any { return &AddAreaRequest{} },
	func() any { return &RetryRequest{} },
	func() any { return &StepRequest{} },
	func() any { return &DecideRequest{} },
	func() any { return &ReportSiteRequest{} },
	func() any { return &RectifyRequest{} },
	func() any { return &ReinspectRequest{} },
	func() any { return &AckRequest{} },
	func() any { return &store.SignUp{} },
	func() any { return &StockReport{} },
	func() any { return &DeliveryRequest{} },
	func() any { return &store.VehiclePass{} },
	nil, // the samples batch, read as a stream
}

// FuzzRequestBodies: whatever the body, every route's decoding answers a
// value within the input limits or a 4xx error, never a panic or a 500;
// a samples batch never holds more rows than its limit.
func FuzzRequestBodies(f *testing.F) {
	for i, body := range []string{
		`{"incident":"xd-0403","runbook":"community-outbreak-level-1","area":"longbao","level":1,"time_scale":3600}`,
		`{"reason":"two rounds negative"}`,
		`{"level":2,"reason":"cases contained"}`,
		`{"area":"nanpingtou","reason":"new case"}`,
		`{"step":"seal/longbao-jiayuan"}`,
		`{"step":"seal/longbao-jiayuan","reason":"cleared"}`,
		`{"step":"approve-lift","decision":"approve","reason":"two clean rounds"}`,
		`{"site":"beiying","findings":[{"category":"masks","severity":"high","description":"no masks"}]}`,
		`{"note":"door staff back"}`,
		`{"passed":true,"note":"fixed"}`,
		`{}`,
		`{"area":"longbao","key":"form-1","name":"Li","skills":["driver"]}`,
		`{"rows":[{"site":"meiteihao","commodity":"vegetables","tonnes":3.5}]}`,
		`{"tonnes":16.5}`,
		`{"plate":"晋A12345","area":"longbao","from":"2022-04-03T08:00:00Z","to":"2022-04-04T08:00:00Z","for":"restock"}`,
		`{"batch":"b-1","rows":[{"tube":"T1","resident":"r1","point":"longbao-sampling-01","taken_at":"2022-04-03T17:05:00Z"}]}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		newBody := bodyTypes[int(kind)%len(bodyTypes)]
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		var (
			err error
			v   any
		)
		if newBody == nil {
			const max = 50
			var sb SampleBatch
			err = decodeSampleBatch(bufio.NewReader(r.Body), max, &sb)
			if err == nil && len(sb.Rows) > max {
				t.Fatalf("decodeSampleBatch kept %d rows, over %d", len(sb.Rows), max)
			}
			v = &sb
		} else {
			v = newBody()
			err = decodeJSON(r, v)
		}
		var e *Error
		switch {
		case err == nil:
			if ierr := input.Struct(v); ierr != nil {
				t.Fatalf("accepted a body breaking the input limits: %v", ierr)
			}
		case !errors.As(err, &e):
			t.Fatalf("decoding answered %v, not an API error (a 500)", err)
		case e.Status < 400 || e.Status >= 500:
			t.Fatalf("decoding answered %d: %v", e.Status, e)
		}
	})
}
