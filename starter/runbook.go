package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/workflows"
)

func (a *app) runbookCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbook",
		Short: "Validate, publish and read runbook definitions (which steps a response runs)",
		Long: `A runbook is a YAML definition of the steps a response runs: in what order,
over which areas, with what parameters, deadlines and escalation. The format is
documented in docs/runbooks.md; ` + "`muster runbook kinds`" + ` lists the step kinds.

Publishing stores a new version only when the text changed; a running response
keeps the version it started with.`,
	}
	cmd.AddCommand(a.runbookValidateCommand(), a.runbookPublishCommand(), a.runbookListCommand(),
		a.runbookShowCommand(), a.runbookKindsCommand())
	return cmd
}

// readRunbook reads and validates a runbook file.
func readRunbook(path string) (*runbook.Definition, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read runbook: %w", err)
	}
	d, err := runbook.Parse(path, data, workflows.Kinds)
	return d, data, err
}

// invalid says how many problems a definition has, and what was not done.
func invalid(err error, consequence string) error {
	var errs runbook.Errors
	if errors.As(err, &errs) && len(errs) > 1 {
		return fmt.Errorf("%d problems; %s:\n%w", len(errs), consequence, err)
	}
	if errors.As(err, &errs) {
		return fmt.Errorf("%w\n(%s)", err, consequence)
	}
	return err
}

// summary describes a valid definition in one line.
func summary(d *runbook.Definition) string {
	steps := 0
	d.Walk(func(string, *runbook.Step) { steps++ })
	area := ""
	if d.Area != "" {
		area = " for a " + d.Area
	}
	return fmt.Sprintf("%s (%q, level %d%s): %d steps, kinds %s", d.Name, d.Title, d.Level, area, steps, strings.Join(d.Kinds(), ", "))
}

func (a *app) runbookValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a runbook file against the format and the registered step kinds",
		Long: `Check a runbook file without touching the database. Every problem is reported
with the file, the line and the path in the YAML structure, e.g.
  rb.yaml:14: steps[2].for_each.areas.level: unknown level "compund"
With --output json a valid definition is printed with its params completed.`,
		Example: `  muster runbook validate community-outbreak-level-1.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, _, err := readRunbook(args[0])
			if err != nil {
				return invalid(err, args[0]+" is not valid")
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(d)
			}
			fmt.Fprintf(a.out, "%s: OK — %s\n", args[0], summary(d))
			return nil
		},
	}
}

func (a *app) runbookPublishCommand() *cobra.Command {
	var by string
	var builtins bool
	cmd := &cobra.Command{
		Use:   "publish [FILE]",
		Short: "Validate a runbook file and store it as the next version of its name",
		Long: `Validate a runbook file and store it as the next version of its name. An
invalid file publishes nothing. Publishing a text the name already has changes
nothing and says which version has it. --builtin publishes the built-in
runbooks (the worker also does this when it starts).`,
		Example: `  muster runbook publish my-runbook.yaml --by duty-officer
  muster runbook publish --builtin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch {
			case builtins && len(args) > 0:
				return fmt.Errorf("give a FILE or --builtin, not both")
			case !builtins && len(args) == 0:
				return fmt.Errorf("name a runbook FILE, or use --builtin for the built-in ones (format: docs/runbooks.md)")
			case strings.TrimSpace(by) == "":
				return fmt.Errorf("--by: say who publishes the runbook")
			}
			var results []service.Published
			if builtins {
				s, err := a.store(ctx)
				if err != nil {
					return err
				}
				if results, err = service.PublishAllBuiltins(ctx, s); err != nil {
					return err
				}
			} else {
				// Validate before opening the database: a bad file needs no
				// database to be rejected.
				_, data, err := readRunbook(args[0])
				if err != nil {
					return invalid(err, "nothing was published")
				}
				s, err := a.store(ctx)
				if err != nil {
					return err
				}
				p, err := service.PublishRunbook(ctx, s, args[0], data, by)
				if err != nil {
					return err
				}
				results = append(results, p)
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(results)
			}
			for _, p := range results {
				if p.Created {
					fmt.Fprintf(a.out, "published %s version %d\n", p.Name, p.Version)
				} else {
					fmt.Fprintf(a.out, "%s version %d already has this text\n", p.Name, p.Version)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "command-center", "who publishes it, for the record")
	cmd.Flags().BoolVar(&builtins, "builtin", false, "publish the built-in runbooks")
	return cmd
}

func (a *app) runbookListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the published runbooks with their latest version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			rs, err := s.Runbooks(cmd.Context())
			if err != nil {
				return err
			}
			if a.output == "json" {
				type row struct {
					Name        string    `json:"name"`
					Version     int       `json:"version"`
					Versions    int       `json:"versions"`
					Title       string    `json:"title"`
					Digest      string    `json:"digest"`
					PublishedAt time.Time `json:"published_at"`
					PublishedBy string    `json:"published_by"`
				}
				out := []row{}
				for _, r := range rs {
					out = append(out, row{r.Name, r.Version, r.Versions, r.Title, r.Digest, r.PublishedAt, r.PublishedBy})
				}
				return json.NewEncoder(a.out).Encode(out)
			}
			if len(rs) == 0 {
				fmt.Fprintln(a.out, "No runbooks are published. Publish the built-in ones with `muster runbook publish --builtin`.")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tVERSIONS\tPUBLISHED\tBY\tTITLE")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", r.Name, r.Version, r.Versions,
					r.PublishedAt.Local().Format("2006-01-02 15:04"), r.PublishedBy, r.Title)
			}
			return tw.Flush()
		},
	}
}

func (a *app) runbookShowCommand() *cobra.Command {
	var version int
	cmd := &cobra.Command{
		Use:   "show NAME[@VERSION]",
		Short: "Print a published runbook as it was published (the latest version unless one is named)",
		Long: `Print a published runbook's YAML exactly as it was published, so it can be
saved, edited and published again. With --output json it prints the version's
record and the definition as the engine reads it, params completed.`,
		Example: `  muster runbook show community-outbreak-level-1
  muster runbook show community-outbreak-level-1@2 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, v, err := runbook.ParseRef(args[0])
			if err != nil {
				return err
			}
			switch {
			case version < 0:
				return fmt.Errorf("--version %d: versions count from 1", version)
			case v != 0 && version != 0 && v != version:
				return fmt.Errorf("%s and --version %d name different versions", args[0], version)
			case version != 0:
				v = version
			}
			s, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			r, err := s.Runbook(cmd.Context(), name, v)
			if err != nil {
				return fmt.Errorf("%w (see `muster runbook list`)", err)
			}
			if a.output != "json" {
				_, err := fmt.Fprint(a.out, r.Source)
				if !strings.HasSuffix(r.Source, "\n") {
					fmt.Fprintln(a.out)
				}
				return err
			}
			d, err := runbook.Parse(fmt.Sprintf("%s@%d", r.Name, r.Version), []byte(r.Source), workflows.Kinds)
			if err != nil {
				return fmt.Errorf("%s version %d no longer validates against the registered step kinds:\n%w", r.Name, r.Version, err)
			}
			return json.NewEncoder(a.out).Encode(struct {
				Name        string              `json:"name"`
				Version     int                 `json:"version"`
				Versions    int                 `json:"versions"`
				Title       string              `json:"title"`
				Digest      string              `json:"digest"`
				PublishedAt time.Time           `json:"published_at"`
				PublishedBy string              `json:"published_by"`
				Definition  *runbook.Definition `json:"definition"`
			}{r.Name, r.Version, r.Versions, r.Title, r.Digest, r.PublishedAt, r.PublishedBy, d})
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to show (default the latest)")
	return cmd
}

// kindView is a step kind as `runbook kinds -o json` prints it.
type kindView struct {
	Name    string      `json:"name"`
	Doc     string      `json:"doc"`
	PerArea []string    `json:"per_area,omitempty"`
	Outputs []string    `json:"outputs,omitempty"`
	Params  []paramView `json:"params"`
}

type paramView struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Default  any      `json:"default,omitempty"`
	OneOf    []string `json:"one_of,omitempty"`
	Doc      string   `json:"doc"`
}

func kindViews(reg runbook.Registry) []kindView {
	var out []kindView
	for _, name := range reg.Names() {
		k := reg[name]
		kv := kindView{Name: name, Doc: k.Doc, PerArea: k.PerArea, Outputs: k.Outputs, Params: []paramView{}}
		var params []string
		for p := range k.Params {
			params = append(params, p)
		}
		sort.Strings(params)
		for _, p := range params {
			pr := k.Params[p]
			kv.Params = append(kv.Params, paramView{Name: p, Type: string(pr.Type), Required: pr.Required, Default: pr.Default, OneOf: pr.OneOf, Doc: pr.Doc})
		}
		out = append(out, kv)
	}
	return out
}

func (a *app) runbookKindsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kinds",
		Short: "List the step kinds a runbook may use, with their params",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			views := kindViews(workflows.Kinds)
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(views)
			}
			for i, k := range views {
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				fmt.Fprintf(a.out, "%s\n  %s\n", k.Name, k.Doc)
				if len(k.PerArea) > 0 {
					fmt.Fprintf(a.out, "  runs once per %s: put it in a for_each over them\n", strings.Join(k.PerArea, " or "))
				}
				if len(k.Outputs) > 0 {
					fmt.Fprintf(a.out, "  outputs (for repeat … until): %s\n", strings.Join(k.Outputs, ", "))
				}
				if len(k.Params) == 0 {
					fmt.Fprintln(a.out, "  params: none")
					continue
				}
				fmt.Fprintln(a.out, "  params:")
				tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
				for _, p := range k.Params {
					need := "optional"
					switch {
					case p.Required:
						need = "required"
					case p.Default != nil:
						need = fmt.Sprintf("default %v", p.Default)
					}
					doc := p.Doc
					if len(p.OneOf) > 0 {
						doc += " (one of " + strings.Join(p.OneOf, ", ") + ")"
					}
					fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", p.Name, p.Type, need, doc)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
