// The faults themselves: causing one, recording it and waiting for the
// cluster to serve again.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/store"
)

// do does one fault, records it, says how it went (phase, when not empty,
// says what the cluster was doing) and checks the invariants of the
// watched incidents.
func (r *chaosRun) do(ctx context.Context, name, phase string, start time.Time) {
	r.reserve(ctx, name)
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	d, err := r.fault(ctx, name, start)
	r.record(name, phase, start, d, err)
	for _, incident := range r.watched {
		r.check(ctx, incident, false)
	}
}

func (r *chaosRun) record(name, phase string, start time.Time, d time.Duration, err error) {
	f := r.faults[name]
	if f == nil {
		f = &chaosFault{name: name}
		r.faults[name] = f
	}
	f.count++
	f.recovery = append(f.recovery, d)
	label := name
	if phase != "" {
		label += " (" + phase + ")"
	}
	if err != nil {
		f.failed = append(f.failed, err.Error())
		fmt.Fprintf(r.a.out, "  %6.1f s  %-44s FAILED: %v\n", time.Since(start).Seconds(), label, err)
	} else {
		fmt.Fprintf(r.a.out, "  %6.1f s  %-44s recovered in %s\n", time.Since(start).Seconds(), label, d.Round(time.Millisecond))
	}
}

// acrossReserve is how long before the restart across the deadline no
// other fault begins: longer than the slowest recovery seen.
const acrossReserve = 12 * time.Second

// reserve waits, for any fault but the restart across the deadline, while
// that restart is near or under way.
func (r *chaosRun) reserve(ctx context.Context, name string) {
	if name == faultPostgresAcross || r.acrossDone == nil || time.Now().Before(r.acrossAt.Add(-acrossReserve)) {
		return
	}
	select {
	case <-ctx.Done():
	case <-r.acrossDone:
	}
}

// fault does one fault and returns how long the cluster took to serve
// again (see serving).
func (r *chaosRun) fault(ctx context.Context, name string, start time.Time) (time.Duration, error) {
	began := time.Now()
	var err error
	newWorker := 0
	switch name {
	case faultWorker:
		workers := r.processes("muster-worker-")
		newWorker, err = r.killAndRestart(workers[r.rng.IntN(len(workers))])
	case faultHistory:
		_, err = r.killAndRestart(r.processes("temporal-history")[0])
	case faultFrontend:
		_, err = r.killAndRestart(r.processes("temporal-frontend")[0])
	case faultPostgres:
		if err = r.stopPostgres(ctx); err == nil {
			err = r.startPostgres(ctx)
		}
	case faultPostgresAcross:
		deadlineAt := start.Add(r.deadline)
		if time.Now().After(deadlineAt) {
			return 0, fmt.Errorf("began %s after the deadline (faults before it ran late)", time.Since(deadlineAt).Round(time.Millisecond))
		}
		if err = r.stopPostgres(ctx); err == nil {
			time.Sleep(time.Until(deadlineAt.Add(2 * time.Second)))
			err = r.startPostgres(ctx)
		}
	case faultDBDownStart:
		// Muster's database alone goes away (Temporal's, on the same
		// server, stays): no connection is allowed and those open are cut.
		if err = r.musterDatabase(ctx, false); err != nil {
			break
		}
		workers := r.processes("muster-worker-")
		newWorker, err = r.killAndRestart(workers[r.rng.IntN(len(workers))])
		if err == nil {
			// The new worker must serve (poll the task queue) before the
			// database is back.
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_, err = retrying(wctx, func() (struct{}, error) { return struct{}{}, r.polls(wctx, newWorker) })
			cancel()
			if err != nil {
				err = fmt.Errorf("the worker started while the database was down does not poll: %w (its log: %s)", err, r.logTail(newWorker))
			}
		}
		if serr := r.musterDatabase(ctx, true); serr != nil {
			err = errors.Join(err, serr)
		}
	case faultSameBatch:
		p := r.lastBatch.Load()
		if p == nil {
			return 0, errors.New("no batch sent yet")
		}
		rows := *p
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = r.ingest(ctx, rows)
			}()
		}
		wg.Wait()
		err = errors.Join(errs...)
	case faultUploader:
		err = r.killedUpload(ctx)
	default:
		return 0, fmt.Errorf("no fault %q", name)
	}
	if err != nil {
		return time.Since(began), err
	}
	return r.serving(ctx, began, newWorker)
}

// killedUpload writes late comers (or the last batch) to a file, starts
// `muster samples upload` on it and SIGKILLs it a random moment later,
// most likely mid-statement, then sends the file again to completion and
// checks that every row of it is recorded once.
func (r *chaosRun) killedUpload(ctx context.Context) error {
	rows := r.takeLate(0)
	if len(rows) == 0 {
		if p := r.lastBatch.Load(); p != nil {
			rows = *p
		}
	}
	if len(rows) == 0 {
		return errors.New("no rows to upload")
	}
	var b strings.Builder
	b.WriteString("tube,resident,point,taken_at,result\n")
	tubes := make([]string, len(rows))
	for i, row := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", row.Tube, row.Resident, row.Point, row.TakenAt.Format(time.RFC3339Nano), row.Result)
		tubes[i] = row.Tube
	}
	file := filepath.Join(r.st.Dir, fmt.Sprintf("upload-%d.csv", time.Now().UnixNano()))
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return err
	}
	defer os.Remove(file)
	upload := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, r.bins["muster"], "samples", "upload", file, "--incident", r.incident, "-o", "json")
		cmd.Env = append(os.Environ(), config.EnvDatabaseURL+"="+r.st.DatabaseURL)
		return cmd
	}
	killed := upload()
	if err := killed.Start(); err != nil {
		return err
	}
	time.Sleep(time.Duration(50+r.rng.IntN(250)) * time.Millisecond)
	killed.Process.Kill()
	killed.Wait()
	out, err := upload().Output()
	if err != nil {
		return fmt.Errorf("upload sent again: %v: %s", err, out)
	}
	var res store.IngestResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("upload sent again: %v: %s", err, out)
	}
	if res.Accepted+res.AlreadyRecorded+len(res.Rejected) != len(rows) {
		return fmt.Errorf("upload sent again: %d accepted, %d already recorded, %d refused of %d rows", res.Accepted, res.AlreadyRecorded, len(res.Rejected), len(rows))
	}
	r.refused.Add(int64(len(res.Rejected)))
	n, err := r.ms.SampledTubes(ctx, tubes)
	if err != nil {
		return err
	}
	if n != len(rows)-len(res.Rejected) {
		return fmt.Errorf("after the killed upload was sent again, %d of its %d rows are recorded (%d refused)", n, len(rows), len(res.Rejected))
	}
	return nil
}
