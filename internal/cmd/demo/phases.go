package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
)

// firstInstall publishes 1.0.0, starts the agents, follows the install
// with pkgdeb wait and starts each host's hello.
func (d *driver) firstInstall(ctx context.Context) error {
	t0 := time.Now()
	if _, err := d.pkgdeb(ctx, "publish", "--sign-key", d.key(), d.debs["1.0.0"], d.channel.String()); err != nil {
		return err
	}
	if err := d.startAgents(ctx); err != nil {
		return err
	}
	d.s.say("no CI step published with --wait here (no agent ran yet): pkgdeb wait follows the channel's current release")
	code, _, err := d.pkgdebExit(ctx, "wait", "--interval", "250ms", "--timeout", "2m", d.channel.String())
	if err != nil || code != 0 {
		return fmt.Errorf("pkgdeb wait: exit %d, %v", code, err)
	}
	if err := d.eachHost(ctx, d.channel, func(h *host, st fleet.HostStatus) {
		h.installed = st.Since.Sub(t0)
		d.s.say("%s: agent installed hello 1.0.0 into its dpkg root %.1fs after the publish", h.name, h.installed.Seconds())
	}); err != nil {
		return err
	}
	for _, h := range d.hosts {
		if err := d.startHello(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// eachHost reads every host's status object on channel ch once and
// calls fn for each.
func (d *driver) eachHost(ctx context.Context, ch release.Address, fn func(h *host, st fleet.HostStatus)) error {
	fs, err := fleet.New(d.rel.Records(), nil).ReadStatus(ctx, ch)
	if err != nil {
		return err
	}
	for _, st := range fs.Hosts {
		fn(d.host(st.Host), st)
	}
	return nil
}

// upgrade publishes 1.1.0 under load with --wait, and checks that every
// host serves it from a new process, with no request failed.
func (d *driver) upgrade(ctx context.Context) error {
	d.s.say("load: %d keep-alive clients per host, every request counted; a refused, reset or unanswered request is a failure", d.o.workers)
	return d.underLoad(ctx, loadStep{phase: "the 1.1.0 rollout", publish: d.publisher("1.1.0", false), channel: d.channel, each: func(h *host, st fleet.HostStatus, after time.Duration) {
		h.switched = after
		h.newPID = readPID(h.pidFile)
		d.s.say("%s: now serving 1.1.0 (GET /version: %s), pid %d -> %d, %.1fs after the publish",
			h.name, strings.TrimSpace(get(h.addr, "/version")), h.oldPID, h.newPID, h.switched.Seconds())
	}})
}

// badRelease publishes the broken 1.2.0 under load with --wait
// --keep-going, which exits 1 once every host rolled back to 1.1.0 by
// itself, and checks that no request failed.
func (d *driver) badRelease(ctx context.Context) error {
	note := fmt.Sprintf("each agent installs 1.2.0 and signals hello; the new binary dies, the old process keeps serving; after --health-timeout %s the agent puts 1.1.0 back; --keep-going waits for every host (a CI step would stop at the first)",
		d.o.healthTimeout)
	each := func(h *host, st fleet.HostStatus, after time.Duration) {
		if st.State != fleet.StateRolledBack || st.Version != "1.1.0" {
			d.s.say("%s: %s %s, not rolled back to 1.1.0", h.name, st.State, st.Version)
			return
		}
		h.rolledBack = after
		msg := strings.ReplaceAll(st.Error, h.dir+"/", "HOST/")
		d.s.say("%s: rolled back to 1.1.0 by itself %.1fs after the publish (serving %s, pid %d); reason: %s",
			h.name, h.rolledBack.Seconds(), strings.TrimSpace(get(h.addr, "/version")), readPID(h.pidFile), msg)
	}
	err := d.underLoad(ctx, loadStep{phase: "the bad release and its rollback", note: note, publish: d.publisher("1.2.0", true), wantCode: 1, channel: d.channel, each: each})
	if err != nil {
		return err
	}
	for _, h := range d.hosts {
		if v := strings.TrimSpace(get(h.addr, "/version")); v != "1.1.0" {
			return fmt.Errorf("%s serves %q after the rollback, want 1.1.0", h.name, v)
		}
	}
	return nil
}

// loadStep is one publish made while every host is under load.
type loadStep struct {
	phase string // what the load counts, e.g. "the 1.1.0 rollout"
	note  string // said once the load runs, before the publish
	// publish publishes with --wait and returns pkgdeb's exit status,
	// which must be wantCode.
	publish  func(ctx context.Context) (int, error)
	wantCode int
	// each is called for every host with its status on channel and the
	// time from the publish to that state.
	channel release.Address
	each    func(h *host, st fleet.HostStatus, after time.Duration)
}

// underLoad runs step. It fails when a request failed during it.
func (d *driver) underLoad(ctx context.Context, step loadStep) error {
	load := demo.StartLoad(ctx, d.addrs(), d.o.workers, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // let the load reach full speed first
	if step.note != "" {
		d.s.say("%s", step.note)
	}
	t0 := time.Now()
	code, err := step.publish(ctx)
	if err == nil && code != step.wantCode {
		err = fmt.Errorf("pkgdeb publish --wait: exit %d, want %d", code, step.wantCode)
	}
	if err == nil {
		err = d.eachHost(ctx, step.channel, func(h *host, st fleet.HostStatus) { step.each(h, st, st.Since.Sub(t0)) })
	}
	time.Sleep(500 * time.Millisecond) // requests after the switch count too
	failed := d.account(load.Stop(), step.phase)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed during %s", failed, step.phase)
	}
	return nil
}

// rollbackChannel rolls the channel back as an operator would, with
// --wait, so that new servers do not install 1.2.0; the fleet already
// runs 1.1.0, so the wait ends at the first reading.
func (d *driver) rollbackChannel(ctx context.Context) error {
	d.s.say("the fleet healed itself, but the channel still offers 1.2.0 to new servers: roll the channel back")
	args := append([]string{"rollback", d.channel.String(), "--to", "previous", "--sign-key", d.key()}, d.waitArgs()...)
	if _, err := d.pkgdeb(ctx, args...); err != nil {
		return err
	}
	if _, err := d.pkgdeb(ctx, "history", d.channel.String()); err != nil {
		return err
	}
	return d.status(ctx)
}

// status shows the fleet summary. pkgdeb status exits 1 unless every
// host runs the channel's current release, so it is a check too.
func (d *driver) status(ctx context.Context) error {
	_, err := d.pkgdeb(ctx, "status", d.channel.String())
	return err
}

// account adds a phase's load results to each host and prints them; it
// returns the number of failed requests.
func (d *driver) account(results []*realparts.LoadResult, phase string) int64 {
	var req, fail int64
	for i, r := range results {
		h := d.hosts[i]
		h.requests += r.Requests
		h.failures += r.Failures
		req += r.Requests
		fail += r.Failures
		if r.Failures > 0 {
			d.s.say("%s: %d of %d requests failed: %s", h.name, r.Failures, r.Requests, demo.Errors(r))
		}
	}
	d.s.say("during %s: %d requests served by %d hosts, %d failed", phase, req, len(results), fail)
	return fail
}
