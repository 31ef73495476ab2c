// The fault plan: which faults the battery causes and when.

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// The faults.
const (
	faultWorker         = "kill worker"
	faultPostgres       = "restart PostgreSQL"
	faultPostgresAcross = "restart PostgreSQL across the deadline"
	faultHistory        = "kill history"
	faultFrontend       = "kill frontend"
	faultSameBatch      = "same batch, 3 stations at once"
	faultUploader       = "kill uploader mid-statement, re-send"
	faultDBDownStart    = "start worker while Muster's database down"
	faultRespondTwice   = "respond twice at once"
	faultLiftTwice      = "lift during supply, twice at once"
)

type plannedFault struct {
	at   time.Duration
	name string
}

// faultPlan is when each fault happens, in time after the response starts.
type faultPlan struct {
	faults []plannedFault
	// across says one PostgreSQL restart spans the rounds' deadline.
	across bool
}

// planFaults places the faults the options ask for: most at random
// moments before the rounds' deadline, one PostgreSQL restart across it
// and one worker killed while the rounds close.
func (r *chaosRun) planFaults(o chaosOptions) faultPlan {
	counts := map[string]int{faultWorker: o.workerKills, faultPostgres: o.pgRestarts, faultHistory: o.historyKills, faultFrontend: o.frontendKills,
		faultSameBatch: o.sameBatch, faultUploader: o.uploaderKills, faultDBDownStart: o.dbDownStarts}
	var plan faultPlan
	plan.across = counts[faultPostgres] > 0
	if plan.across {
		counts[faultPostgres]--
	}
	if counts[faultWorker] > 1 {
		counts[faultWorker]--
		plan.faults = append(plan.faults, plannedFault{at: r.deadline + time.Second, name: faultWorker})
	}
	var random []string
	for name, n := range counts {
		for range n {
			random = append(random, name)
		}
	}
	sort.Strings(random)
	r.rng.Shuffle(len(random), func(i, j int) { random[i], random[j] = random[j], random[i] })
	window := max(r.deadline-6*time.Second, 2*time.Second)
	for _, name := range random {
		plan.faults = append(plan.faults, plannedFault{at: time.Second + time.Duration(r.rng.Int64N(int64(window-time.Second))), name: name})
	}
	sort.SliceStable(plan.faults, func(i, j int) bool { return plan.faults[i].at < plan.faults[j].at })
	return plan
}

func (plan faultPlan) print(w io.Writer, deadline time.Duration) {
	fmt.Fprintln(w, "Faults planned (seconds after the response starts):")
	for _, p := range plan.faults {
		fmt.Fprintf(w, "  %6.1f  %s\n", p.at.Seconds(), p.name)
	}
	if plan.across {
		fmt.Fprintf(w, "  %6.1f  %s\n", (deadline - time.Second).Seconds(), faultPostgresAcross)
	}
}

// inject carries out the plan from start, beside the second response
// (incident steer), and returns when both are done.
func (r *chaosRun) inject(ctx context.Context, start time.Time, plan faultPlan, steer string) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.steer(ctx, start, steer, "c-001")
	}()
	if plan.across {
		// The restart across the deadline keeps its moment: other
		// faults wait from acrossReserve before it until it is done.
		r.acrossAt = start.Add(r.deadline - time.Second)
		r.acrossDone = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.acrossDone)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(r.acrossAt)):
			}
			r.do(ctx, faultPostgresAcross, "", start)
		}()
	}
	for _, p := range plan.faults {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(p.at))):
		}
		r.do(ctx, p.name, "", start)
	}
	wg.Wait()
}
