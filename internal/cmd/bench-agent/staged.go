package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
)

// rolloutRun is what a fleet run measured of a release with a rollout
// policy: per host (in the order of hosts) when a wave first covered it
// (or the publish, when later) and when its status said the install was
// done, and the requests seen during the rollout.
type rolloutRun struct {
	rollout   *fleet.Rollout
	hosts     []string
	published time.Time
	covered   []time.Time
	done      []time.Time
	roll      []realparts.S3Request
	rollWin   time.Duration
}

// timelineStep is the resolution of the covered-versus-installed timeline.
const timelineStep = 5 * time.Second

// rolloutReport prints, for a release with a rollout policy: each wave's
// hosts and publish-to-installed times measured from the wave's start,
// covered versus installed hosts over time, the most hosts installing at
// once (the S3 requests by kind are kindReport's).
func rolloutReport(out io.Writer, run rolloutRun) {
	r, n := run.rollout, len(run.hosts)
	fmt.Fprintf(out, "\nStaged rollout of release 2: %s\n", r.Policy)
	rows := [][]string{{"wave", "starts", "hosts", "covered", "installed by next wave", "wave start to installed p50", "p95", "max"}}
	for i, pct := range r.Waves {
		start := r.PublishedAt.Add(time.Duration(i) * r.WaveInterval)
		var next time.Time
		if i < len(r.Waves)-1 {
			next = start.Add(r.WaveInterval)
		}
		var lat []time.Duration
		covered, installed := 0, 0
		for h, host := range run.hosts {
			if !r.CoveredAt(host).After(start) {
				covered++
			}
			if next.IsZero() || run.done[h].Before(next) {
				installed++
			}
			if r.CoveredAt(host).Equal(start) {
				lat = append(lat, run.done[h].Sub(run.covered[h]))
			}
		}
		by := fmt.Sprint(installed)
		if next.IsZero() {
			by += " (at the end)"
		}
		rows = append(rows, []string{
			fmt.Sprintf("%d (%s)", i+1, formatPct(pct)), "+" + start.Sub(run.published).Round(time.Second).String(),
			fmt.Sprint(len(lat)), fmt.Sprintf("%d/%d", covered, n), by,
			percentile(lat, 50).Round(time.Millisecond).String(), percentile(lat, 95).Round(time.Millisecond).String(), percentile(lat, 100).Round(time.Millisecond).String(),
		})
	}
	table(out, rows)

	installing := installingOverTime(run.roll)
	fmt.Fprintf(out, "\nHosts covered, installing and installed over time (t from the publish; installing from the status PUTs the proxy saw):\n")
	rows = [][]string{{"t", "covered", "installing", "installed"}}
	end := run.published.Add(run.rollWin)
	for t := run.published; ; t = t.Add(timelineStep) {
		if t.After(end) {
			t = end
		}
		covered, installed := 0, 0
		for h := range run.hosts {
			if !run.covered[h].After(t) {
				covered++
			}
			if !run.done[h].After(t) {
				installed++
			}
		}
		rows = append(rows, []string{"+" + t.Sub(run.published).Round(time.Second).String(), fmt.Sprint(covered), fmt.Sprint(installing.at(t)), fmt.Sprint(installed)})
		if !t.Before(end) {
			break
		}
	}
	table(out, rows)
	fmt.Fprintf(out, "\nMost hosts installing at once (status objects): %d", installing.peak)
	if r.MaxUpdating > 0 || r.HaltAfter > 0 {
		fmt.Fprintf(out, " (max-updating %d, halt-after %d)", r.MaxUpdating, r.HaltAfter)
	}
	fmt.Fprintln(out)
}

// kindReport prints the S3 requests by kind of object, idle and during a
// rollout, with what one release cost per host: the figures a cost
// estimate at any fleet size starts from.
func kindReport(out io.Writer, idle []realparts.S3Request, idleWin time.Duration, roll []realparts.S3Request, rollWin time.Duration, hosts int) {
	fmt.Fprintf(out, "\nS3 requests by kind (idle %v, rollout %v; per host per release = rollout requests / %d hosts):\n", idleWin.Round(time.Second), rollWin.Round(time.Second), hosts)
	table(out, kindTable(idle, idleWin, roll, rollWin, hosts))
}

func formatPct(p float64) string { return fleet.FormatWaves([]float64{p}) }

// stateTimeline is the number of hosts whose last reported state is
// "installing", after each status PUT.
type stateTimeline struct {
	times  []time.Time
	counts []int
	peak   int
}

func installingOverTime(reqs []realparts.S3Request) stateTimeline {
	var tl stateTimeline
	state := map[string]string{}
	n := 0
	for _, q := range reqs {
		if q.State == "" || q.Code >= 300 {
			continue
		}
		was := state[q.Host] == fleet.StateInstalling
		is := q.State == fleet.StateInstalling
		state[q.Host] = q.State
		switch {
		case is && !was:
			n++
		case was && !is:
			n--
		}
		tl.times, tl.counts = append(tl.times, q.At), append(tl.counts, n)
		tl.peak = max(tl.peak, n)
	}
	return tl
}

// at is the count in force at t.
func (tl stateTimeline) at(t time.Time) int {
	i, _ := slices.BinarySearchFunc(tl.times, t, func(a, b time.Time) int { return a.Compare(b) })
	// times[i-1] <= t < times[i] (or i is the first later one).
	for i < len(tl.times) && !tl.times[i].After(t) {
		i++
	}
	if i == 0 {
		return 0
	}
	return tl.counts[i-1]
}

// kindCounts counts one kind's requests by method and outcome.
type kindCounts struct {
	head, get, put, list, del, other, notFound, preconditionFailed, total int
}

func countKinds(reqs []realparts.S3Request) map[string]*kindCounts {
	m := map[string]*kindCounts{}
	for _, q := range reqs {
		c := m[q.Kind]
		if c == nil {
			c = &kindCounts{}
			m[q.Kind] = c
		}
		c.total++
		switch {
		case q.Kind == realparts.KindList:
			c.list++
		case q.Method == http.MethodHead:
			c.head++
		case q.Method == http.MethodGet:
			c.get++
		case q.Method == http.MethodPut:
			c.put++
		case q.Method == http.MethodDelete:
			c.del++
		default:
			c.other++
		}
		switch q.Code {
		case http.StatusNotFound:
			c.notFound++
		case http.StatusPreconditionFailed:
			c.preconditionFailed++
		}
	}
	return m
}

// kindTable is one row per kind of object and window: counts by method,
// 404s and 412s, the rate, and (rollout only) requests per host.
func kindTable(idle []realparts.S3Request, idleWin time.Duration, roll []realparts.S3Request, rollWin time.Duration, hosts int) [][]string {
	rows := [][]string{{"window", "kind", "HEAD", "GET", "PUT", "LIST", "DELETE", "404", "412", "req/s", "per host per release"}}
	kinds := []string{realparts.KindRelease, realparts.KindPart, realparts.KindStatus, realparts.KindLease, realparts.KindRollout, realparts.KindList}
	for _, w := range []struct {
		name  string
		reqs  []realparts.S3Request
		win   time.Duration
		count bool
	}{{"idle", idle, idleWin, false}, {"rollout", roll, rollWin, true}} {
		m := countKinds(w.reqs)
		var all kindCounts
		for _, k := range kinds {
			c := m[k]
			if c == nil {
				c = &kindCounts{}
			}
			all.head, all.get, all.put, all.list, all.del = all.head+c.head, all.get+c.get, all.put+c.put, all.list+c.list, all.del+c.del
			all.notFound, all.preconditionFailed, all.total = all.notFound+c.notFound, all.preconditionFailed+c.preconditionFailed, all.total+c.total
			rows = append(rows, kindRow(w.name, k, c, w.win, hosts, w.count))
		}
		rows = append(rows, kindRow(w.name, "all", &all, w.win, hosts, w.count))
	}
	return rows
}

func kindRow(window, kind string, c *kindCounts, win time.Duration, hosts int, perHost bool) []string {
	per := ""
	if perHost {
		per = fmt.Sprintf("%.1f", float64(c.total)/float64(hosts))
	}
	rate := 0.0
	if win > 0 {
		rate = float64(c.total) / win.Seconds()
	}
	return []string{window, kind, fmt.Sprint(c.head), fmt.Sprint(c.get), fmt.Sprint(c.put), fmt.Sprint(c.list), fmt.Sprint(c.del),
		fmt.Sprint(c.notFound), fmt.Sprint(c.preconditionFailed), fmt.Sprintf("%.1f", rate), per}
}
