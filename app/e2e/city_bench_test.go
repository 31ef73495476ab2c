package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/store"
)

// Taiyuan's round: the city's 5.4 million residents in about 2,000
// communities, on the production topology.
const (
	cityResidents   = 5_400_000
	cityCommunities = 2000
	// A scenario holds at most scenario.MaxResidents, so the city is two
	// districts of 2,700,000 residents and 1,000 communities, each with a
	// response of its own, started together.
	cityDistricts  = 2
	cityTargetWall = 2 * time.Minute
	// EnvBinDir names the folder with bin/muster and the cluster's
	// binaries (default: the module's bin/).
	envBinDir = "MUSTER_BIN_DIR"
)

// BenchmarkTaiyuanRound runs one testing round over 5,400,000 generated
// residents in 2,000 communities (two districts) end to end on the native cluster
// (`muster cluster up`: Temporal's four services on a private PostgreSQL,
// two muster-worker processes), with the field at full speed from this
// process. It prints the figures of BenchmarkMillionResidentRound: the
// wall time, residents a second as a share of psql \copy measured in the
// same run, the largest history and payload. It takes several minutes and
// both cores, so only its name runs it: `make bench-city` or
//
//	go test -run '^$' -bench TaiyuanRound -benchtime 1x -timeout 60m ./app/e2e/
func BenchmarkTaiyuanRound(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark on the cluster: needs its binaries and PostgreSQL")
	}
	for range b.N {
		taiyuanRound(b)
	}
}

func taiyuanRound(b *testing.B) {
	ctx := context.Background()
	fmt.Printf("Taiyuan's round on the cluster, end to end — %s\n\n", machine())
	st := clusterUp(ctx, b)
	// The owner's login: the benchmark loads the city and creates the
	// table psql \copy fills.
	url := st.MigrateDatabaseURL
	if url == "" {
		url = st.DatabaseURL
	}
	s, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	districts := loadCity(ctx, b, s, cityResidents, cityCommunities, cityDistricts)
	c, err := client.Dial(client.Options{HostPort: st.FrontendAddr, Namespace: st.Namespace})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	measureRound(ctx, b, roundSetup{st: s, url: url, c: c, taskQueue: st.TaskQueue, districts: districts, communities: cityCommunities, target: cityTargetWall})
}

// clusterUp starts the cluster with `muster cluster up` on free ports and
// a task queue of the benchmark's own, and stops it when the benchmark
// ends. The binaries come from MUSTER_BIN_DIR or the module's bin/.
func clusterUp(ctx context.Context, b *testing.B) devenv.ClusterState {
	bin := os.Getenv(envBinDir)
	if bin == "" {
		bin = "../../bin"
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"muster", devenv.TemporalServerBin, devenv.TemporalSQLToolBin, devenv.TemporalUIBin, devenv.MusterWorkerBin} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			b.Skipf("needs %s/%s: run `make build` and the cluster's binaries (`make cluster` builds them) first", bin, name)
		}
	}
	frontend := 0
	for range 50 {
		p := 20000 + rand.IntN(10000)
		if _, err := devenv.ServerPortsFrom(p); err == nil {
			frontend = p
			break
		}
	}
	uiPort, err := devenv.FreePort()
	if err != nil || frontend == 0 {
		b.Fatalf("no free ports: %v", err)
	}
	dir := b.TempDir()
	muster := func(args ...string) {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "muster"), args...)
		cmd.Env = append(os.Environ(), config.EnvDatabaseURL+"=", config.EnvTaskQueue+"="+pgtest.Name("city"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("muster %v = %v\n%s", args, err, out)
		}
	}
	start := time.Now()
	b.Cleanup(func() { muster("cluster", "down", "--data-dir", dir) })
	muster("cluster", "up", "--data-dir", dir, "--bin", bin, "--temporal-port", strconv.Itoa(frontend), "--ui-port", strconv.Itoa(uiPort))
	st, err := devenv.LoadClusterState(dir)
	if err != nil {
		b.Fatal(err)
	}
	workers := 0
	for _, p := range st.Processes {
		if p.Alive() && strings.HasPrefix(p.Name, devenv.MusterWorkerBin) {
			workers++
		}
	}
	fmt.Printf("Cluster up in %.1f s: %d processes, %d Muster workers, frontend %s\n", time.Since(start).Seconds(), len(st.Processes), workers, st.FrontendAddr)
	return st
}
