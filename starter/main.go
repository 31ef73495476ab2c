// Command muster is Muster's command-center CLI: it loads scenarios, starts
// and steers responses, and shows their progress.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/config"
	"github.com/musterhq/muster/internal/input"
	"github.com/musterhq/muster/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		if interrupted {
			fmt.Fprintln(os.Stderr, "muster: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "muster:", err)
		os.Exit(exitCode(err))
	}
}

// app is what every command shares: configuration, output and lazily opened
// connections.
type app struct {
	cfg    config.Config
	out    io.Writer
	errOut io.Writer
	output string
	// district names the district whose codes the command's arguments
	// are, when loaded districts share a code.
	district string
	st       *store.Store
	tc       client.Client
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	a := &app{out: out, errOut: errOut}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "muster",
		Short: "Muster's command-center CLI: trigger, watch and steer emergency responses",
		Long: `muster is Muster's command-center CLI. It loads a district's scenario,
triggers responses with runbooks (seal compounds, test every resident, send
staff and supplies, follow inspection findings), shows their progress, and
steers them: retry, skip or abort a step, decide, escalate, add an area,
lift. Field teams upload samples, acknowledge assignments, confirm
deliveries and report inspections with it too. Supervisors watch the same
executions in the Temporal Web UI.

Configuration comes from the environment: DATABASE_URL for PostgreSQL and the
standard TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS and
profile variables for Temporal; MUSTER_TASK_QUEUE names the workers' queue.
MUSTER_CODEC_KEY_FILE (or MUSTER_CODEC_KEYS) holds the payload codec keys:
give the CLI the same keys as the worker.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.output != "text" && a.output != "json" {
				return fmt.Errorf("--output %q: want text or json", a.output)
			}
			if err := checkInput(cmd, args); err != nil {
				return err
			}
			cfg, err := config.FromEnv()
			if err != nil {
				return err
			}
			a.cfg = cfg
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format of reads: text or json")
	root.PersistentFlags().StringVar(&a.district, "district", "", "the district whose area, site and staff codes the arguments name (needed only when loaded districts share a code)")
	root.AddCommand(
		a.migrateCommand(),
		a.scenarioCommand(),
		a.areasCommand(),
		a.sealCommand(),
		a.statusCommand(),
		a.inspectionCommand(),
		a.liftCommand(),
		a.stepCommand(),
		a.listCommand(),
		a.eventsCommand(),
		a.demoCommand(),
		a.clusterCommand(),
		a.chaosCommand(),
		a.runbookCommand(),
		a.respondCommand(),
		a.watchCommand(),
		a.escalateCommand(),
		a.addAreaCommand(),
		a.serveCommand(),
		a.tokenCommand(),
		a.samplesCommand(),
		a.simulateCommand(),
		a.testingCommand(),
		a.supplyCommand(),
		a.reportCommand(),
		a.noticesCommand(),
	)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())
	})
	return root
}

// textFlags hold free text, kept in the event log or a finding: at most
// input.MaxText bytes.
var textFlags = map[string]bool{"reason": true, "note": true, "finding": true}

// idFlags hold identifiers kept in keys and indexes: at most input.MaxID
// bytes (a longer batch ID once failed in the database's index).
var idFlags = map[string]bool{"batch": true, "incident": true, "compound": true,
	"runbook": true, "step": true, "site": true, "inspector": true, "staff": true, "by": true, "name": true, "role": true}

// maxArg bounds other flags and arguments, which may be file paths.
const maxArg = 4096

// checkInput refuses flags and arguments holding NUL, control characters
// or invalid UTF-8, and free text over its limit, naming the flag: such a
// value would be refused by PostgreSQL or Temporal further on, after part
// of the work was done.
func checkInput(cmd *cobra.Command, args []string) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			switch {
			case textFlags[f.Name]:
				err = input.Text("--"+f.Name, v)
			case idFlags[f.Name]:
				err = input.ID("--"+f.Name, v)
			default:
				err = input.IDUpTo("--"+f.Name, v, maxArg)
			}
			if err != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	for i, v := range args {
		if err := input.IDUpTo(fmt.Sprintf("argument %d", i+1), v, maxArg); err != nil {
			return err
		}
	}
	return nil
}

// store opens PostgreSQL once per command. It never migrates (only
// `muster migrate` does), so a command's login needs no DDL rights; a
// schema behind this build is an error naming `muster migrate`.
func (a *app) store(ctx context.Context) (*store.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	s, err := service.ConnectStore(ctx, a.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.st = s
	return s, nil
}

// client connects to Temporal once per command.
func (a *app) client(ctx context.Context) (client.Client, error) {
	if a.tc != nil {
		return a.tc, nil
	}
	c, err := service.Dial(ctx, a.cfg.Temporal, nil)
	if err != nil {
		return nil, err
	}
	a.tc = c
	return c, nil
}

func (a *app) close() {
	if a.tc != nil {
		a.tc.Close()
	}
	if a.st != nil {
		a.st.Close()
	}
}
