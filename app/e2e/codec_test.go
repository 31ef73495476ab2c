package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// dialCodec connects to srv as the worker and the CLI do with codec keys.
func dialCodec(t *testing.T, srv *testsuite.DevServer, keys codec.Keys) (client.Client, *codec.Codec) {
	t.Helper()
	cd, err := codec.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	codec.Apply(&opts, cd)
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, cd
}

// rawHistory fetches a workflow's history as Temporal stores it, through a
// client without the codec.
func rawHistory(t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		events = append(events, ev)
	}
	return events
}

// eachPayload calls found with every payload in m except search
// attributes, which Temporal indexes and which never go through a codec.
func eachPayload(m protoreflect.Message, found func(*commonpb.Payload)) {
	switch m.Descriptor().FullName() {
	case "temporal.api.common.v1.SearchAttributes":
		return
	case "temporal.api.common.v1.Payload":
		found(m.Interface().(*commonpb.Payload))
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				eachPayload(v.List().Get(i).Message(), found)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				eachPayload(mv.Message(), found)
				return true
			})
		case fd.Message() != nil && !fd.IsMap():
			eachPayload(v.Message(), found)
		}
		return true
	})
}

// TestPayloadCodecEndToEnd runs a seal with encrypted payloads, rotates the
// key while it holds, lifts it with a reason under the new key, and checks
// what Temporal stored: no free text in clear, every payload encrypted,
// search attributes readable, and the codec server decoding all of it for
// a caller with the credential only.
func TestPayloadCodecEndToEnd(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Server(t)
	ctx := context.Background()
	st := pgtest.New(t)
	ref, err := scenario.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadScenario(ctx, ref.Rows()); err != nil {
		t.Fatal(err)
	}
	k1, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := codec.NewKey("k2")
	if err != nil {
		t.Fatal(err)
	}
	plain := srv.Client()
	c1, _ := dialCodec(t, srv, codec.Keys{k1})
	taskQueue := pgtest.Name("codec")
	w1 := service.NewWorker(c1, taskQueue, st)
	if err := w1.Start(); err != nil {
		t.Fatal(err)
	}

	incident := pgtest.Name("codec")
	area, err := st.AreaByCode(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	const actor = "duty-officer-ma-lin"
	in := workflows.SealCompoundInput{Incident: incident, Compound: area.Code, TimeScale: 3600, CheckEveryHours: 2, RequestedBy: actor}
	id, _, err := service.StartSeal(ctx, c1, taskQueue, in, area)
	if err != nil {
		t.Fatal(err)
	}
	progress := func(c client.Client) (workflows.SealProgress, error) {
		var p workflows.SealProgress
		v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
		if err == nil {
			err = v.Get(&p)
		}
		return p, err
	}
	eventually(t, 60*time.Second, "sealed under key k1", func() (bool, string) {
		p, err := progress(c1)
		return err == nil && p.Phase == workflows.PhaseSealed && p.ComplianceRounds >= 1, fmt.Sprintf("%+v, %v", p.Phase, err)
	})

	// A worker that lost the old key cannot replay the history written
	// under it: its workflow tasks fail and are retried, and the seal keeps
	// holding instead of failing.
	w1.Stop()
	cBad, _ := dialCodec(t, srv, codec.Keys{k2})
	wBad := service.NewWorker(cBad, taskQueue, st)
	if err := wBad.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "workflow task retried by the worker without k1", func() (bool, string) {
		desc, err := plain.DescribeWorkflow(ctx, id, "")
		if err != nil {
			return false, err.Error()
		}
		d := desc.RawResponse
		attempt := d.GetPendingWorkflowTask().GetAttempt()
		return d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING && attempt >= 2,
			fmt.Sprintf("%s, workflow task attempt %d", d.GetWorkflowExecutionInfo().GetStatus(), attempt)
	})
	wBad.Stop()

	// Rotation: a new current key, the old one kept for decoding. The new
	// worker has no cached state, so it replays the history written under
	// k1 before it can take the lift.
	c2, cd2 := dialCodec(t, srv, codec.Keys{k2, k1})
	w2 := service.NewWorker(c2, taskQueue, st)
	if err := w2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w2.Stop)
	const reason = "gate 3 stays open for Zhang Wei's dialysis run at 06:00"
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := sendUpdate(lctx, c2, id, workflows.UpdateLift, workflows.LiftInput{Reason: reason, By: actor}); err != nil {
		t.Fatalf("lift after the key rotation = %v", err)
	}
	var res workflows.SealCompoundResult
	if err := c2.GetWorkflow(lctx, id, "").Get(lctx, &res); err != nil || res.LiftedBy != actor {
		t.Fatalf("seal result after the rotation = %+v, %v; want lifted by %s", res, err, actor)
	}

	// A refusal's message is encrypted in transit too, and reads in clear
	// for a client with the keys.
	err = sendUpdate(lctx, c2, id, workflows.UpdateLift, workflows.LiftInput{Reason: "again", By: actor})
	if err == nil || strings.Contains(err.Error(), "Encoded failure") {
		t.Errorf("second lift = %v, want a refusal in words", err)
	}

	events := rawHistory(t, plain, id)
	t.Run("no free text in clear", func(t *testing.T) {
		keyIDs := map[string]int{}
		payloads := 0
		for _, ev := range events {
			raw, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{reason, "Zhang Wei", actor} {
				if bytes.Contains(raw, []byte(text)) {
					t.Errorf("event %d (%s) holds %q in clear", ev.GetEventId(), ev.GetEventType(), text)
				}
			}
			eachPayload(ev.ProtoReflect(), func(p *commonpb.Payload) {
				payloads++
				if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc != codec.Encoding {
					t.Errorf("event %d (%s): a payload is %q, want %s", ev.GetEventId(), ev.GetEventType(), enc, codec.Encoding)
				}
				keyIDs[string(p.GetMetadata()[codec.MetadataKeyID])]++
			})
		}
		if payloads == 0 || keyIDs["k1"] == 0 || keyIDs["k2"] == 0 {
			t.Errorf("payloads by key = %v (%d in all), want some under k1 (before the rotation) and k2 (after)", keyIDs, payloads)
		}
		t.Logf("%d events, %d payloads, by key %v", len(events), payloads, keyIDs)
		// A process without the codec refuses the result rather than
		// misreading it.
		var r workflows.SealCompoundResult
		if err := plain.GetWorkflow(ctx, id, "").Get(ctx, &r); err == nil {
			t.Error("a client without the codec read the encrypted result")
		}
	})

	t.Run("search attributes stay readable", func(t *testing.T) {
		execs, err := api.ListExecutions(ctx, plain, fmt.Sprintf("MusterIncident = '%s'", incident))
		if err != nil || len(execs) != 1 || execs[0].Incident != incident || len(execs[0].AreaPath) == 0 {
			t.Errorf("ListExecutions() without the codec = %+v, %v; want the seal with its attributes", execs, err)
		}
	})

	t.Run("a dropped key is named", func(t *testing.T) {
		_, onlyNew := dialCodec(t, srv, codec.Keys{k2})
		input := events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
		var got workflows.SealCompoundInput
		err := codec.DataConverter(onlyNew).FromPayloads(input, &got)
		if !errors.Is(err, codec.ErrUnknownKey) || !strings.Contains(err.Error(), `"k1"`) || !strings.Contains(err.Error(), "(k2)") {
			t.Errorf("decode a k1 payload with only k2 = %v, want an error naming k1 and the keys known", err)
		}
		if err := codec.DataConverter(cd2).FromPayloads(input, &got); err != nil || got.RequestedBy != actor {
			t.Errorf("decode a k1 payload with k2 and k1 = %+v, %v", got, err)
		}
	})

	t.Run("codec server", func(t *testing.T) {
		// A supervisor's credential: the role that reads histories.
		token, digest, err := api.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateCredential(ctx, store.Credential{Name: "codec-e2e", Role: api.RoleSupervisor}, digest, "e2e"); err != nil {
			t.Fatal(err)
		}
		s, err := api.New(api.Options{Store: st, Temporal: c2, TaskQueue: taskQueue, Codec: cd2, CodecOrigins: []string{codec.DefaultOrigin}})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s.Handler())
		defer hs.Close()
		var all []*commonpb.Payload
		for _, ev := range events {
			eachPayload(ev.ProtoReflect(), func(p *commonpb.Payload) { all = append(all, p) })
		}
		body, err := protojson.Marshal(&commonpb.Payloads{Payloads: all})
		if err != nil {
			t.Fatal(err)
		}
		post := func(header map[string]string) (int, []byte) {
			req, err := http.NewRequest("POST", hs.URL+"/codec/decode", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Namespace", "default")
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, data
		}
		status, data := post(map[string]string{"Authorization": "Bearer " + token, "Origin": codec.DefaultOrigin})
		var out commonpb.Payloads
		if status != http.StatusOK || protojson.Unmarshal(data, &out) != nil || len(out.GetPayloads()) != len(all) {
			t.Fatalf("POST /codec/decode = %d %.200s, want %d payloads", status, data, len(all))
		}
		decoded, _ := proto.Marshal(&out)
		if !bytes.Contains(decoded, []byte(reason)) || !bytes.Contains(decoded, []byte(actor)) {
			t.Error("the codec server's answer lacks the lift's reason and actor")
		}
		for i, p := range out.GetPayloads() {
			if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc == codec.Encoding {
				t.Errorf("payload %d is still encrypted", i)
			}
		}
		if status, data := post(nil); status != http.StatusUnauthorized || bytes.Contains(data, []byte("Zhang")) {
			t.Errorf("POST /codec/decode without a credential = %d %.200s, want 401", status, data)
		}
		// The same history through the SDK's own remote codec client, as
		// tctl or another SDK would read it.
		remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: hs.URL + "/codec",
			ModifyRequest: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }})
		back, err := remote.Decode(all)
		if err != nil || len(back) != len(all) {
			t.Errorf("remote codec Decode() = %d payloads, %v", len(back), err)
		}
	})
}

// TestDevServerUIGetsTheCodecEndpoint starts the dev server as the demo
// does and asks its Web UI which codec endpoint it decodes with.
func TestDevServerUIGetsTheCodecEndpoint(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs the temporal CLI")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uiPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	const endpoint = "http://127.0.0.1:8234/codec/0123456789abcdef"
	srv, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{UIPort: uiPort, UICodecEndpoint: endpoint, SearchAttributes: workflows.SearchAttributes, Output: logFile})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var settings struct {
		Codec struct{ Endpoint string }
	}
	eventually(t, 30*time.Second, "the UI's settings", func() (bool, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/settings", uiPort))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(data, &settings); err != nil {
			return false, fmt.Sprintf("%d %.200s", resp.StatusCode, data)
		}
		return true, ""
	})
	if settings.Codec.Endpoint != endpoint {
		t.Errorf("UI codec endpoint = %q, want %q", settings.Codec.Endpoint, endpoint)
	}
}
