package report

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestChartSVG(t *testing.T) {
	t0 := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, c := range []struct {
		name     string
		chart    Chart
		want     []string
		paths    int
		wantNone []string
	}{
		{
			name:     "no points",
			chart:    Chart{Title: "Stock over time", Series: []Series{{Name: "grain"}}},
			want:     []string{`aria-label="Stock over time"`, "—"},
			wantNone: []string{"<path"},
		},
		{
			name: "two points, a deadline",
			chart: Chart{Title: "Coverage", Unit: "residents", Marks: []Mark{{At: at(420), Label: "deadline"}},
				Series: []Series{
					{Name: "point-1", Points: []Point{{at(0), 0}, {at(60), 250}, {at(120), 480}}},
					{Name: "point-2", Points: []Point{{at(0), 0}, {at(60), 240}}},
				}},
			// 480 rounds up to a top gridline of 500; the deadline widens
			// the time axis to 7 hours.
			want:  []string{">500<", ">250<", "point-1", "point-2", `stroke="#c00"`, ">deadline<", "04-03 17:00:00", "04-04 00:00:00", `stroke="#0072B2"`, `stroke="#E69F00"`},
			paths: 2,
		},
		{
			name:  "escapes names",
			chart: Chart{Title: "<b>&", Series: []Series{{Name: "a<b", Points: []Point{{at(0), 1}, {at(1), 2}}}}},
			want:  []string{"&lt;b&gt;&amp;", "a&lt;b"},
			paths: 1, wantNone: []string{"<b>&"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			svg := c.chart.SVG()
			if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") {
				t.Fatalf("SVG() = %.60q…, want one <svg> element", svg)
			}
			for _, w := range c.want {
				if !strings.Contains(svg, w) {
					t.Errorf("SVG() lacks %q", w)
				}
			}
			for _, w := range c.wantNone {
				if strings.Contains(svg, w) {
					t.Errorf("SVG() has %q", w)
				}
			}
			if n := strings.Count(svg, "<path"); n != c.paths {
				t.Errorf("SVG() has %d paths, want %d", n, c.paths)
			}
		})
	}
}

// TestChartScale checks the drawing's geometry: the first series climbs
// from the bottom of the plot to its top gridline at the 2-hour mark.
func TestChartScale(t *testing.T) {
	t0 := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	svg := Chart{Width: 640, Height: 240, Series: []Series{{Name: "p", Points: []Point{{t0, 0}, {t0.Add(2 * time.Hour), 500}}}}}.SVG()
	d := regexp.MustCompile(`<path d="([^"]+)"`).FindStringSubmatch(svg)
	// Plot: x from 56 to 624, y from 28 (500) to 200 (0).
	if d == nil || d[1] != "M56.0 200.0 H624.0 V28.0" {
		t.Errorf("path = %v, want M56.0 200.0 H624.0 V28.0", d)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 1}, {1, 1}, {3, 5}, {480, 500}, {501, 1000}, {7013, 10000}, {0.3, 0.5}, {12.5, 20}} {
		if got := niceCeil(c.in); got != c.want {
			t.Errorf("niceCeil(%g) = %g, want %g", c.in, got, c.want)
		}
	}
}
