// The chaos command: the fault battery's options, its state and its course.
// chaos_plan.go places the faults, chaos_faults.go causes them,
// chaos_field.go plays the load they hit, chaos_process.go kills and
// restarts the cluster's processes, chaos_invariants.go checks what must
// hold, and chaos_table.go prints the result.

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

// chaosRunbook tests every community of the generated city at once. One
// resident in a hundred never comes, so every round closes at its deadline
// (--deadline scenario hours, a second each at chaosTimeScale) with its
// missing list.
const chaosRunbook = `name: chaos-round
title: A testing round over the city, under faults
level: 1
area: district
steps:
  - id: test
    for_each:
      areas: {level: community}
      steps:
        - id: round
          kind: mass-testing
          params: {deadline: %dh, check_every: 1h, revisit_after: 1h, cohorts: "student,teacher"}
`

// chaosTimeScale makes a scenario hour a real second.
const chaosTimeScale = 3600

// chaosBatch is the rows a station sends in one upload.
const chaosBatch = 5000

type chaosOptions struct {
	cluster       clusterOptions
	residents     int
	communities   int
	seed          int64
	workerKills   int
	pgRestarts    int
	historyKills  int
	frontendKills int
	sameBatch     int
	uploaderKills int
	dbDownStarts  int
	deadline      int
	timeout       time.Duration
	keep          bool
}

func (a *app) chaosCommand() *cobra.Command {
	o := chaosOptions{}
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run a testing round over a generated city on the native cluster while killing its parts, and check nothing was lost or doubled",
		Long: `chaos brings the native cluster up (as ` + "`muster cluster up`" + ` does, with a
private PostgreSQL it may restart), loads a generated city, and runs a
testing round over every community twice: once clean, to measure its wall
time, and once under faults. One resident in a hundred never comes, so the
rounds close at their deadline with a missing list.

The faults, at moments drawn from --seed (printed): SIGKILL of a Muster
worker (restarted at once; one as the rounds close), PostgreSQL restarts
(one across the rounds' deadline), SIGKILL of Temporal's history and
frontend services (restarted), an upload (muster samples upload) killed
mid-statement and sent again, the same batch sent by three stations at
once, and a worker started while Muster's database refuses connections.
Recovery is the time until a query of the response answers again (and a
restarted worker polls).

After every fault and at the end it checks invariants with SQL: no resident
sampled twice in a round, none both sampled and missing, checkpoints and
notices once, no step event twice, no overlapping bookings; at the end also
the workflow's figures against the database's and every workflow completed.
It prints a table of faults and invariants and exits non-zero on any
violation or fault the cluster did not recover from. The cluster is
stopped at the end unless --keep.`,
		Example: `  muster chaos                                   # 100,000 residents, the full battery
  muster chaos --seed 7                          # the same moments again
  muster chaos --residents 4000 --communities 4 --deadline 30 --worker-kills 2 --pg-restarts 1 \
    --history-kills 1 --frontend-kills 1 --same-batch 1 --uploader-kills 1 --db-down-starts 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.chaos(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cluster.dataDir, "data-dir", ".muster/chaos", "folder for the cluster's logs, state and private PostgreSQL")
	f.StringVar(&o.cluster.binDir, "bin", "bin", "folder holding temporal-server, temporal-sql-tool, temporal-ui-server and muster-worker")
	f.IntVar(&o.cluster.temporalPort, "temporal-port", 17233, "port of Temporal's frontend")
	f.IntVar(&o.cluster.uiPort, "ui-port", 18233, "port of the Temporal Web UI")
	f.IntVar(&o.residents, "residents", 100_000, "residents of the generated city")
	f.IntVar(&o.communities, "communities", 20, "communities of the generated city (one testing round each)")
	f.Int64Var(&o.seed, "seed", 0, "seed of the city and of the faults' moments (0 picks one, printed)")
	f.IntVar(&o.workerKills, "worker-kills", 10, "SIGKILLs of a Muster worker")
	f.IntVar(&o.pgRestarts, "pg-restarts", 3, "PostgreSQL restarts")
	f.IntVar(&o.historyKills, "history-kills", 2, "SIGKILLs of Temporal's history service")
	f.IntVar(&o.frontendKills, "frontend-kills", 2, "SIGKILLs of Temporal's frontend service")
	f.IntVar(&o.sameBatch, "same-batch", 2, "batches sent by three stations at once")
	f.IntVar(&o.uploaderKills, "uploader-kills", 2, "uploads (muster samples upload) killed mid-statement and sent again")
	f.IntVar(&o.dbDownStarts, "db-down-starts", 1, "workers killed and started again while PostgreSQL is down")
	f.IntVar(&o.deadline, "deadline", 60, "the rounds' deadline in scenario hours (a second each); one PostgreSQL restart spans it")
	f.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	f.BoolVar(&o.keep, "keep", false, "leave the cluster running at the end (stop it with `muster cluster down --data-dir ...`)")
	return cmd
}

// chaosFault is one kind of fault: how many times it happened and how long
// the cluster took to serve again each time.
type chaosFault struct {
	name     string
	count    int
	recovery []time.Duration
	failed   []string
}

// chaosInvariant is one invariant and the violations found.
type chaosInvariant struct {
	name       string
	checks     int
	violations []string
}

// chaosRun is the harness's state while it runs.
type chaosRun struct {
	a     *app
	st    devenv.ClusterState
	ms    *store.Store
	c     client.Client
	bins  map[string]string
	rng   *rand.Rand
	mu    sync.Mutex
	inv   map[string]*chaosInvariant
	order []string

	// deadline is the rounds' deadline in wall time after the response
	// starts.
	deadline   time.Duration
	incident   string
	responseID string
	lastBatch  atomic.Pointer[[]store.SampleRow]
	lateMu     sync.Mutex
	late       map[int64][]store.SampleRow
	refused    atomic.Int64
	// faultMu lets one fault happen at a time; faults holds their counts
	// and recovery times; watched are the incidents checked after each.
	faultMu sync.Mutex
	faults  map[string]*chaosFault
	watched []string
	// acrossAt is when the restart across the deadline begins; acrossDone
	// is closed once it is done.
	acrossAt   time.Time
	acrossDone chan struct{}
	// lifted are the incidents the harness lifted.
	lifted map[string]bool
}

// chaos runs the battery: the cluster, the generated city, a clean run, the
// run under faults beside a second response, and the closing table.
func (a *app) chaos(ctx context.Context, o chaosOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fmt.Fprintf(a.out, "Fault battery: seed %d, %d residents in %d communities.\n", o.seed, o.residents, o.communities)

	// The cluster always gets a private PostgreSQL: the harness restarts it.
	os.Setenv(config.EnvDatabaseURL, "")
	o.cluster.workers = devenv.ClusterWorkers
	o.cluster.retention = 24 * time.Hour
	started := time.Now()
	st, err := a.clusterUp(ctx, o.cluster)
	if err != nil {
		return err
	}
	if !o.keep {
		defer func() {
			// The state file holds the processes the harness restarted too.
			a.clusterDown(context.WithoutCancel(ctx), st.Dir)
		}()
	}
	fmt.Fprintf(a.out, "Cluster up in %s.\n", time.Since(started).Round(time.Second))
	r, err := a.newChaosRun(ctx, st, o)
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.loadCity(ctx, o); err != nil {
		return err
	}

	// The clean run.
	r.deadline = time.Duration(o.deadline) * time.Hour / chaosTimeScale
	// Incidents are named after the seed and the run's start, so a seed
	// replayed on the same cluster data starts new responses.
	run := fmt.Sprintf("%d-%s", o.seed, started.UTC().Format("150405"))
	clean := "chaos-clean-" + run
	cleanWall, err := r.response(ctx, clean, o.communities, nil)
	if err != nil {
		return fmt.Errorf("clean run: %w", err)
	}
	r.check(ctx, clean, true)
	fmt.Fprintf(a.out, "Clean run: %s.\n", cleanWall.Round(time.Millisecond))

	// The run under faults.
	plan := r.planFaults(o)
	plan.print(a.out, r.deadline)
	faulty := "chaos-" + run
	steer := "chaos-steer-" + run
	r.watched = []string{faulty, steer}
	faultyWall, err := r.response(ctx, faulty, o.communities, func(ctx context.Context, start time.Time) {
		r.inject(ctx, start, plan, steer)
	})
	if err != nil {
		return fmt.Errorf("run under faults: %w", err)
	}
	r.check(ctx, faulty, true)
	r.check(ctx, steer, true)
	r.printLifted(ctx, steer)
	fmt.Fprintf(a.out, "Run under faults: %s.\n\n", faultyWall.Round(time.Millisecond))

	if bad := r.printTable(cleanWall, faultyWall); bad > 0 {
		return fmt.Errorf("fault battery (seed %d): %d violations or failed faults", o.seed, bad)
	}
	fmt.Fprintf(a.out, "\nNo violation (seed %d).\n", o.seed)
	return nil
}

// check refuses options the battery cannot run with.
func (o chaosOptions) check() error {
	if o.residents < o.communities || o.communities < 1 {
		return fmt.Errorf("--residents %d, --communities %d: want at least one community and one resident a community", o.residents, o.communities)
	}
	for name, n := range map[string]int{"--worker-kills": o.workerKills, "--pg-restarts": o.pgRestarts, "--history-kills": o.historyKills, "--frontend-kills": o.frontendKills, "--same-batch": o.sameBatch,
		"--uploader-kills": o.uploaderKills, "--db-down-starts": o.dbDownStarts} {
		if n < 0 {
			return fmt.Errorf("%s %d: want 0 or more", name, n)
		}
	}
	if o.deadline < 10 {
		return fmt.Errorf("--deadline %d: want at least 10 scenario hours (10 s), time for the faults", o.deadline)
	}
	return nil
}

// newChaosRun connects the harness to the cluster st: the binaries it
// restarts, Muster's database and Temporal's frontend.
func (a *app) newChaosRun(ctx context.Context, st devenv.ClusterState, o chaosOptions) (*chaosRun, error) {
	r := &chaosRun{a: a, st: st, faults: map[string]*chaosFault{}, lifted: map[string]bool{}, rng: rand.New(rand.NewPCG(uint64(o.seed), 0x6368616f73)), inv: map[string]*chaosInvariant{}}
	r.bins = map[string]string{}
	for _, b := range []string{devenv.TemporalServerBin, devenv.MusterWorkerBin, "muster"} {
		p, err := filepath.Abs(filepath.Join(o.cluster.binDir, b))
		if err != nil {
			return nil, err
		}
		r.bins[b] = p
	}
	var err error
	if r.ms, err = service.OpenStore(ctx, st.DatabaseURL, nil); err != nil {
		return nil, err
	}
	if r.c, err = client.Dial(client.Options{HostPort: st.FrontendAddr, Namespace: st.Namespace, Logger: quiet{}}); err != nil {
		r.ms.Close()
		return nil, err
	}
	return r, nil
}

func (r *chaosRun) close() {
	r.c.Close()
	r.ms.Close()
}

// loadCity generates the city, loads it with its residents and publishes
// the battery's two runbooks.
func (r *chaosRun) loadCity(ctx context.Context, o chaosOptions) error {
	began := time.Now()
	city, err := scenario.GenerateCity(o.residents, o.communities, o.seed)
	if err != nil {
		return err
	}
	rows := city.Rows()
	registry := rows.Registry
	rows.Registry = nil
	if _, err := r.ms.LoadScenario(ctx, rows); err != nil {
		return err
	}
	if _, err := r.ms.LoadResidents(ctx, rows.Scenario, registry); err != nil {
		return err
	}
	if _, _, err := r.ms.PublishRunbook(ctx, "chaos-steer", "Seal a community and staff it, then lift it", []byte(chaosSteerRunbook), "chaos"); err != nil {
		return err
	}
	if _, _, err := r.ms.PublishRunbook(ctx, "chaos-round", "A testing round over the city, under faults", []byte(fmt.Sprintf(chaosRunbook, o.deadline)), "chaos"); err != nil {
		return err
	}
	fmt.Fprintf(r.a.out, "City generated and loaded in %s.\n", time.Since(began).Round(time.Second))
	return nil
}

// chaosSteerRunbook seals every compound of a community, then staffs its
// sampling points; the harness lifts it while the staffing runs.
const chaosSteerRunbook = `name: chaos-steer
title: Seal a community and staff it, then lift it
level: 1
area: community
steps:
  - id: seal
    for_each:
      areas: {level: compound, under: response}
      steps:
        - id: seal-compound
          kind: seal
  - id: supply
    kind: staff-supply
    params: {duration: 24h, shift: 12h, check_every: 1h, per_sampling_point: 1, ack_within: 1h}
`
