package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/internal/store"
)

type simOptions struct {
	incident  string
	rate      float64
	timeScale float64
	noShow    float64
	positives float64
	homeMiss  float64
	seed      uint64
	batch     int
	cohorts   string
	tick      time.Duration
	// follow keeps waiting for new rounds instead of ending when none is open.
	follow bool
}

func (a *app) simulateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Play the field: sampling stations and grid workers reporting into open testing rounds",
	}
	var o simOptions
	testing := &cobra.Command{
		Use:   "testing --incident ID",
		Short: "Upload samples at the rate of real sampling points until the incident's rounds close",
		Long: `simulate testing plays the sampling stations of every open testing round of an
incident: each point samples its queue (cohorts in priority order) at --rate
residents per point-hour of scenario time, uploading batches through the same
ingestion path as real stations; grid workers report home visits, some of
which miss and are visited again. A share of residents never comes
(--no-show), so the round ends with a missing list. --rate 0 uploads as fast
as the database takes it. It runs until the incident has no open round left.`,
		Example: `  starter simulate testing --incident xd-0403 --time-scale 420
  starter simulate testing --incident city-1 --rate 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simulate(cmd.Context(), o)
		},
	}
	f := testing.Flags()
	f.StringVar(&o.incident, "incident", "", "the incident whose rounds to play")
	f.Float64Var(&o.rate, "rate", 250, "residents sampled per point and scenario hour (the seed: about 250); 0 for full speed")
	f.Float64Var(&o.timeScale, "time-scale", 1, "the rounds' time scale: scenario hours per real hour")
	f.Float64Var(&o.noShow, "no-show", 0.01, "share of residents who never come")
	f.Float64Var(&o.positives, "positives", 0, "share of samples that are positive")
	f.Float64Var(&o.homeMiss, "home-miss", 0.3, "share of first home visits that miss (the revisit samples them)")
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed plays the same field")
	f.IntVar(&o.batch, "batch", 5000, "rows per uploaded batch")
	f.StringVar(&o.cohorts, "cohorts", "student,teacher", "cohorts called first, in order")
	f.DurationVar(&o.tick, "tick", 500*time.Millisecond, "time between uploads")
	f.BoolVar(&o.follow, "follow", false, "keep waiting for the incident's next rounds instead of ending when none is open")
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
}

func (a *app) simulate(ctx context.Context, o simOptions) error {
	if o.rate < 0 || o.timeScale < 1 || o.batch < 1 || o.noShow < 0 || o.noShow > 1 || o.positives < 0 || o.positives > 1 || o.homeMiss < 0 || o.homeMiss >= 1 {
		return fmt.Errorf("check the flags: --rate ≥ 0, --time-scale ≥ 1, --batch ≥ 1, shares between 0 and 1 (--home-miss below 1)")
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(o.seed, 0))
	rounds := map[int64]*simRound{}
	priority := strings.Split(o.cohorts, ",")
	start := time.Now()
	last := time.Now()
	for {
		open, err := st.OpenRoundsFor(ctx, o.incident)
		if err != nil {
			return err
		}
		if len(open) == 0 && !o.follow {
			if len(rounds) > 0 {
				a.say("No open round left for %s: done after %s.", o.incident, time.Since(start).Round(time.Millisecond))
				return nil
			}
			a.say("Waiting for a testing round of %s to open…", o.incident)
		}
		now := time.Now()
		elapsed := now.Sub(last)
		last = now
		for _, info := range open {
			r, ok := rounds[info.ID]
			if !ok {
				qs, err := st.RoundQueues(ctx, info.ID, priority)
				if err != nil {
					return err
				}
				r = &simRound{info: info, queues: qs, next: make([]int, len(qs)), quota: make([]float64, len(qs))}
				rounds[info.ID] = r
				total := 0
				for _, q := range qs {
					total += len(q.Residents)
				}
				a.say("Round %d of %s: %d points, %d residents to sample.", info.Round, info.AreaCode, len(qs), total)
			}
			var rows []store.SampleRow
			for i, q := range r.queues {
				n := len(q.Residents) - r.next[i]
				if o.rate > 0 {
					r.quota[i] += o.rate * elapsed.Hours() * o.timeScale
					n = min(n, int(r.quota[i]))
					r.quota[i] -= float64(n)
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
			}
			for len(rows) > 0 {
				chunk := rows[:min(len(rows), o.batch)]
				rows = rows[len(chunk):]
				res, err := st.IngestSamples(ctx, store.IngestBatch{Incident: o.incident, Rows: chunk, Max: o.batch})
				if err != nil {
					return err
				}
				r.sent += res.Accepted
				for _, e := range res.Rejected {
					a.say("rejected %s: %s", e.Tube, e.Reason)
				}
			}
			visits, err := st.PendingVisits(ctx, info.ID)
			if err != nil {
				return err
			}
			for _, v := range visits {
				sampled := v.Attempt > 1 || rng.Float64() >= o.homeMiss
				tube := ""
				if sampled {
					tube = fmt.Sprintf("T%d-%s", info.ID, v.Resident)
				}
				if err := st.RecordHomeVisit(ctx, info.ID, v.Resident, v.Attempt, sampled, tube, now); err != nil {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.tick):
		}
	}
}
