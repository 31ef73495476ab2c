// The load the faults hit: the testing round's stations and grid workers,
// and the second response that is started, staffed and lifted twice at once.

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// steer runs a second response beside the testing round: it is started
// twice at once, a worker is killed while its compounds are sealed and
// while its sampling points are staffed, it is lifted twice at once while
// the staffing runs, and a worker is killed while the lift is carried out.
func (r *chaosRun) steer(ctx context.Context, start time.Time, incident, area string) {
	time.Sleep(2 * time.Second)
	began := time.Now()
	id, err := r.startTwice(ctx, incident, area)
	r.faultMu.Lock()
	r.record(faultRespondTwice, "", start, time.Since(began), err)
	r.faultMu.Unlock()
	if err != nil {
		return
	}
	r.do(ctx, faultWorker, "seal", start)
	if state := r.awaitStaffing(ctx, id); state != workflows.StateRunning {
		r.faultMu.Lock()
		r.record(faultLiftTwice, "", start, 0, fmt.Errorf("the staffing step never ran (last state %q)", state))
		r.faultMu.Unlock()
		return
	}
	r.do(ctx, faultWorker, "supply", start)
	r.liftTwice(ctx, start, id, incident)
	r.do(ctx, faultWorker, "lift", start)
	_, err = retrying(ctx, func() (struct{}, error) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return struct{}{}, r.c.GetWorkflow(wctx, id, "").Get(wctx, nil)
	})
	if err != nil {
		r.violation("every workflow completed", fmt.Sprintf("%s: %v", id, err))
	}
}

// startTwice starts the response to incident twice at once and checks
// that one execution runs; it returns its workflow ID.
func (r *chaosRun) startTwice(ctx context.Context, incident, area string) (string, error) {
	type started struct {
		id       string
		existing bool
		err      error
	}
	var both [2]started
	var wg sync.WaitGroup
	for i := range both {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, both[i].err = retrying(ctx, func() (struct{}, error) {
				var err error
				both[i].id, both[i].existing, err = service.StartResponse(ctx, r.c, r.st.TaskQueue, workflows.ResponseInput{Incident: incident, Runbook: "chaos-steer", Area: area, TimeScale: chaosTimeScale}, "chaos")
				return struct{}{}, err
			})
		}()
	}
	wg.Wait()
	switch {
	case both[0].err != nil || both[1].err != nil:
		return "", errors.Join(both[0].err, both[1].err)
	case both[0].id != both[1].id:
		return "", fmt.Errorf("two responses: %s and %s", both[0].id, both[1].id)
	}
	// At most one call may say it started the response. Both may say it
	// was running already: a start whose answer was lost in a fault is
	// retried and then finds its own execution.
	if !both[0].existing && !both[1].existing {
		return "", fmt.Errorf("both triggers of %s were told they started the response", both[0].id)
	}
	return both[0].id, r.oneExecution(ctx, both[0].id)
}

// awaitStaffing waits up to two minutes for the response's staffing step
// to run and returns its last state.
func (r *chaosRun) awaitStaffing(ctx context.Context, id string) string {
	state := ""
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(500 * time.Millisecond) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := r.c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		cancel()
		var p workflows.ResponseProgress
		if err != nil || v.Get(&p) != nil {
			continue
		}
		if n := p.Find("supply"); n != nil {
			state = n.State
		}
		if state == workflows.StateRunning {
			break
		}
	}
	return state
}

// liftTwice lifts the response twice at once, as a fault: one lift at
// least must be taken.
func (r *chaosRun) liftTwice(ctx context.Context, start time.Time, id, incident string) {
	r.reserve(ctx, faultLiftTwice)
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	began := time.Now()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			errs[i] = api.Update(uctx, r.c, id, workflows.UpdateLift, workflows.LiftInput{Reason: "fault battery", By: "chaos"}, nil)
		}()
	}
	wg.Wait()
	var err error
	if errs[0] != nil && errs[1] != nil {
		err = fmt.Errorf("neither lift was taken: %w", errors.Join(errs...))
	} else {
		r.mu.Lock()
		r.lifted[incident] = true
		r.mu.Unlock()
	}
	r.record(faultLiftTwice, "", start, time.Since(began), err)
}

// oneExecution checks that a workflow ID has one execution, as the
// visibility store lists them once it has caught up.
func (r *chaosRun) oneExecution(ctx context.Context, id string) error {
	n := 0
	for range 20 {
		resp, err := r.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: r.st.Namespace, Query: fmt.Sprintf("WorkflowId = '%s'", id),
		})
		if err == nil {
			if n = len(resp.GetExecutions()); n == 1 {
				return nil
			}
			if n > 1 {
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s has %d executions, want 1", id, n)
}

// response starts a response over the city, plays the field until every
// round has closed, waits for the response to complete and returns its wall
// time. inject, when given, runs beside the field; the response is not
// done until inject has returned.
func (r *chaosRun) response(ctx context.Context, incident string, rounds int, inject func(ctx context.Context, start time.Time)) (time.Duration, error) {
	start := time.Now()
	r.incident = incident
	r.late = map[int64][]store.SampleRow{}
	r.lastBatch.Store(nil)
	id, err := retrying(ctx, func() (string, error) {
		id, _, err := service.StartResponse(ctx, r.c, r.st.TaskQueue, workflows.ResponseInput{Incident: incident, Runbook: "chaos-round", Area: "city", TimeScale: chaosTimeScale}, "chaos")
		return id, err
	})
	if err != nil {
		return 0, err
	}
	r.responseID = id
	injected := make(chan struct{})
	if inject != nil {
		go func() {
			defer close(injected)
			inject(ctx, start)
		}()
	} else {
		close(injected)
	}
	err = r.field(ctx, start, rounds)
	if err == nil {
		_, err = retrying(ctx, func() (struct{}, error) {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return struct{}{}, r.c.GetWorkflow(wctx, id, "").Get(wctx, nil)
		})
	}
	wall := time.Since(start)
	<-injected
	return wall, err
}

// ingest sends a batch as a station does, again and again until the
// database takes it. Rows refused (a round already closed) are counted.
func (r *chaosRun) ingest(ctx context.Context, rows []store.SampleRow) error {
	out, err := retrying(ctx, func() (store.IngestResult, error) {
		return r.ms.IngestSamples(ctx, store.IngestBatch{Incident: r.incident, Rows: rows, Max: max(chaosBatch, len(rows))})
	})
	if err != nil {
		return err
	}
	if out.Accepted+out.AlreadyRecorded+len(out.Rejected) != len(rows) {
		return fmt.Errorf("batch of %d: %d accepted, %d already recorded, %d refused", len(rows), out.Accepted, out.AlreadyRecorded, len(out.Rejected))
	}
	r.refused.Add(int64(len(out.Rejected)))
	return nil
}

// field plays the stations and grid workers at full speed: for every
// round as it opens, a sample for each resident but one in a hundred who
// never comes and one in a hundred who comes late (two thirds into the
// round's time, unless a killed upload brought them earlier), and every
// home visit sampled. It returns when rounds rounds have opened and none
// is open.
func (r *chaosRun) field(ctx context.Context, start time.Time, rounds int) error {
	uploaded := map[int64]bool{}
	lateAt := start.Add(r.deadline * 2 / 3)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		open, err := r.ms.OpenRoundsFor(ctx, r.incident)
		if err != nil {
			// The database may be restarting.
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if len(open) == 0 && len(uploaded) >= rounds {
			return nil
		}
		for _, info := range open {
			if !uploaded[info.ID] {
				qs, err := r.ms.RoundQueues(ctx, info.ID, []string{"student", "teacher"})
				if err != nil {
					continue
				}
				if err := r.uploadRound(ctx, info.ID, qs); err != nil {
					return err
				}
				uploaded[info.ID] = true
			}
			if time.Now().After(lateAt) {
				if rows := r.takeLate(info.ID); len(rows) > 0 {
					if err := r.ingest(ctx, rows); err != nil {
						return err
					}
				}
			}
			vs, err := r.ms.PendingVisits(ctx, info.ID)
			if err != nil {
				continue
			}
			for _, v := range vs {
				if _, err := retrying(ctx, func() (struct{}, error) {
					return struct{}{}, r.ms.RecordHomeVisit(ctx, info.ID, v.Resident, v.Attempt, true, fmt.Sprintf("%s-%d-%s", r.incident, info.ID, v.Resident), time.Now())
				}); err != nil {
					return err
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uploadRound sends the samples of a round that has just opened, in
// batches as the stations do, and keeps its late comers back: one resident
// in a hundred never comes and one in a hundred comes late.
func (r *chaosRun) uploadRound(ctx context.Context, round int64, qs []store.PointQueue) error {
	now := time.Now()
	var batch, late []store.SampleRow
	send := func() error {
		if err := r.ingest(ctx, batch); err != nil {
			return err
		}
		sent := batch
		r.lastBatch.Store(&sent)
		batch = nil
		return nil
	}
	k := 0
	for _, q := range qs {
		for _, code := range q.Residents {
			k++
			row := store.SampleRow{Tube: fmt.Sprintf("%s-%d-%s", r.incident, round, code), Resident: code, Point: q.PointCode, TakenAt: now, Result: "negative"}
			switch k % 100 {
			case 7:
				continue
			case 3:
				late = append(late, row)
				continue
			}
			batch = append(batch, row)
			if len(batch) == chaosBatch {
				if err := send(); err != nil {
					return err
				}
			}
		}
	}
	if len(batch) > 0 {
		if err := send(); err != nil {
			return err
		}
	}
	r.lateMu.Lock()
	r.late[round] = late
	r.lateMu.Unlock()
	return nil
}

// takeLate takes the late comers of a round (any round when id is 0) once.
func (r *chaosRun) takeLate(id int64) []store.SampleRow {
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	if id == 0 {
		for k, rows := range r.late {
			if len(rows) > 0 {
				id = k
				break
			}
		}
	}
	rows := r.late[id]
	delete(r.late, id)
	return rows
}

// retrying calls f until it succeeds, backing off up to 2 s between tries,
// for as long as ctx allows: the harness's own calls must outlast the
// faults it causes.
func retrying[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		v, err := f()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
