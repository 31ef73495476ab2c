// Package table renders Markdown tables: the current details supervisors
// read on a workflow's page in the Temporal Web UI, and the tables of the
// after-action report. One renderer keeps every table escaped the same way.
package table

import (
	"fmt"
	"strings"
)

// Table is a Markdown table being built: a header and rows of cells.
type Table struct {
	header []string
	rows   [][]string
}

// New starts a table with the given column headings.
func New(header ...string) *Table { return &Table{header: header} }

// Row appends a row. Each cell is formatted with %v; strings are escaped so
// that a pipe or a line break in free text cannot break the table. A row
// with fewer cells than the header is padded with empty cells.
func (tbl *Table) Row(cells ...any) *Table {
	row := make([]string, len(tbl.header))
	for i, c := range cells {
		if i >= len(row) {
			break
		}
		row[i] = Escape(fmt.Sprint(c))
	}
	tbl.rows = append(tbl.rows, row)
	return tbl
}

// Len is the number of rows added.
func (tbl *Table) Len() int { return len(tbl.rows) }

// String renders the table, one line a row, each line ending in a newline.
func (tbl *Table) String() string {
	var b strings.Builder
	tbl.Render(&b)
	return b.String()
}

// Render renders the table into b.
func (tbl *Table) Render(b *strings.Builder) {
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(tbl.header)
	b.WriteString("|" + strings.Repeat("---|", len(tbl.header)) + "\n")
	for _, r := range tbl.rows {
		line(r)
	}
}

var escaper = strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ", "\r", " ")

// Escape makes s safe inside a Markdown table cell: pipes are escaped and
// line breaks become spaces.
func Escape(s string) string { return escaper.Replace(s) }
