package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/internal/report"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// reportOptions say where and how the after-action report is written.
type reportOptions struct {
	out       string
	format    string
	locale    string
	scenario  string
	timeScale float64
}

func (a *app) reportCommand() *cobra.Command {
	o := reportOptions{}
	cmd := &cobra.Command{
		Use:   "report INCIDENT",
		Short: "Write the after-action report of an incident's response (HTML and Markdown)",
		Long: `report writes the after-action report of an incident's response, built from
the event log and the records in PostgreSQL: a timeline of steps; each
testing round planned against actual (residents per point-hour against the
points' planned capacity, planned finish against the last sample); charts of
coverage over time per sampling point, stock over time and findings opened
against closed; every stall, operator decision and skip with who, when and
why; what missed its deadline and by how much; and, where the scenario gives
them (references: in docs/scenario.md), the figures of a real day of the
same kind beside the response's own.

The HTML page is self-contained (inline CSS and SVG, no script, nothing
fetched), so it can be mailed or opened offline. The files are
report-INCIDENT.html and report-INCIDENT.md in --out.

The language is --locale, else the scenario's locale:, else English. The
scenario is --scenario, else the built-in reference scenario when the
response's area was loaded from it.`,
		Example: `  muster report xd-0403
  muster report xd-0403 --out reports --format html --locale zh-CN
  muster report xd-0403 --time-scale 2880   # a demo run: hours read as the runbook's`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := workflows.ValidIncident(args[0]); err != nil {
				return fmt.Errorf("INCIDENT: %w", err)
			}
			switch o.format {
			case "html", "md", "both":
			default:
				return fmt.Errorf("--format %q: want html, md or both", o.format)
			}
			if o.locale != "" && !i18n.Valid(o.locale) {
				return fmt.Errorf("--locale %q: want one of %v", o.locale, i18n.Locales)
			}
			if o.timeScale < 0 {
				return fmt.Errorf("--time-scale %g: want 1 or more", o.timeScale)
			}
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			files, err := writeReport(ctx, st, args[0], o)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return printJSON(a.out, map[string]any{"incident": args[0], "files": files})
			}
			for _, f := range files {
				fmt.Fprintln(a.out, f)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", ".", "folder to write the report in (made if missing)")
	f.StringVar(&o.format, "format", "both", "html, md or both")
	f.StringVar(&o.locale, "locale", "", "language of the report: en or zh-CN (default: the scenario's locale, else en)")
	f.StringVar(&o.scenario, "scenario", "", "scenario file with the locale and reference figures (default: the built-in reference scenario when it is the response's)")
	f.Float64Var(&o.timeScale, "time-scale", 1, "the speed-up the response ran with, so hours read as the runbook's")
	return cmd
}

// writeReport builds the report of an incident and writes its files,
// returning their paths. A file is written whole or not at all.
func writeReport(ctx context.Context, st *store.Store, incident string, o reportOptions) ([]string, error) {
	d, err := st.ReportData(ctx, incident)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("incident %s has no response in this database", incident)
	}
	if err != nil {
		return nil, err
	}
	var sc *scenario.File
	if o.scenario != "" {
		if sc, err = scenario.ReadFile(o.scenario); err != nil {
			return nil, fmt.Errorf("--scenario: %w", err)
		}
	} else if ref, err := scenario.Reference(); err == nil && ref.Name == d.Scenario {
		sc = ref
	}
	ro := report.Options{Locale: o.locale, TimeScale: o.timeScale}
	if sc != nil {
		ro.References = sc.References
		if ro.Locale == "" {
			ro.Locale = sc.Locale
		}
	}
	cat, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	rep := report.Build(cat, d, ro)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	var files []string
	write := func(ext string, render func(*bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			return err
		}
		path := filepath.Join(o.out, "report-"+incident+"."+ext)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		files = append(files, path)
		return nil
	}
	if o.format == "html" || o.format == "both" {
		if err := write("html", func(b *bytes.Buffer) error { return rep.HTML(b) }); err != nil {
			return nil, err
		}
	}
	if o.format == "md" || o.format == "both" {
		if err := write("md", func(b *bytes.Buffer) error { return rep.Markdown(b) }); err != nil {
			return nil, err
		}
	}
	return files, nil
}
