package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/notify"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

// TestSealNoticesDeliveredEndToEnd seals and lifts a compound with a real
// worker while a dispatcher delivers its notices to a signed-webhook
// receiver, which is down at first, and to an SMTP sink: every notice
// arrives once.
func TestSealNoticesDeliveredEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := ln.Addr().String()
	ln.Close() // the receiver is down until the seal is under way
	mail, err := notify.StartMailSink("127.0.0.1:0", filepath.Join(dir, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	routes := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routes, []byte(fmt.Sprintf(`districts:
  xiaodian:
    channels:
      groups:
        type: webhook
        url: http://%s/notices
        secret: e2e-secret
      duty-mail:
        type: smtp
        url: smtp://%s
        from: muster@xiaodian.example
        to: [duty@xiaodian.example]
    routes:
      - audience: [residents, workers, school, department, staff, command]
        channels: [groups]
      - audience: [command, department, staff]
        channels: [duty-mail]
`, hookAddr, mail.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &notify.Dispatcher{Store: s.st, RoutesFile: routes, Poll: 100 * time.Millisecond, Backoff: 200 * time.Millisecond, MaxBackoff: time.Second}
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	go d.Run(dctx)

	incident := pgtest.Name("e2e")
	area, err := s.st.AreaByCode(ctx, "longbao-jiayuan")
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.SealCompoundInput{Incident: incident, Compound: area.Code, TimeScale: 3600, CheckEveryHours: 2, RequestedBy: "e2e"}
	id, _, err := service.StartSeal(ctx, s.c, s.taskQueue, in, area)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "sealed", func() (bool, string) {
		p := s.progress(t, id)
		return p.Phase == workflows.PhaseSealed, string(p.Phase)
	})
	time.Sleep(2 * time.Second)
	rc, err := notify.StartReceiver(hookAddr, "e2e-secret", filepath.Join(dir, "received.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, err := s.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.UpdateLift, Args: []any{workflows.LiftInput{Reason: "two rounds negative", By: "duty-officer"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.c.GetWorkflow(rctx, id, "").Get(rctx, nil); err != nil {
		t.Fatal(err)
	}
	var notices int
	if err := s.st.DB().Get(&notices, `SELECT count(*) FROM notices WHERE incident = $1`, incident); err != nil {
		t.Fatal(err)
	}
	if notices < 2 {
		t.Fatalf("the seal wrote %d notices, want at least its announcement and its lift", notices)
	}
	var counts map[string]int
	eventually(t, 30*time.Second, "every notice delivered", func() (bool, string) {
		counts, _ = s.st.NoticeCounts(ctx, incident)
		return counts[domain.DeliveryPending] == 0 && counts[domain.DeliveryUndelivered] == 0, fmt.Sprint(counts)
	})
	var hooks, mails int
	s.st.DB().Get(&hooks, `SELECT count(*) FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id WHERE n.incident = $1 AND d.channel = 'groups'`, incident)
	s.st.DB().Get(&mails, `SELECT count(*) FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id WHERE n.incident = $1 AND d.channel = 'duty-mail'`, incident)
	taken, dups, bad := rc.Counts()
	if taken != hooks || bad != 0 || hooks != notices {
		t.Fatalf("receiver took %d (bad signatures %d), want %d: one per notice", taken, bad, notices)
	}
	if mail.Count() != mails {
		t.Fatalf("mail sink holds %d, want %d", mail.Count(), mails)
	}
	var retries int
	s.st.DB().Get(&retries, `SELECT count(*) FROM notice_attempts WHERE outcome = 'retry'`)
	t.Logf("seal and lift: %d notices, %d webhook deliveries (taken once each, %d repeats refused), %d mails, %d retries while the receiver was down; counts %v",
		notices, hooks, dups, mails, retries, counts)
}
