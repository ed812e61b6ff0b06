package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// rolloutSlack is the target: p95 of publish-to-installed within
// one interval plus this.
const rolloutSlack = 5 * time.Second

// snapshot is the CPU use of every process of the run at one moment.
type snapshot struct {
	at       time.Time
	agents   []cpuTimes
	versity  cpuTimes
	selfUser time.Duration // the driver (the proxy, mostly)
}

func (b *bench) snapshot() (snapshot, error) {
	s := snapshot{at: time.Now(), agents: make([]cpuTimes, len(b.agents))}
	for i, a := range b.agents {
		c, err := readCPU(a.pid())
		if err != nil {
			return s, err
		}
		s.agents[i] = c
	}
	var err error
	if s.versity, err = readCPU(b.srv.PID()); err != nil {
		return s, err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, err
	}
	s.selfUser = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return s, nil
}

// cpuUse is what the processes used between two snapshots.
type cpuUse struct {
	agents, dpkg, versity, driver time.Duration
}

func since(a, b snapshot) cpuUse {
	var u cpuUse
	for i := range b.agents {
		u.agents += b.agents[i].self - a.agents[i].self
		u.dpkg += b.agents[i].children - a.agents[i].children
	}
	u.versity = b.versity.self - a.versity.self
	u.driver = b.selfUser - a.selfUser
	return u
}

func (u cpuUse) String(window time.Duration) string {
	cores := func(d time.Duration) string {
		return fmt.Sprintf("%v (%.2f cores)", d.Round(10*time.Millisecond), d.Seconds()/window.Seconds())
	}
	return fmt.Sprintf("agents %s, dpkg and its scripts %s, versitygw %s, proxy+driver %s",
		cores(u.agents), cores(u.dpkg), cores(u.versity), cores(u.driver))
}

// fleet starts o.agents agents on release 1, measures the idle request
// rate, publishes release 2 and measures how long each agent takes to
// install it.
func (b *bench) fleet(ctx context.Context, out io.Writer) error {
	n, interval := b.o.agents, b.o.interval
	if _, _, err := b.publish(ctx, "1", fleet.DefaultPolicy()); err != nil {
		return err
	}
	// Start times spread over one interval, like a fleet whose hosts
	// booted at different times; all at once would also put every first
	// install (200 dpkg runs) in the same second.
	b.logf("starting %d autoupdate processes over %v (--interval %v, default jitter), release 1 published", n, interval, interval)
	env := b.agentEnv()
	startAll := time.Now()
	for i := range n {
		if _, err := b.startAgent(ctx, fmt.Sprintf("agent-%03d", i), env); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval / time.Duration(n)):
		}
	}
	if _, err := b.waitInstalled(ctx, "1", time.Second); err != nil {
		return err
	}
	b.logf("all %d agents installed release 1, %v after the first start", n, time.Since(startAll).Round(time.Second))
	// Let the last status writes land, then measure the steady state.
	if err := b.sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	s0, err := b.snapshot()
	if err != nil {
		return err
	}
	b.logf("measuring the idle fleet for %v", b.o.idleWindow)
	if err := b.sleep(ctx, b.o.idleWindow); err != nil {
		return err
	}
	s1, err := b.snapshot()
	if err != nil {
		return err
	}
	idleReqs := b.proxy.between(s0.at, s1.at)
	idleWin := s1.at.Sub(s0.at)
	idleCPU := since(s0, s1)
	rss, hwm, err := b.memory()
	if err != nil {
		return err
	}

	published, m2, err := b.publish(ctx, "2", b.o.policy)
	if err != nil {
		return err
	}
	r2, err := fleet.RolloutOf(m2)
	if err != nil {
		return err
	}
	s2, err := b.snapshot()
	if err != nil {
		return err
	}
	b.logf("published release 2; waiting for %d agents to install it", n)
	seen, err := b.waitInstalled(ctx, "2", 100*time.Millisecond)
	if err != nil {
		return err
	}
	s3, err := b.snapshot()
	if err != nil {
		return err
	}
	// The status objects' Since is the agent's own clock (the same
	// machine's) at the moment it recorded the install as done. Each
	// host's time counts from when it could first adopt the release: the
	// publish, or the start of its wave when that is later.
	lat := make([]time.Duration, n)
	covered := make([]time.Time, n)
	done := make([]time.Time, n)
	var last time.Time
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i, a := range b.agents {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := b.statusOK(ctx, a.host, "2", 30*time.Second)
			if err != nil {
				errs <- err
				return
			}
			covered[i] = published
			if c := r2.CoveredAt(a.host); c.After(published) {
				covered[i] = c
			}
			done[i] = st.Since
			lat[i] = st.Since.Sub(covered[i])
			mu.Lock()
			if st.Since.After(last) {
				last = st.Since
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	polled := make([]time.Duration, n)
	for i, t := range seen {
		polled[i] = t.Sub(published)
	}
	rollWin := last.Sub(published)
	rollReqs := b.proxy.between(published, last.Add(time.Millisecond))
	rollCPU := since(s2, s3)
	cpuWin := s3.at.Sub(s2.at)
	failed := 0
	for _, a := range b.agents {
		if logHas(a.log, "level=ERROR") {
			failed++
		}
	}
	_, hwmAfter, err := b.memory()
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	b.logf("all %d agents installed release 2; stopping them", n)
	b.stopAgents()

	ib, rb := summarise(idleReqs), summarise(rollReqs)
	p50, p95, pmax := percentile(lat, 50), percentile(lat, 95), percentile(lat, 100)
	target := interval + rolloutSlack
	fmt.Fprintf(out, "\nFleet: %d autoupdate processes, each with its own state dir and dpkg root, no service, --interval %v (jitter 20%%); release 2: %s\n", n, interval, r2.Policy)
	fmt.Fprintf(out, "Idle (%v): %d requests, %.1f req/s (%d HEAD, %d status PUT, %d other, %s), peak %d in one second\n",
		idleWin.Round(time.Second), ib.total, float64(ib.total)/idleWin.Seconds(), ib.head, ib.putStatus, ib.other+ib.get, ib.errorText(), peakPerSecond(idleReqs))
	fmt.Fprintf(out, "  CPU: %s\n", idleCPU.String(idleWin))
	fmt.Fprintf(out, "  agent memory: VmRSS median %s (max %s), VmHWM median %s (max %s)\n",
		mb(percentile(rss, 50)), mb(percentile(rss, 100)), mb(percentile(hwm, 50)), mb(percentile(hwm, 100)))
	fmt.Fprintf(out, "  after the rollout: VmHWM median %s (max %s)\n", mb(percentile(hwmAfter, 50)), mb(percentile(hwmAfter, 100)))
	fmt.Fprintf(out, "Rollout of release 2 (publish to last install, %v): %d requests, %.1f req/s (%d HEAD, %d GET, %d status PUT, %d other, %s), peak %d in one second\n",
		rollWin.Round(time.Millisecond), rb.total, float64(rb.total)/rollWin.Seconds(), rb.head, rb.get, rb.putStatus, rb.other, rb.errorText(), peakPerSecond(rollReqs))
	fmt.Fprintf(out, "  CPU: %s\n", rollCPU.String(cpuWin))
	fmt.Fprintf(out, "  publish (or, staged, the host's wave start) to installed, from status objects: p50 %v, p95 %v, max %v\n", p50.Round(time.Millisecond), p95.Round(time.Millisecond), pmax.Round(time.Millisecond))
	fmt.Fprintf(out, "  publish to installed, seen in the dpkg databases (100 ms polls): p50 %v, p95 %v, max %v\n",
		percentile(polled, 50).Round(time.Millisecond), percentile(polled, 95).Round(time.Millisecond), percentile(polled, 100).Round(time.Millisecond))
	fmt.Fprintf(out, "  agents that logged an error during the run: %d; load average at the end: %s\n\n", failed, strings.TrimSpace(string(load)))
	from := "publish"
	if r2.Staged() {
		from = "wave start"
	}
	table(out, [][]string{
		{"metric", "measured", "target", "result"},
		{from + " to installed, p50", p50.Round(time.Millisecond).String(), "", ""},
		{from + " to installed, p95", p95.Round(time.Millisecond).String(), fmt.Sprintf("<= %v (interval + 5s)", target), verdict(p95 <= target)},
		{from + " to installed, max", pmax.Round(time.Millisecond).String(), "", ""},
		{"S3 requests/s, idle", fmt.Sprintf("%.1f", float64(ib.total)/idleWin.Seconds()), fmt.Sprintf("%.1f (agents / interval)", float64(n)/interval.Seconds()), ""},
		{"S3 requests/s, rollout", fmt.Sprintf("%.1f", float64(rb.total)/rollWin.Seconds()), "", ""},
		{"agent RSS, median (idle)", mb(percentile(rss, 50)), "", ""},
		{"agent peak RSS, median (after rollout)", mb(percentile(hwmAfter, 50)), "< 20.0 MB (the idle target)", verdict(percentile(hwmAfter, 50) < idleRSSTarget)},
	})
	if !r2.IsDefault() {
		rolloutReport(out, rolloutRun{
			rollout: r2, hosts: b.hostNames(), published: published,
			covered: covered, done: done, idle: idleReqs, idleWin: idleWin, roll: rollReqs, rollWin: rollWin,
		})
	}
	return nil
}

// hostNames lists the agents' hosts, in start order.
func (b *bench) hostNames() []string {
	hosts := make([]string, len(b.agents))
	for i, a := range b.agents {
		hosts[i] = a.host
	}
	return hosts
}

// memory reads VmRSS and VmHWM of every agent.
func (b *bench) memory() (rss, hwm []int64, err error) {
	for _, a := range b.agents {
		m, err := readMemory(a.pid())
		if err != nil {
			return nil, nil, err
		}
		rss, hwm = append(rss, m.rss), append(hwm, m.peak)
	}
	return rss, hwm, nil
}

// logHas reports whether the file at path contains s.
func logHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}
