package report

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/domain"
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

func TestOverdueSteps(t *testing.T) {
	t0 := time.Date(2022, 4, 3, 17, 0, 0, 0, time.UTC)
	ev := func(step, state, reason string, m int) domain.Event {
		return domain.Event{WorkflowID: "response/x", Step: step, State: state, Reason: reason, At: t0.Add(time.Duration(m) * time.Minute)}
	}
	deadline := "not done by its deadline " + t0.Format(time.RFC3339)
	events := []domain.Event{
		ev("seal/a", "overdue", deadline, 5),
		// A seal is in time once it holds, though lifted much later.
		ev("seal/a", "holding", "", 20),
		ev("seal/a", "done", "lifted", 600),
		ev("testing", "overdue", deadline, 5),
		ev("supply", "overdue", "a reason without a time", 7),
	}
	got := overdueSteps(events, t0.Add(2*time.Hour), func(d time.Duration) time.Duration { return d })
	if len(got) != 3 {
		t.Fatalf("overdueSteps() = %+v, want 3", got)
	}
	if got[0].What != "seal/a" || got[0].Late != 20*time.Minute || got[0].Done == nil {
		t.Errorf("seal/a = %+v, want 20m late, done when it held", got[0])
	}
	if got[1].What != "testing" || got[1].Late != 2*time.Hour || got[1].Done != nil {
		t.Errorf("testing = %+v, want still not done, 2h late at the read", got[1])
	}
	// Without a deadline in the reason, the overdue event's own time is it.
	if got[2].Late != 2*time.Hour-7*time.Minute {
		t.Errorf("supply = %+v, want late from its overdue event", got[2])
	}
}
