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
	"github.com/debfleet/debfleet/internal/realparts"
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
	if err := b.startFleet(ctx); err != nil {
		return err
	}
	idle, err := b.measureIdle(ctx)
	if err != nil {
		return err
	}
	roll, err := b.measureRollout(ctx)
	if err != nil {
		return err
	}
	b.logf("all %d agents installed release 2; stopping them", b.o.agents)
	b.stopAgents()
	b.fleetReport(out, idle, roll)
	if !roll.rollout.IsDefault() {
		rolloutReport(out, rolloutRun{
			rollout: roll.rollout, hosts: b.hostNames(), published: roll.published,
			covered: roll.covered, done: roll.done, roll: roll.reqs, rollWin: roll.win,
		})
	}
	kindReport(out, idle.reqs, idle.win, roll.reqs, roll.win, b.o.agents)
	return nil
}

// startFleet publishes release 1, starts o.agents agents and waits until
// every one has installed it.
func (b *bench) startFleet(ctx context.Context) error {
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
	return nil
}

// fleetIdle is what the idle fleet cost over its window.
type fleetIdle struct {
	reqs []realparts.S3Request
	win  time.Duration
	cpu  cpuUse
	mem  []memory // of each agent at the end of the window
}

// measureIdle measures the steady state of a fleet that has installed the
// current release, over o.idleWindow.
func (b *bench) measureIdle(ctx context.Context) (fleetIdle, error) {
	var idle fleetIdle
	// Let the last status writes land, then measure the steady state.
	if err := b.sleep(ctx, 2*time.Second); err != nil {
		return idle, err
	}
	s0, err := b.snapshot()
	if err != nil {
		return idle, err
	}
	b.logf("measuring the idle fleet for %v", b.o.idleWindow)
	if err := b.sleep(ctx, b.o.idleWindow); err != nil {
		return idle, err
	}
	s1, err := b.snapshot()
	if err != nil {
		return idle, err
	}
	idle.reqs, idle.win, idle.cpu = b.proxy.Between(s0.at, s1.at), s1.at.Sub(s0.at), since(s0, s1)
	idle.mem, err = b.memory()
	return idle, err
}

// fleetRollout is what the rollout of release 2 measured.
type fleetRollout struct {
	rollout   *fleet.Rollout
	published time.Time
	// Per agent, in start order: when its wave covered it (or the
	// publish, when later), when its status said installed, the time
	// between the two, and the time from the publish until the driver
	// saw the version in its dpkg database.
	covered, done []time.Time
	lat, polled   []time.Duration
	// noticed is, per host with a status PUT "installing" at the proxy,
	// the time from covered to that PUT (the HEAD that saw the release,
	// its LIST, GET and checks), and installs from that PUT to installed
	// (dpkg, and here its wait for a core).
	noticed, installs []time.Duration
	// reqs and win are the requests from the publish to the last
	// install; cpu was used over cpuWin, the publish to the last agent
	// seen installed.
	reqs        []realparts.S3Request
	win, cpuWin time.Duration
	cpu         cpuUse
	failed      int      // agents that logged an error
	mem         []memory // of each agent after the rollout
	load        string   // /proc/loadavg at the end
}

// measureRollout publishes release 2 with o.policy and measures how long
// each agent takes to install it, and what that costs.
func (b *bench) measureRollout(ctx context.Context) (*fleetRollout, error) {
	published, m2, err := b.publish(ctx, "2", b.o.policy)
	if err != nil {
		return nil, err
	}
	r := &fleetRollout{published: published}
	if r.rollout, err = fleet.RolloutOf(m2); err != nil {
		return nil, err
	}
	s2, err := b.snapshot()
	if err != nil {
		return nil, err
	}
	b.logf("published release 2; waiting for %d agents to install it", b.o.agents)
	seen, err := b.waitInstalled(ctx, "2", 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	s3, err := b.snapshot()
	if err != nil {
		return nil, err
	}
	last, err := b.installTimes(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, t := range seen {
		r.polled = append(r.polled, t.Sub(published))
	}
	// The window ends when S3 has the last host's "ok": that PUT leaves
	// after the moment its status records.
	last = lastStatus(b.proxy.Between(published, time.Now()), fleet.StateOK, last)
	r.win = last.Sub(published)
	r.reqs = b.proxy.Between(published, last.Add(time.Millisecond))
	r.noticed, r.installs = splitLatency(installingAt(r.reqs, b.hostNames()), r.covered, r.done)
	r.cpu, r.cpuWin = since(s2, s3), s3.at.Sub(s2.at)
	for _, a := range b.agents {
		if logHas(a.log, "level=ERROR") {
			r.failed++
		}
	}
	if r.mem, err = b.memory(); err != nil {
		return nil, err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	r.load = strings.TrimSpace(string(load))
	return r, nil
}

// installTimes reads every agent's status object and fills in r.covered,
// r.done and r.lat; it returns the last install.
//
// The status objects' Since is the agent's own clock (the same machine's)
// at the moment it recorded the install as done. Each host's time counts
// from when it could first adopt the release: the publish, or the start of
// its wave when that is later.
func (b *bench) installTimes(ctx context.Context, r *fleetRollout) (time.Time, error) {
	n := len(b.agents)
	r.lat, r.covered, r.done = make([]time.Duration, n), make([]time.Time, n), make([]time.Time, n)
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
			r.covered[i] = r.published
			if c := r.rollout.CoveredAt(a.host); c.After(r.published) {
				r.covered[i] = c
			}
			r.done[i] = st.Since
			r.lat[i] = st.Since.Sub(r.covered[i])
			mu.Lock()
			if st.Since.After(last) {
				last = st.Since
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	return last, <-errs
}

// hostNames lists the agents' hosts, in start order.
func (b *bench) hostNames() []string {
	hosts := make([]string, len(b.agents))
	for i, a := range b.agents {
		hosts[i] = a.host
	}
	return hosts
}

// memory reads the memory figures of every agent.
func (b *bench) memory() ([]memory, error) {
	ms := make([]memory, 0, len(b.agents))
	for _, a := range b.agents {
		m, err := readMemory(a.pid())
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// logHas reports whether the file at path contains s.
func logHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}
