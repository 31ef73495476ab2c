package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations as the schema's owner (the worker also does this at start)",
		Long: `Apply pending database migrations. Only this command and the worker (unless
MUSTER_MIGRATE=false) migrate; every other command checks the schema and asks
for this one when it is behind. The first run creates the roles muster_owner,
muster_app and muster_callback, so its login needs CREATEROLE and must own the
database (or be a superuser); later runs act as muster_owner. See README,
"Database roles".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(cmd.Context(), a.cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			applied, err := s.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			v, err := s.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(a.out, "Schema is up to date (version %d).\n", v)
				return nil
			}
			fmt.Fprintf(a.out, "Applied %s; schema version %d.\n", strings.Join(applied, ", "), v)
			return nil
		},
	}
}

func (a *app) scenarioCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Load and check scenario files (areas, population, gates, staff, sites)",
	}
	var reference bool
	load := &cobra.Command{
		Use:   "load [FILE]",
		Short: "Load a scenario file into the database; loading it again changes nothing",
		Long: `Load a scenario file (see docs/scenario.md) into the database. Areas, gates,
roads, staff and sites are written in one transaction: a file with an error
writes nothing, and every error is reported with its line and field.
Loading the same file again changes nothing; a changed file updates rows in
place. --reference loads the built-in scenario of Xiaodian District.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := readScenario(args, reference)
			if err != nil {
				return err
			}
			s, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			rows := f.Rows()
			b := a.newBar(-1, "loading "+f.Name)
			res, err := s.LoadScenario(cmd.Context(), rows)
			b.Finish()
			if err != nil {
				return err
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(res)
			}
			fmt.Fprintf(a.out, "Scenario %s: %d areas, %d gates, %d roads, %d staff, %d sites, %d residents.\n",
				f.Name, len(rows.Areas), len(rows.Gates), len(rows.Roads), len(rows.Staff), len(rows.Sites), rows.Residents())
			if !res.Changed() {
				fmt.Fprintln(a.out, "Already loaded: nothing changed.")
				return nil
			}
			for _, t := range []string{"areas", "gates", "roads", "staff", "sites"} {
				if res.Inserted[t]+res.Updated[t] > 0 {
					fmt.Fprintf(a.out, "  %-6s %d added, %d updated\n", t, res.Inserted[t], res.Updated[t])
				}
			}
			return nil
		},
	}
	load.Flags().BoolVar(&reference, "reference", false, "load the built-in reference scenario (Xiaodian District, 3-4 April 2022)")
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a scenario file without touching the database",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := readScenario(args, reference)
			if err != nil {
				return err
			}
			rows := f.Rows()
			if a.output == "json" {
				return printJSON(a.out, map[string]any{"name": f.Name, "valid": true, "areas": len(rows.Areas),
					"gates": len(rows.Gates), "staff": len(rows.Staff), "sites": len(rows.Sites), "residents": rows.Residents()})
			}
			fmt.Fprintf(a.out, "%s is valid: %d areas, %d gates, %d staff, %d sites, %d residents.\n",
				f.Name, len(rows.Areas), len(rows.Gates), len(rows.Staff), len(rows.Sites), rows.Residents())
			return nil
		},
	}
	check.Flags().BoolVar(&reference, "reference", false, "check the built-in reference scenario")
	cmd.AddCommand(load, check)
	return cmd
}

func readScenario(args []string, reference bool) (*scenario.File, error) {
	switch {
	case reference && len(args) > 0:
		return nil, fmt.Errorf("give a FILE or --reference, not both")
	case reference:
		return scenario.Reference()
	case len(args) == 0:
		return nil, fmt.Errorf("name a scenario FILE, or use --reference for the built-in one (format: docs/scenario.md)")
	}
	f, err := scenario.ReadFile(args[0])
	var errs scenario.Errors
	if errors.As(err, &errs) && len(errs) > 1 {
		return nil, fmt.Errorf("%d problems; nothing was loaded:\n%w", len(errs), err)
	}
	return f, err
}

func (a *app) areasCommand() *cobra.Command {
	var level string
	cmd := &cobra.Command{
		Use:   "areas [CODE|PATH]",
		Short: "List areas of the loaded scenario, e.g. the compounds of a community",
		Example: `  muster areas --level compound COMMUNITY
  muster areas DISTRICT/SUB-DISTRICT`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			under := ""
			if len(args) == 1 {
				under = args[0]
			}
			all, err := api.Areas(cmd.Context(), s, a.district, under, level)
			if errors.Is(err, domain.ErrNotFound) {
				return fmt.Errorf("%w (list top-level areas with `muster areas`)", err)
			}
			if err != nil {
				return err
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(all)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CODE\tLEVEL\tNAME\tRESIDENTS\tPATH")
			for _, ar := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", ar.Code, ar.Level, ar.Name, ar.Population, ar.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&level, "level", "", "only areas of this level: district, sub-district, community or compound")
	return cmd
}
