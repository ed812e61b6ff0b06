package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
)

// fleetReport prints what the fleet cost idle and during the rollout, and
// the table of targets.
func (b *bench) fleetReport(out io.Writer, idle fleetIdle, r *fleetRollout) {
	n, interval := b.o.agents, b.o.interval
	fmt.Fprintf(out, "\nFleet: %d autoupdate processes, each with its own state dir and dpkg root, no service, --interval %v (jitter 20%%); release 2: %s\n", n, interval, r.rollout.Policy)
	idleLines(out, idle, n, interval)
	rolloutLines(out, r, n, interval+rolloutSlack)
	ib, rb := summarise(idle.reqs), summarise(r.reqs)
	p50, p95, pmax := percentile(r.lat, 50), percentile(r.lat, 95), percentile(r.lat, 100)
	target := interval + rolloutSlack
	from := "publish"
	if r.rollout.Staged() {
		from = "wave start"
	}
	hwm := field(r.mem, func(m memory) int64 { return m.peak })
	table(out, [][]string{
		{"metric", "measured", "target", "result"},
		{from + " to installed, p50", p50.Round(time.Millisecond).String(), "", ""},
		{from + " to installed, p95", p95.Round(time.Millisecond).String(), fmt.Sprintf("<= %v (interval + 5s)", target), verdict(p95 <= target)},
		{from + " to installed, max", pmax.Round(time.Millisecond).String(), "", ""},
		{from + " to installing, p95", percentile(r.noticed, 95).Round(time.Millisecond).String(), "", ""},
		{"S3 requests/s, idle", fmt.Sprintf("%.1f", float64(ib.total)/idle.win.Seconds()), fmt.Sprintf("%.1f (agents / interval)", float64(n)/interval.Seconds()), ""},
		{"S3 requests/s, rollout", fmt.Sprintf("%.1f", float64(rb.total)/r.win.Seconds()), "", ""},
		{"agent RSS, median (idle)", mb(percentile(field(idle.mem, func(m memory) int64 { return m.rss }), 50)), "", ""},
		{"agent RssAnon, median (idle)", mb(percentile(field(idle.mem, func(m memory) int64 { return m.anon }), 50)), "", ""},
		{"agent peak RSS, median (after rollout)", mb(percentile(hwm, 50)), "< 20.0 MB (the idle target)", verdict(percentile(hwm, 50) < idleRSSTarget)},
	})
}

// idleLines prints what the idle fleet cost, in all and per agent.
func idleLines(out io.Writer, idle fleetIdle, n int, interval time.Duration) {
	ib := summarise(idle.reqs)
	fmt.Fprintf(out, "Idle (%v): %d requests, %.1f req/s (%d HEAD, %d status PUT, %d other, %s), peak %d in one second; %.2f per agent per interval\n",
		idle.win.Round(time.Second), ib.total, float64(ib.total)/idle.win.Seconds(), ib.head, ib.putStatus, ib.other+ib.get, ib.errorText(), peakPerSecond(idle.reqs),
		float64(ib.total)/float64(n)/(idle.win.Seconds()/interval.Seconds()))
	fmt.Fprintf(out, "  CPU: %s; per agent %.4f%% of a core\n", idle.cpu.String(idle.win), 100*idle.cpu.agents.Seconds()/float64(n)/idle.win.Seconds())
	rss := field(idle.mem, func(m memory) int64 { return m.rss })
	hwm := field(idle.mem, func(m memory) int64 { return m.peak })
	anon := field(idle.mem, func(m memory) int64 { return m.anon })
	var total int64
	for _, a := range anon {
		total += a
	}
	fmt.Fprintf(out, "  agent memory: VmRSS median %s (max %s), VmHWM median %s (max %s); its own pages (RssAnon, the rest is the shared binary) median %s, %s for all %d\n",
		mb(percentile(rss, 50)), mb(percentile(rss, 100)), mb(percentile(hwm, 50)), mb(percentile(hwm, 100)), mb(percentile(anon, 50)), mb(total), n)
}

// rolloutLines prints what the rollout cost and how long it took, split
// where the status PUT "installing" reached the proxy, and the CPU one
// host's install took here, which bounds how many hosts one machine can
// install within target.
func rolloutLines(out io.Writer, r *fleetRollout, n int, target time.Duration) {
	rb := summarise(r.reqs)
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	spread := func(ds []time.Duration) string {
		return fmt.Sprintf("p50 %v, p95 %v, max %v", ms(percentile(ds, 50)), ms(percentile(ds, 95)), ms(percentile(ds, 100)))
	}
	hwm := field(r.mem, func(m memory) int64 { return m.peak })
	fmt.Fprintf(out, "  after the rollout: VmHWM median %s (max %s)\n", mb(percentile(hwm, 50)), mb(percentile(hwm, 100)))
	fmt.Fprintf(out, "Rollout of release 2 (publish to last install, %v): %d requests, %.1f req/s (%d HEAD, %d GET, %d status PUT, %d other, %s), peak %d in one second\n",
		ms(r.win), rb.total, float64(rb.total)/r.win.Seconds(), rb.head, rb.get, rb.putStatus, rb.other, rb.errorText(), peakPerSecond(r.reqs))
	u := r.cpu
	all := u.agents + u.dpkg + u.versity + u.driver
	per := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000/float64(n)) }
	fmt.Fprintf(out, "  CPU: %s\n", u.String(r.cpuWin))
	fmt.Fprintf(out, "  CPU per host's install: %s (agent %s, dpkg %s, versitygw %s, proxy+driver %s); all %d within %v need %.1f cores, this machine has %d (shared: load average at the end %s)\n",
		per(all), per(u.agents), per(u.dpkg), per(u.versity), per(u.driver), n, target, all.Seconds()/target.Seconds(), runtime.NumCPU(), r.load)
	fmt.Fprintf(out, "  publish (or, staged, the host's wave start) to installed, from status objects: %s\n", spread(r.lat))
	fmt.Fprintf(out, "    to the status PUT \"installing\" at the proxy (HEAD, LIST, GET, checks): %s\n", spread(r.noticed))
	fmt.Fprintf(out, "    from it to installed (dpkg, and its wait for a core): %s\n", spread(r.installs))
	fmt.Fprintf(out, "  publish to installed, seen in the dpkg databases (100 ms polls): %s\n", spread(r.polled))
	fmt.Fprintf(out, "  agents that logged an error during the run: %d\n\n", r.failed)
}

// installingAt returns, for each of hosts, when the proxy saw its first
// accepted status PUT saying "installing" (zero when it saw none).
func installingAt(reqs []realparts.S3Request, hosts []string) []time.Time {
	index := make(map[string]int, len(hosts))
	for i, h := range hosts {
		index[h] = i
	}
	at := make([]time.Time, len(hosts))
	for _, q := range reqs {
		i, ok := index[q.Host]
		if !ok || q.State != fleet.StateInstalling || q.Code >= 300 || !at[i].IsZero() {
			continue
		}
		at[i] = q.At
	}
	return at
}

// lastStatus returns when the last accepted status PUT of state arrived,
// or after when none arrived later.
func lastStatus(reqs []realparts.S3Request, state string, after time.Time) time.Time {
	for _, q := range reqs {
		if q.Kind == realparts.KindStatus && q.State == state && q.Code < 300 && q.At.After(after) {
			after = q.At
		}
	}
	return after
}

// splitLatency splits each host's covered-to-done time at its
// "installing" PUT; hosts without one are left out of both.
func splitLatency(installing, covered, done []time.Time) (noticed, installs []time.Duration) {
	for i, at := range installing {
		if at.IsZero() {
			continue
		}
		noticed = append(noticed, at.Sub(covered[i]))
		installs = append(installs, done[i].Sub(at))
	}
	return noticed, installs
}

// field picks one figure out of each memory reading.
func field(ms []memory, f func(memory) int64) []int64 {
	xs := make([]int64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	return xs
}
