package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// TemporalCLIModule is the pinned temporal CLI (server 1.29.1, UI 2.42.1).
const TemporalCLIModule = "github.com/temporalio/cli/cmd/temporal@v1.5.1"

// EnvTemporalBin names an explicit path to the temporal CLI.
const EnvTemporalBin = "MUSTER_TEMPORAL_BIN"

// FastDevServerArgs tune the dev server for a small machine: one task-queue
// partition and eager activity execution made 100 parallel activities about
// eight times faster in measurements on two cores.
var FastDevServerArgs = []string{
	"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
	"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
}

// TemporalBinary finds the temporal CLI: $MUSTER_TEMPORAL_BIN, then ./bin,
// then PATH, then the Go bin folder where `go install` puts it.
func TemporalBinary() (string, error) {
	if p := os.Getenv(EnvTemporalBin); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvTemporalBin, p, err)
		}
		return p, nil
	}
	candidates := []string{filepath.Join("bin", "temporal")}
	if p, err := exec.LookPath("temporal"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			candidates = append(candidates, filepath.Join(strings.TrimSpace(lines[0]), "temporal"))
		}
		if len(lines) > 1 {
			for _, gp := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				candidates = append(candidates, filepath.Join(gp, "bin", "temporal"))
			}
		}
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("the temporal CLI was not found: run `make tools` (it runs `go install " + TemporalCLIModule + "`) or set " + EnvTemporalBin)
}

// TemporalOptions says how to start a dev server.
type TemporalOptions struct {
	// Bin is the temporal CLI; empty means TemporalBinary().
	Bin string
	// HostPort to bind; empty picks a free port on 127.0.0.1.
	HostPort  string
	Namespace string
	// UIPort enables the Web UI on that port when set.
	UIPort int
	// UICodecEndpoint is the codec server the Web UI decodes payloads
	// with (the CLI's --ui-codec-endpoint); empty means none.
	UICodecEndpoint string
	// DBFile keeps the server's state in a SQLite file; empty keeps it in memory.
	DBFile           string
	SearchAttributes map[string]enums.IndexedValueType
	Output           io.Writer
}

// StartTemporal starts a dev server with FastDevServerArgs and Muster's
// search attributes, and waits until it answers.
func StartTemporal(ctx context.Context, o TemporalOptions) (*testsuite.DevServer, error) {
	bin := o.Bin
	if bin == "" {
		var err error
		if bin, err = TemporalBinary(); err != nil {
			return nil, err
		}
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	var sas []temporal.SearchAttributeUpdate
	for name, t := range o.SearchAttributes {
		sas = append(sas, searchAttributeKey(name, t))
	}
	opts := testsuite.DevServerOptions{
		ExistingPath:     bin,
		ClientOptions:    &client.Options{HostPort: o.HostPort, Namespace: o.Namespace, Logger: quietLogger{}},
		DBFilename:       o.DBFile,
		LogLevel:         "error",
		SearchAttributes: temporal.NewSearchAttributes(sas...),
		ExtraArgs:        append([]string(nil), FastDevServerArgs...),
		Stdout:           o.Output,
		Stderr:           o.Output,
	}
	if o.UIPort > 0 {
		opts.EnableUI = true
		opts.UIPort = fmt.Sprint(o.UIPort)
		if o.UICodecEndpoint != "" {
			opts.ExtraArgs = append(opts.ExtraArgs, "--ui-codec-endpoint", o.UICodecEndpoint)
		}
	}
	srv, err := testsuite.StartDevServer(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start Temporal dev server (%s): %w", bin, err)
	}
	return srv, nil
}

// searchAttributeKey builds a placeholder value of the attribute's type; the
// dev server only reads names and types from it.
func searchAttributeKey(name string, t enums.IndexedValueType) temporal.SearchAttributeUpdate {
	switch t {
	case enums.INDEXED_VALUE_TYPE_KEYWORD_LIST:
		return temporal.NewSearchAttributeKeyKeywordList(name).ValueSet(nil)
	case enums.INDEXED_VALUE_TYPE_INT:
		return temporal.NewSearchAttributeKeyInt64(name).ValueSet(0)
	case enums.INDEXED_VALUE_TYPE_TEXT:
		return temporal.NewSearchAttributeKeyString(name).ValueSet("")
	case enums.INDEXED_VALUE_TYPE_BOOL:
		return temporal.NewSearchAttributeKeyBool(name).ValueSet(false)
	case enums.INDEXED_VALUE_TYPE_DOUBLE:
		return temporal.NewSearchAttributeKeyFloat64(name).ValueSet(0)
	default:
		return temporal.NewSearchAttributeKeyKeyword(name).ValueSet("")
	}
}

// quietLogger drops the dev server launcher's own log lines.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
