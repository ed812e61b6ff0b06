package dashboard

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// The chart's size in SVG units, and its plot area's margins; CSS scales
// it to the page's width.
const (
	chartW, chartH                          = 640.0, 200.0
	marginL, marginR, marginT, marginBottom = 40.0, 12.0, 18.0, 28.0
	// minSpan is the shortest time the chart spans, so that a release
	// published a second ago does not draw one wide step.
	minSpan = 20 * time.Second
)

// chart is the timeline of the current release's rollout, as numbers
// and short labels for the template's SVG: live hosts on the release
// over time (from the status objects: when each host running it entered
// its state; and, dashed, as this dashboard read them), the waves'
// starts, the halt, and the failures.
type chart struct {
	W, H                       float64
	PlotX, PlotY, PlotW, PlotH float64
	Bottom, Right              float64
	// Derived and Seen are polyline points ("x,y x,y"); Seen is "" when
	// the dashboard has fewer than two readings.
	Derived, Seen string
	Waves         []mark
	Halt          *mark
	Failures      []mark
	YTicks        []mark
	From, To      string  // the times at both ends
	Now           float64 // where now is
	Title, Desc   string
}

// mark is something drawn at X (or Y) with a label.
type mark struct {
	X, Y  float64
	Label string
}

// newChart draws sum's current release from its publication to sum.Time.
func newChart(sum *fleet.Summary, samples []sample) *chart {
	t1 := sum.Time
	t0 := sum.Current.PublishedAt
	var since []time.Time
	for _, h := range sum.Hosts {
		if h.OnCurrent && !h.Stale && h.State != fleet.StateUnreadable {
			since = append(since, h.Since)
		}
	}
	slices.SortFunc(since, time.Time.Compare)
	if t0.IsZero() && len(since) > 0 {
		t0 = since[0]
	}
	if t0.IsZero() {
		t0 = t1.Add(-minSpan)
	}
	now := t1
	// A rollout younger than minSpan is drawn from its start, what is
	// to come left blank.
	t1 = maxTime(t1, t0.Add(minSpan))
	c := &chart{W: chartW, H: chartH, PlotX: marginL, PlotY: marginT, PlotW: chartW - marginL - marginR, PlotH: chartH - marginT - marginBottom}
	c.Bottom, c.Right = c.PlotY+c.PlotH, c.PlotX+c.PlotW
	top := max(sum.Counts.Live, len(since), 1)
	for _, s := range samples {
		top = max(top, s.OnRelease, s.Live)
	}
	x := func(t time.Time) float64 {
		f := float64(t.Sub(t0)) / float64(t1.Sub(t0))
		return c.PlotX + min(max(f, 0), 1)*c.PlotW
	}
	y := func(n int) float64 { return c.Bottom - float64(n)/float64(top)*c.PlotH }
	c.Derived = steps(x, y, t0, now, since)
	c.Seen = seenSteps(x, y, now, samples)
	c.YTicks = []mark{{Y: y(0), Label: "0"}, {Y: y(top), Label: strconv.Itoa(top)}}
	c.From, c.To = t0.UTC().Format(time.TimeOnly), t1.UTC().Format(time.TimeOnly)
	c.Now = x(now)
	ver := cmp.Or(sum.Current.Version, "the current release")
	c.Title = "Live hosts on " + fleet.OneLine(ver, 40) + " over time"
	c.Desc = fmt.Sprintf("%d of %d live hosts run it at %s UTC; the chart starts at %s UTC.", len(since), sum.Counts.Live, now.UTC().Format(time.TimeOnly), c.From)
	c.addRollout(sum.Rollout, t0, t1, x)
	return c
}

// addRollout marks the waves that began within [t0, t1], the halt and
// the failures.
func (c *chart) addRollout(ro *fleet.RolloutSummary, t0, t1 time.Time, x func(time.Time) float64) {
	if ro == nil {
		return
	}
	for i, start := range ro.WaveStarts {
		if i > 0 && i < len(ro.Waves) && !start.Before(t0) && !start.After(t1) {
			c.Waves = append(c.Waves, mark{X: x(start), Label: fmt.Sprintf("wave %d (%s)", i+1, strconv.FormatFloat(ro.Waves[i], 'f', -1, 64)+"%")})
		}
	}
	if !ro.HaltedAt.IsZero() {
		c.Halt = &mark{X: x(ro.HaltedAt), Label: "halted"}
		c.Desc += " Halted at " + ro.HaltedAt.UTC().Format(time.TimeOnly) + " UTC."
	}
	for _, f := range ro.Failures {
		c.Failures = append(c.Failures, mark{X: x(f.Time), Y: c.Bottom, Label: fleet.OneLine(f.Host+" "+f.Outcome, 80)})
	}
	if n := len(ro.Failures); n > 0 {
		c.Desc += fmt.Sprintf(" %d hosts failed it.", n)
	}
}

// steps is the polyline of a count rising by one at each of times (sorted),
// from 0 at t0 to t1.
func steps(x func(time.Time) float64, y func(int) float64, t0, t1 time.Time, times []time.Time) string {
	pts := []string{point(x(t0), y(0))}
	for i, t := range times {
		pts = append(pts, point(x(t), y(i)), point(x(t), y(i+1)))
	}
	return strings.Join(append(pts, point(x(t1), y(len(times)))), " ")
}

// seenSteps is the polyline of the dashboard's own readings, held until
// t1; "" with fewer than two.
func seenSteps(x func(time.Time) float64, y func(int) float64, t1 time.Time, samples []sample) string {
	if len(samples) < 2 {
		return ""
	}
	var pts []string
	for i, s := range samples {
		if i > 0 {
			pts = append(pts, point(x(s.Time), y(samples[i-1].OnRelease)))
		}
		pts = append(pts, point(x(s.Time), y(s.OnRelease)))
	}
	return strings.Join(append(pts, point(x(t1), y(samples[len(samples)-1].OnRelease))), " ")
}

func point(x, y float64) string {
	return strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
