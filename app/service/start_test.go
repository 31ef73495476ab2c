package service_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/app/temporaltest"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/workflows"
)

// TestStartResponseTwiceAtOnce triggers the same incident's response from
// two callers at the same moment, several times over, against a dev
// server: exactly one is told it started the response and the other that
// it was running already. Once the response has ended, a trigger is told
// so. No worker serves the task queue: a started response stays running.
func TestStartResponseTwiceAtOnce(t *testing.T) {
	srv := temporaltest.Server(t)
	c := srv.Client()
	ctx := context.Background()
	taskQueue := pgtest.Name("start")
	for range 5 {
		in := workflows.ResponseInput{Incident: pgtest.Name("twice"), Runbook: "community-outbreak-level-1", Area: "longbao"}
		type answer struct {
			id       string
			existing bool
			err      error
		}
		var both [2]answer
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for i := range both {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				both[i].id, both[i].existing, both[i].err = service.StartResponse(ctx, c, taskQueue, in, "test")
			}()
		}
		close(ready)
		wg.Wait()
		for _, a := range both {
			if a.err != nil {
				t.Fatalf("StartResponse(%s) = %v", in.Incident, a.err)
			}
		}
		if both[0].id != both[1].id {
			t.Fatalf("two starts answered two IDs: %s and %s", both[0].id, both[1].id)
		}
		if both[0].existing == both[1].existing {
			t.Errorf("two starts of %s at once: existing = %v and %v, want one false (started) and one true (running already)", in.Incident, both[0].existing, both[1].existing)
		}
		if err := c.TerminateWorkflow(ctx, both[0].id, "", "test done"); err != nil {
			t.Fatal(err)
		}
		if _, existing, err := service.StartResponse(ctx, c, taskQueue, in, "test"); !errors.Is(err, service.ErrEnded) || existing {
			t.Errorf("StartResponse(%s) after it ended = existing %v, %v; want ErrEnded", in.Incident, existing, err)
		}
	}
}
