package e2e

// The million-resident round at another shape, to measure what a round
// costs per community: MUSTER_BENCH_ROUND=COMMUNITIESxRESIDENTS (e.g.
// 2000x50: 2,000 communities of 50 residents) runs
// BenchmarkMillionResidentRound's code path over that many communities on
// the dev server, and prints the CPU the worker's process, the dev server
// and the database's backends used during the round, in all and per
// community. MUSTER_BENCH_PROFILE=FILE writes a CPU profile of the
// benchmark's process (the worker and the field) over the round alone.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/store"
)

// Environment variables of the round's variants.
const (
	envBenchRound   = "MUSTER_BENCH_ROUND"
	envBenchProfile = "MUSTER_BENCH_PROFILE"
)

// roundShape is how many communities a measured round covers and how many
// residents live in each.
type roundShape struct {
	communities, perCommunity int
}

// benchRoundShape reads MUSTER_BENCH_ROUND (COMMUNITIESxRESIDENTS); ok is
// false when it is unset.
func benchRoundShape(b *testing.B) (roundShape, bool) {
	v := os.Getenv(envBenchRound)
	if v == "" {
		return roundShape{}, false
	}
	c, r, found := strings.Cut(strings.ToLower(v), "x")
	nc, err1 := strconv.Atoi(c)
	nr, err2 := strconv.Atoi(r)
	if !found || err1 != nil || err2 != nil || nc < 1 || nr < 1 {
		b.Fatalf("%s=%q: want COMMUNITIESxRESIDENTS, e.g. 2000x50", envBenchRound, v)
	}
	return roundShape{communities: nc, perCommunity: nr}, true
}

// cpuTimes is CPU time used so far by the benchmark's process, by its
// child processes (the dev server) and by the database's backends, each
// backend by its process ID (backends come and go with the pool).
type cpuTimes struct {
	self, children time.Duration
	backends       map[int]time.Duration
}

// backendsSince is the CPU the backends used since start: all of a backend
// that started since, none of one that has ended.
func (t cpuTimes) backendsSince(start cpuTimes) time.Duration {
	var d time.Duration
	for pid, cpu := range t.backends {
		d += cpu - start.backends[pid]
	}
	return d
}

// cpuMeter measures the CPU used between start and stop, and profiles the
// benchmark's process in between when MUSTER_BENCH_PROFILE is set.
type cpuMeter struct {
	st      *store.Store
	start   cpuTimes
	prof    *os.File
	started time.Time
}

func startCPU(ctx context.Context, b *testing.B, st *store.Store) *cpuMeter {
	m := &cpuMeter{st: st, started: time.Now()}
	if path := os.Getenv(envBenchProfile); path != "" {
		f, err := os.Create(filepath.Clean(path))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		m.prof = f
	}
	m.start = m.read(ctx)
	return m
}

// stop ends the measurement and prints the CPU used, in all and per
// community.
func (m *cpuMeter) stop(ctx context.Context, communities int) {
	end := m.read(ctx)
	wall := time.Since(m.started)
	if m.prof != nil {
		pprof.StopCPUProfile()
		m.prof.Close()
	}
	per := func(d time.Duration) string {
		return fmt.Sprintf("%7.2f s  %6.1f%% of a core  %6.2f ms a community", d.Seconds(), 100*d.Seconds()/wall.Seconds(), float64(d.Microseconds())/1000/float64(communities))
	}
	benchRow("CPU during the round: this process (worker, field)", "%s", per(end.self-m.start.self))
	benchRow("CPU during the round: the dev server", "%s", per(end.children-m.start.children))
	benchRow("CPU during the round: PostgreSQL backends", "%s", per(end.backendsSince(m.start)))
}

// read takes the CPU times now. The dev server is a child of this process;
// its time is read from /proc, as are the backends' (those connected to
// the benchmark's database at the moment).
func (m *cpuMeter) read(ctx context.Context) cpuTimes {
	t := cpuTimes{backends: map[int]time.Duration{}}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, ok := procCPU(pid); ok && ppid == self {
			t.children += cpu
		}
	}
	var pids []int
	_ = m.st.DB().SelectContext(ctx, &pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	for _, pid := range pids {
		if _, cpu, ok := procCPU(pid); ok {
			t.backends[pid] = cpu
		}
	}
	return t
}

// procCPU reads a process's parent and its CPU time (user and system,
// its own and its waited-for children's) from /proc/PID/stat.
func procCPU(pid int) (ppid int, cpu time.Duration, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces; the fields follow its ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	for _, s := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	// USER_HZ is 100 on Linux.
	return ppid, time.Duration(ticks) * 10 * time.Millisecond, true
}
