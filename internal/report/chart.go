package report

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// Series is one line of a chart: values at times, drawn as steps.
type Series struct {
	Name   string
	Points []Point
}

// Point is a value from a time on.
type Point struct {
	At    time.Time
	Value float64
}

// Chart is a line chart of series over time, drawn as inline SVG so the
// report needs no script and no asset.
type Chart struct {
	Title string
	// Unit labels the y axis.
	Unit   string
	Series []Series
	// Marks are labelled vertical lines, such as a deadline.
	Marks []Mark
	// Width and Height in pixels; 640×240 when zero.
	Width, Height int
}

// Mark is a labelled time on a chart.
type Mark struct {
	At    time.Time
	Label string
}

// palette holds colours that stay apart for readers with the common kinds
// of colour blindness (Okabe–Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

const (
	padLeft  = 56
	padRight = 16
	padTop   = 28
)

// SVG draws the chart. A chart without points says so instead of drawing
// empty axes.
func (c Chart) SVG() string {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 640
	}
	if h == 0 {
		h = 240
	}
	lo, hi, maxY, n := c.extent()
	// The legend takes a row of four names per row below the axis labels.
	padBottom := 24 + 14*((len(c.Series)+3)/4)
	h += padBottom - 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, h, w, h, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>`, padLeft, html.EscapeString(c.Title))
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#666">—</text></svg>`, w/2, h/2)
		return b.String()
	}
	for _, m := range c.Marks {
		if m.At.Before(lo) {
			lo = m.At
		}
		if m.At.After(hi) {
			hi = m.At
		}
	}
	if !hi.After(lo) {
		hi = lo.Add(time.Minute)
	}
	maxY = niceCeil(maxY)
	plotW, plotH := float64(w-padLeft-padRight), float64(h-padTop-padBottom)
	x := func(t time.Time) float64 { return padLeft + plotW*float64(t.Sub(lo))/float64(hi.Sub(lo)) }
	y := func(v float64) float64 { return padTop + plotH*(1-v/maxY) }
	// Axes and a few gridlines with their values.
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, padLeft, y(v), w-padRight, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, padLeft-4, y(v)+3, number(v))
	}
	fmt.Fprintf(&b, `<text x="4" y="%d" font-size="10" fill="#444">%s</text>`, padTop-6, html.EscapeString(c.Unit))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10">%s</text>`, padLeft, h-padBottom+14, lo.Format("01-02 15:04:05"))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>`, w-padRight, h-padBottom+14, hi.Format("01-02 15:04:05"))
	for _, m := range c.Marks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-dasharray="4 3"/>`, x(m.At), padTop, x(m.At), h-padBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#c00" text-anchor="end">%s</text>`, x(m.At)-2, padTop+10, html.EscapeString(m.Label))
	}
	for i, s := range c.Series {
		if len(s.Points) == 0 {
			continue
		}
		colour := palette[i%len(palette)]
		var path strings.Builder
		for j, p := range s.Points {
			if j == 0 {
				fmt.Fprintf(&path, "M%.1f %.1f", x(p.At), y(p.Value))
				continue
			}
			// A step: the value holds until the next point.
			fmt.Fprintf(&path, " H%.1f V%.1f", x(p.At), y(p.Value))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"><title>%s</title></path>`, path.String(), colour, html.EscapeString(s.Name))
		lx := padLeft + (i%4)*((w-padLeft-padRight)/4)
		ly := h - padBottom + 30 + (i/4)*14
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="4" fill="%s"/><text x="%d" y="%d" font-size="10">%s</text>`, lx, ly-4, colour, lx+14, ly, html.EscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// extent is the first and last time and the highest value of the chart's
// points, and how many there are.
func (c Chart) extent() (lo, hi time.Time, maxY float64, n int) {
	for _, s := range c.Series {
		for _, p := range s.Points {
			if n == 0 || p.At.Before(lo) {
				lo = p.At
			}
			if n == 0 || p.At.After(hi) {
				hi = p.At
			}
			maxY = math.Max(maxY, p.Value)
			n++
		}
	}
	return lo, hi, maxY, n
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, so the
// gridlines fall on round values.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func number(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
