// Process control of the native cluster: killing and restarting its
// processes, PostgreSQL and Muster's database, and telling when it serves.

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/workflows"
)

func (r *chaosRun) processes(prefix string) []devenv.ClusterProcess {
	var ps []devenv.ClusterProcess
	for _, p := range r.st.Processes {
		if strings.HasPrefix(p.Name, prefix) {
			ps = append(ps, p)
		}
	}
	return ps
}

// killAndRestart SIGKILLs a process of the cluster and starts it again as
// `cluster up` did, recording the new process in the state file so
// `cluster down` stops it. It returns the new process's id.
func (r *chaosRun) killAndRestart(p devenv.ClusterProcess) (int, error) {
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	for p.Alive() && !zombieProcess(p.PID) {
		time.Sleep(20 * time.Millisecond)
	}
	var np devenv.ClusterProcess
	var err error
	if svc, ok := strings.CutPrefix(p.Name, "temporal-"); ok {
		np, err = devenv.StartProcess(p.Name, p.Log, nil, r.bins[devenv.TemporalServerBin],
			"--root", filepath.Join(r.st.Dir, "temporal"), "--config", "config", "--env", svc, "--allow-no-auth", "start", "--service", svc)
	} else {
		mport, perr := devenv.FreePort()
		if perr != nil {
			return 0, perr
		}
		np, err = devenv.StartProcess(p.Name, p.Log, []string{
			config.EnvDatabaseURL + "=" + r.st.DatabaseURL,
			"TEMPORAL_ADDRESS=" + r.st.FrontendAddr,
			"TEMPORAL_NAMESPACE=" + r.st.Namespace,
			config.EnvTaskQueue + "=" + r.st.TaskQueue,
			config.EnvMetricsAddr + fmt.Sprintf("=127.0.0.1:%d", mport),
		}, r.bins[devenv.MusterWorkerBin])
	}
	if err != nil {
		return 0, err
	}
	for i := range r.st.Processes {
		if r.st.Processes[i].PID == p.PID {
			r.st.Processes[i] = np
		}
	}
	return np.PID, devenv.SaveClusterState(r.st)
}

func zombieProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// stopPostgres stops the private PostgreSQL with a fast shutdown: every
// connection is cut.
func (r *chaosRun) stopPostgres(ctx context.Context) error {
	return devenv.StopPostgresDir(ctx, r.st.PostgresDir)
}

// startPostgres starts the private PostgreSQL again on its port.
func (r *chaosRun) startPostgres(ctx context.Context) error {
	u, err := url.Parse(r.st.DatabaseURL)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("port of the cluster's database: %w", err)
	}
	_, err = devenv.StartPostgres(ctx, r.st.PostgresDir, port, nil)
	return err
}

// musterDatabase allows or refuses connections to Muster's database,
// cutting those open when it refuses, as the private PostgreSQL's
// superuser.
func (r *chaosRun) musterDatabase(ctx context.Context, allow bool) error {
	u, err := url.Parse(r.st.DatabaseURL)
	if err != nil {
		return err
	}
	admin := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", u.Host)
	_, err = retrying(ctx, func() (struct{}, error) {
		return struct{}{}, devenv.AllowConnections(ctx, admin, config.DatabaseName, allow)
	})
	return err
}

// logTail is the last lines of the log of the cluster's process pid.
func (r *chaosRun) logTail(pid int) string {
	for _, p := range r.st.Processes {
		if p.PID == pid {
			b, err := os.ReadFile(p.Log)
			if err != nil {
				return err.Error()
			}
			return tailLines(string(b), 3)
		}
	}
	return "no log"
}

// polls reports whether the worker with the process id pid polls the task
// queue (the SDK's default identity begins with the process id).
func (r *chaosRun) polls(ctx context.Context, pid int) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := r.c.WorkflowService().DescribeTaskQueue(qctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: r.st.Namespace, TaskQueue: &taskqueue.TaskQueue{Name: r.st.TaskQueue},
	})
	if err != nil {
		return err
	}
	for _, p := range resp.GetPollers() {
		if strings.HasPrefix(p.GetIdentity(), fmt.Sprintf("%d@", pid)) {
			return nil
		}
	}
	return fmt.Errorf("worker pid %d does not poll yet", pid)
}

// serving waits until the cluster serves again: Muster's database answers,
// a query of the response answers (frontend, history, matching and a
// worker), and a restarted worker (pid, when not 0) polls. It returns the
// time since began.
func (r *chaosRun) serving(ctx context.Context, began time.Time, pid int) (time.Duration, error) {
	_, err := retrying(ctx, func() (struct{}, error) {
		if err := r.ms.Ping(ctx); err != nil {
			return struct{}{}, err
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := r.c.QueryWorkflow(qctx, r.responseID, "", workflows.QueryProgress); err != nil {
			return struct{}{}, err
		}
		if pid != 0 {
			return struct{}{}, r.polls(ctx, pid)
		}
		return struct{}{}, nil
	})
	return time.Since(began), err
}

// tailLines is the last n lines of s, on one line.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
