package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/metrics"
	"github.com/musterhq/muster/internal/notify"
	"github.com/musterhq/muster/internal/store"
)

// demoNotices is the demo's notice delivery: a local webhook receiver and
// SMTP sink, a routes file for the reference district that points at them,
// and a dispatcher delivering to them.
type demoNotices struct {
	receiver *notify.Receiver
	mail     *notify.MailSink
	routes   string
	webLog   string
}

// startDemoNotices starts the receivers and the dispatcher. The routes file
// and its signing secret are written under the data folder, made afresh on
// each run.
func (a *app) startDemoNotices(ctx context.Context, dataDir string, st *store.Store, logger *slog.Logger, m *metrics.Metrics, district, locale string) (*demoNotices, error) {
	b := make([]byte, 16)
	rand.Read(b)
	secret := hex.EncodeToString(b)
	dn := &demoNotices{webLog: filepath.Join(dataDir, "notices-webhook.jsonl"), routes: filepath.Join(dataDir, "notice-routes.yaml")}
	var err error
	if dn.receiver, err = notify.StartReceiver("127.0.0.1:0", secret, dn.webLog); err != nil {
		return nil, fmt.Errorf("notice receiver: %w", err)
	}
	if dn.mail, err = notify.StartMailSink("127.0.0.1:0", filepath.Join(dataDir, "mail")); err != nil {
		dn.receiver.Close()
		return nil, fmt.Errorf("mail sink: %w", err)
	}
	if locale == "" {
		locale = "en"
	}
	routes := fmt.Sprintf(`# Written by muster demo for this run: the district's notices go to a
# local webhook receiver (every audience) and a local SMTP sink (the
# district command, departments and staff). See docs/notices.md.
districts:
  %[4]s:
    locale: %[5]s
    channels:
      groups:
        type: webhook
        url: %[1]s
        secret: %[2]s
        rate: 50
        burst: 20
        batch: 20
      duty-mail:
        type: smtp
        url: smtp://%[3]s
        from: muster@%[4]s.example
        to: [duty@%[4]s.example]
        rate: 20
    routes:
      - audience: [residents, workers, school, department, staff, command]
        channels: [groups]
      - audience: [command, department, staff]
        channels: [duty-mail]
        locale: en
`, dn.receiver.URL, secret, dn.mail.Addr, district, locale)
	if err := os.WriteFile(dn.routes, []byte(routes), 0o600); err != nil {
		dn.close()
		return nil, err
	}
	d := &notify.Dispatcher{Store: st, RoutesFile: dn.routes, Logger: logger, Poll: 200 * time.Millisecond}
	if m != nil {
		if err := m.Register(d.Collectors()...); err != nil {
			dn.close()
			return nil, err
		}
	}
	go func() {
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			a.say("Notice dispatcher stopped: %v", err)
		}
	}()
	a.say("Notices go to a local webhook receiver (%s) and an SMTP sink (%s); routes: %s.", dn.receiver.URL, dn.mail.Addr, dn.routes)
	return dn, nil
}

func (dn *demoNotices) close() {
	dn.receiver.Close()
	dn.mail.Close()
}

// report waits briefly for the last notices to go out and prints what the
// receivers got.
func (dn *demoNotices) report(ctx context.Context, a *app, st *store.Store, incident string) {
	var c map[string]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		c, err = st.NoticeCounts(ctx, incident)
		if err != nil || c[domain.DeliveryPending] == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	taken, dups, bad := dn.receiver.Counts()
	fmt.Fprintf(a.out, "  Notices delivered: %d delivered · %d sent · %d pending · %d undelivered; the webhook receiver took %d (%d repeats refused, %d bad signatures), the SMTP sink holds %d mails.\n",
		c[domain.DeliveryDelivered], c[domain.DeliverySent], c[domain.DeliveryPending], c[domain.DeliveryUndelivered], taken, dups, bad, dn.mail.Count())
	fmt.Fprintf(a.out, "  See them: muster notices list --incident %s · received: %s · mail: %s\n", incident, dn.webLog, dn.mail.Dir)
}
