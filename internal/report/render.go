package report

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	texttemplate "text/template"
	"time"

	"github.com/musterhq/muster/internal/table"
)

//go:embed templates/*
var templates embed.FS

func (r *Report) funcs() map[string]any {
	return map[string]any{
		"t":    r.T,
		"time": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
		"ptime": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return t.Local().Format("2006-01-02 15:04:05")
		},
		"dur":  Duration,
		"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
		"num":  number,
		"fix1": func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"svg":  func(c Chart) htmltemplate.HTML { return htmltemplate.HTML(c.SVG()) },
		// md escapes the characters that would break a Markdown table cell.
		"md": table.Escape,
	}
}

// HTML writes the report as one self-contained HTML page: inline CSS and
// SVG, no script, no external asset.
func (r *Report) HTML(w io.Writer) error {
	t, err := htmltemplate.New("report.html").Funcs(r.funcs()).ParseFS(templates, "templates/report.html")
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	return t.Execute(w, r)
}

// Markdown writes the report as Markdown; its charts are left to the HTML
// page, which it names.
func (r *Report) Markdown(w io.Writer) error {
	t, err := texttemplate.New("report.md").Funcs(r.funcs()).ParseFS(templates, "templates/report.md")
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	return t.Execute(w, r)
}
