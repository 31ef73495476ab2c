package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
)

type simOptions struct {
	incident string
	// pace multiplies every point's capacity_per_hour; 0 uploads as fast
	// as the database takes it.
	pace      float64
	timeScale float64
	noShow    float64
	positives float64
	homeMiss  float64
	seed      uint64
	batch     int
	cohorts   string
	tick      time.Duration
	// follow keeps waiting for the incident's next rounds while its
	// response is open, instead of ending when no round is open.
	follow bool
	// retryFor bounds how long a database outage is waited out.
	retryFor time.Duration
}

func (a *app) simulateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Play the field: sampling stations and grid workers reporting into open testing rounds",
	}
	o := simOptions{retryFor: service.DefaultBackoff.For}
	testing := &cobra.Command{
		Use:   "testing --incident ID",
		Short: "Upload samples at each sampling point's own capacity until the incident's rounds close",
		Long: `simulate testing plays the sampling stations of every open testing round of an
incident: each point samples its queue (cohorts in priority order) at its own
capacity_per_hour from the scenario, times --pace, in scenario time, uploading
batches through the same ingestion path as real stations; grid workers report
home visits in batches, some of which miss and are visited again. A share of residents
never comes (--no-show), so the round ends with a missing list. --pace 0
uploads as fast as the database takes it.

Without --follow it ends when the incident has no open round left. With
--follow it waits for the next rounds while the incident's response is open,
and ends once the response has closed and its last round with it.

Database errors that a retry can mend (PostgreSQL down or restarting) are
retried with backoff for up to --retry-for, saying what is retried; the
batches are keyed, so a batch sent twice is recorded once.`,
		Example: `  muster simulate testing --incident inc-0403 --time-scale 420
  muster simulate testing --incident inc-0403 --time-scale 2880 --pace 0.8 --follow
  muster simulate testing --incident city-1 --pace 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simulate(cmd.Context(), o)
		},
	}
	f := testing.Flags()
	f.StringVar(&o.incident, "incident", "", "the incident whose rounds to play")
	f.Float64Var(&o.pace, "pace", 1, "factor on every point's capacity_per_hour (0.8: points work at 80%); 0 for full speed")
	f.Float64Var(&o.timeScale, "time-scale", 1, "the rounds' time scale: scenario hours per real hour")
	f.Float64Var(&o.noShow, "no-show", 0.01, "share of residents who never come")
	f.Float64Var(&o.positives, "positives", 0, "share of samples that are positive")
	f.Float64Var(&o.homeMiss, "home-miss", 0.3, "share of first home visits that miss (the revisit samples them)")
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed plays the same field")
	f.IntVar(&o.batch, "batch", 5000, "rows per uploaded batch of samples, and visits per batch of home visits")
	f.StringVar(&o.cohorts, "cohorts", "student,teacher", "cohorts called first, in order")
	f.DurationVar(&o.tick, "tick", 500*time.Millisecond, "time between uploads")
	f.BoolVar(&o.follow, "follow", false, "wait for the incident's next rounds while its response is open")
	f.DurationVar(&o.retryFor, "retry-for", o.retryFor, "how long to retry while the database is unavailable before giving up")
	testing.MarkFlagRequired("incident")
	cmd.AddCommand(testing)
	return cmd
}

type simRound struct {
	info   store.RoundInfo
	queues []store.PointQueue
	next   []int
	quota  []float64
	sent   int
	total  int
	bar    *progressBar
}

// retry runs fn, retrying database outages for up to retryFor and saying
// so on standard error, where it cannot spoil a JSON output.
func (a *app) retry(ctx context.Context, retryFor time.Duration, what string, fn func(context.Context) error) error {
	b := service.DefaultBackoff
	b.For = retryFor
	return service.RetryStore(ctx, b, what, func(msg string) {
		fmt.Fprintf(a.errOut, "%s  %s\n", time.Now().Format("15:04:05"), msg)
	}, fn)
}

// pointQuota adds what a point of the given capacity samples in elapsed
// real time at pace and time scale to its running quota, and returns how
// many whole residents it may call now and the fraction it keeps.
func pointQuota(quota float64, capacity int, pace, timeScale float64, elapsed time.Duration) (int, float64) {
	quota += float64(capacity) * pace * elapsed.Hours() * timeScale
	n := int(quota)
	return n, quota - float64(n)
}

func (a *app) simulate(ctx context.Context, o simOptions) error {
	err := a.simulateLoop(ctx, o)
	if ctx.Err() != nil {
		// Stopped on purpose: a statement cut short by it is no failure.
		return nil
	}
	return err
}

func (a *app) simulateLoop(ctx context.Context, o simOptions) error {
	if o.pace < 0 || o.timeScale < 1 || o.batch < 1 || o.noShow < 0 || o.noShow > 1 || o.positives < 0 || o.positives > 1 || o.homeMiss < 0 || o.homeMiss >= 1 || o.retryFor < 0 {
		return fmt.Errorf("check the flags: --pace ≥ 0, --time-scale ≥ 1, --batch ≥ 1, --retry-for ≥ 0, shares between 0 and 1 (--home-miss below 1)")
	}
	var st *store.Store
	if err := a.retry(ctx, o.retryFor, "connect to PostgreSQL", func(ctx context.Context) error {
		var err error
		st, err = a.store(ctx)
		return err
	}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(o.seed, 0))
	rounds := map[int64]*simRound{}
	priority := strings.Split(o.cohorts, ",")
	start := time.Now()
	last := time.Now()
	waiting := false
	for {
		var open []store.RoundInfo
		if err := a.retry(ctx, o.retryFor, "list the open rounds of "+o.incident, func(ctx context.Context) error {
			var err error
			open, err = st.OpenRoundsFor(ctx, o.incident)
			return err
		}); err != nil {
			return err
		}
		for _, r := range rounds {
			if r.bar != nil && !slices.ContainsFunc(open, func(i store.RoundInfo) bool { return i.ID == r.info.ID }) {
				// The round has closed: its bar gives way to the messages.
				r.bar.Finish()
				r.bar = nil
			}
		}
		if len(open) == 0 {
			done, why, err := a.simDone(ctx, st, o, len(rounds))
			if err != nil {
				return err
			}
			if done {
				a.say("%s: done after %s.", why, time.Since(start).Round(time.Millisecond))
				return nil
			}
			if !waiting {
				a.say("Waiting for a testing round of %s to open…", o.incident)
				waiting = true
			}
		} else {
			waiting = false
		}
		now := time.Now()
		elapsed := now.Sub(last)
		last = now
		for _, info := range open {
			r, ok := rounds[info.ID]
			if !ok {
				var err error
				if r, err = a.simOpenRound(ctx, st, o, info, priority); err != nil {
					return err
				}
				rounds[info.ID] = r
			}
			if err := a.simSample(ctx, st, o, rng, r, now, elapsed); err != nil {
				return err
			}
			if err := a.simVisits(ctx, st, o, rng, info, now); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.tick):
		}
	}
}

// simOpenRound reads the queues of a round that has just opened and
// starts its progress bar.
func (a *app) simOpenRound(ctx context.Context, st *store.Store, o simOptions, info store.RoundInfo, priority []string) (*simRound, error) {
	var qs []store.PointQueue
	if err := a.retry(ctx, o.retryFor, fmt.Sprintf("read the queues of round %d of %s", info.Round, info.AreaCode), func(ctx context.Context) error {
		var err error
		qs, err = st.RoundQueues(ctx, info.ID, priority)
		return err
	}); err != nil {
		return nil, err
	}
	r := &simRound{info: info, queues: qs, next: make([]int, len(qs)), quota: make([]float64, len(qs))}
	total := 0
	var caps []string
	for _, q := range qs {
		total += len(q.Residents)
		caps = append(caps, fmt.Sprintf("%s %d/h", q.PointCode, q.Capacity))
	}
	a.say("Round %d of %s: %d points (%s), %d residents to sample.", info.Round, info.AreaCode, len(qs), strings.Join(caps, ", "), total)
	r.total = total
	r.bar = a.newBar(int64(total), fmt.Sprintf("round %d of %s: residents called", info.Round, info.AreaCode))
	return r, nil
}

// simSample calls the residents each point can sample in elapsed (all of
// them with --pace 0), draws who does not come and who is positive, and
// uploads the samples in batches.
func (a *app) simSample(ctx context.Context, st *store.Store, o simOptions, rng *rand.Rand, r *simRound, now time.Time, elapsed time.Duration) error {
	info := r.info
	var rows []store.SampleRow
	for i, q := range r.queues {
		n := len(q.Residents) - r.next[i]
		if o.pace > 0 {
			var take int
			take, r.quota[i] = pointQuota(r.quota[i], q.Capacity, o.pace, o.timeScale, elapsed)
			n = min(n, take)
		}
		for _, code := range q.Residents[r.next[i] : r.next[i]+n] {
			if rng.Float64() < o.noShow {
				continue
			}
			result := "negative"
			if rng.Float64() < o.positives {
				result = "positive"
			}
			rows = append(rows, store.SampleRow{Tube: fmt.Sprintf("T%d-%s", info.ID, code), Resident: code, Point: q.PointCode, TakenAt: now, Result: result})
		}
		r.next[i] += n
		r.bar.Add(n)
	}
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), o.batch)]
		rows = rows[len(chunk):]
		var res store.IngestResult
		// The batch's ID is the digest of its rows, so a batch
		// re-sent after a lost reply is recorded once.
		if err := a.retry(ctx, o.retryFor, fmt.Sprintf("upload %d samples for round %d of %s", len(chunk), info.Round, info.AreaCode), func(ctx context.Context) error {
			var err error
			res, err = st.IngestSamples(ctx, store.IngestBatch{Incident: o.incident, Rows: chunk, Max: o.batch})
			return err
		}); err != nil {
			return err
		}
		r.sent += res.Accepted
		for _, e := range res.Rejected {
			r.bar.Clear()
			a.say("rejected %s: %s", e.Tube, e.Reason)
		}
	}
	return nil
}

// simVisits plays the home visits a round waits for: a visit finds the
// resident unless --home-miss says otherwise; a second visit always does.
func (a *app) simVisits(ctx context.Context, st *store.Store, o simOptions, rng *rand.Rand, info store.RoundInfo, now time.Time) error {
	var visits []store.PendingVisit
	if err := a.retry(ctx, o.retryFor, fmt.Sprintf("list the home visits of round %d of %s", info.Round, info.AreaCode), func(ctx context.Context) error {
		var err error
		visits, err = st.PendingVisits(ctx, info.ID)
		return err
	}); err != nil {
		return err
	}
	outcomes := make([]store.VisitOutcome, len(visits))
	for i, v := range visits {
		out := store.VisitOutcome{Resident: v.Resident, Attempt: v.Attempt, Sampled: v.Attempt > 1 || rng.Float64() >= o.homeMiss, At: now}
		if out.Sampled {
			out.Tube = fmt.Sprintf("T%d-%s", info.ID, v.Resident)
		}
		outcomes[i] = out
	}
	// Visits go in batches, as grid workers' phones send them: a batch
	// re-sent after a lost reply changes nothing.
	for len(outcomes) > 0 {
		chunk := outcomes[:min(len(outcomes), o.batch, store.MaxVisitBatch)]
		outcomes = outcomes[len(chunk):]
		if err := a.retry(ctx, o.retryFor, fmt.Sprintf("record %d home visits of round %d", len(chunk), info.Round), func(ctx context.Context) error {
			_, err := st.RecordHomeVisits(ctx, info.ID, chunk)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// simDone says whether a simulation with no open round should end: without
// --follow once it has played a round; with --follow once the incident's
// response has closed (or, for rounds run without a response, once the
// rounds it played have closed).
func (a *app) simDone(ctx context.Context, st *store.Store, o simOptions, played int) (bool, string, error) {
	if !o.follow {
		return played > 0, "No open round left for " + o.incident, nil
	}
	var resp store.Response
	err := a.retry(ctx, o.retryFor, "read the response of "+o.incident, func(ctx context.Context) error {
		var err error
		resp, err = st.ResponseByIncident(ctx, o.incident)
		return err
	})
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return played > 0, "The rounds of " + o.incident + " have closed", nil
	case err != nil:
		return false, "", err
	case resp.State == "closed" || resp.State == "aborted":
		return true, fmt.Sprintf("The response to %s is %s and its rounds have closed", o.incident, resp.State), nil
	}
	return false, "", nil
}
