package agent

import (
	"context"
	"errors"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// DefaultLeaseTTL is how long an update slot stays taken without renewal:
// a host that dies while updating blocks its slot this long at most.
const DefaultLeaseTTL = time.Minute

// States of a host that leaves the channel's release for later.
const (
	// StateWaiting: the release's wave does not cover this host yet, or
	// every update slot is taken.
	StateWaiting = fleet.StateWaiting
	// StateHalted: the release is halted.
	StateHalted = fleet.StateHalted
)

// deferred is Check's internal outcome for a release left for later
// (waiting, halted): the ETag is not remembered, so the next poll
// considers the release again. Check returns "" for it.
const deferred Outcome = "deferred"

// admission is a release the host may install now.
type admission struct {
	rollout *fleet.Rollout
	// slots is the number of update slots the policy has (0: none).
	slots int
	// lease is the update slot held, nil when the policy needs none.
	lease *fleet.Lease
	stop  func() error // stops renewing lease
}

// admit applies the release's rollout policy before anything is
// downloaded, through fleet's decisions in their order: the wave must
// cover this host, now must be inside a maintenance window (if the policy
// has any), the service must not hold its update (see serviceHolds), the
// release must not be halted, its gate (from the second wave on) must
// pass, and, when the policy caps the hosts updating at once (or halts
// after failures), the host must take an update slot and, with it held,
// pass MayTry, so that no more than HaltAfter hosts ever fail it. It
// returns nil when the host
// must wait; the status then says why, and is rewritten only when that
// changes.
//
// A release without a policy (or with the default one) is admitted at
// once, with no request. Otherwise, requests per check: none while the
// wave does not cover the host or it is outside the windows (nor while
// the service holds); one GET (the halt record) once it does;
// then one GET per update slot and one PUT while slots are taken; once a
// slot is held, the halt record's GET again and, under halt-after only, a
// LIST of the failures and one GET per slot. A gate costs one request to
// it (a GET of its URL, a DescribeAlarms) per wave in which it is asked
// and, while it fails, one more per wave interval (see
// fleet.GateCheck.Due). A release found halted by its failures costs only
// the halt record's GET until a resume.
func (a *Agent) admit(ctx context.Context, obj *release.Object) (*admission, error) {
	m := obj.Manifest
	r, err := fleet.RolloutOf(m)
	if err != nil {
		return nil, &refusalError{err}
	}
	host, now := a.cfg.Host, a.cfg.Now()
	target := &state.Release{Version: m.Version, SHA256: m.SHA256, VersionID: obj.VersionID}
	hold := func(d fleet.Decision) (*admission, error) {
		a.hold(ctx, d, target, r.Position(host, now))
		return nil, nil
	}
	if d := r.Reach(host, now); d.Verdict != fleet.Adopt {
		return hold(d)
	}
	if d, opens := r.InWindow(now); d.Verdict != fleet.Adopt {
		a.waitForWindow(ctx, r, d, opens, target, now)
		return nil, nil
	}
	if a.serviceHolds(ctx, target) {
		return nil, nil
	}
	if r.IsDefault() {
		// Every host at once, as before policies existed: no request
		// and no permission beyond reading the release.
		return &admission{rollout: r}, nil
	}
	rec, err := a.cfg.Fleet.ReadHalt(ctx, a.cfg.Channel, m.SHA256)
	if err != nil {
		return nil, err
	}
	if d := fleet.Halted(rec); d.Verdict != fleet.Adopt {
		return hold(d)
	}
	if d := a.failHalt.Stands(m.SHA256, rec); d.Verdict != fleet.Adopt {
		// Found before with a slot held; taking one again at every
		// poll would only keep the slots busy for hosts that check.
		return hold(d)
	}
	if d := a.gate(ctx, r, now); d.Verdict != fleet.Adopt {
		return hold(d)
	}
	slots := r.Slots()
	if slots == 0 {
		return &admission{rollout: r}, nil
	}
	lease, err := a.takeSlot(ctx, slots, m.Version, m.SHA256)
	if errors.Is(err, fleet.ErrNoLease) {
		return hold(r.NoSlot())
	}
	if err != nil {
		return nil, err
	}
	ad := &admission{rollout: r, slots: slots, lease: lease}
	d, err := a.mayTry(ctx, r, lease, slots)
	if err == nil && d.Verdict == fleet.Adopt {
		ad.stop = lease.Keep(context.WithoutCancel(ctx), a.cfg.LeaseTTL/3)
		return ad, nil
	}
	a.release(ad)
	if err != nil {
		return nil, err
	}
	return hold(d)
}

// takeSlot takes one of slots update slots for installing version.
func (a *Agent) takeSlot(ctx context.Context, slots int, version, sha string) (*fleet.Lease, error) {
	return a.cfg.Fleet.AcquireLease(ctx, a.cfg.Channel, fleet.LeaseRequest{
		Slots: slots, Holder: a.cfg.Host, Version: version, SHA256: sha, TTL: a.cfg.LeaseTTL, Now: a.cfg.Now,
	})
}

// mayTry reads what fleet.Rollout.MayTry needs with an update slot held
// and decides. Without HaltAfter failures do not count, so there is no
// listing: only a halt (pkgdeb halt) that landed while this host took its
// slot.
func (a *Agent) mayTry(ctx context.Context, r *fleet.Rollout, lease *fleet.Lease, slots int) (fleet.Decision, error) {
	if r.HaltAfter == 0 {
		rec, err := a.cfg.Fleet.ReadHalt(ctx, a.cfg.Channel, r.SHA256)
		return fleet.Halted(rec), err
	}
	st, err := a.cfg.Fleet.ReadRolloutState(ctx, a.cfg.Channel, r.SHA256, r.HaltAfter)
	if err != nil {
		return fleet.Decision{}, err
	}
	if st.Halted {
		a.failHalt = fleet.FailureHaltOf(st)
		return fleet.Decision{Verdict: fleet.Halt, Reason: st.Reason}, nil
	}
	leases, err := a.cfg.Fleet.ReadLeases(ctx, a.cfg.Channel, slots)
	if err != nil {
		return fleet.Decision{}, err
	}
	return r.MayTry(st, leases, lease.Slot(), a.cfg.Now()), nil
}

// hold reports that the host leaves target for later as d says (waiting,
// halted or gated), at its place hr in the rollout. Nothing is written or logged
// when the host already reported the same: a waiting host polls every
// interval.
func (a *Agent) hold(ctx context.Context, d fleet.Decision, target *state.Release, hr *fleet.HostRollout) {
	st := string(d.Verdict)
	switch d.Verdict {
	case fleet.Halt:
		hr.Halted = d.Reason
	case fleet.Gated:
		hr.Gated = d.Reason
	default:
		hr.Waiting = d.Reason
	}
	a.mu.Lock()
	cur := a.status
	a.mu.Unlock()
	if cur.State == st && cur.Target != nil && cur.Target.SHA256 == target.SHA256 && cur.Rollout != nil &&
		cur.Rollout.Reason() == hr.Reason() && cur.Rollout.Wave == hr.Wave {
		return
	}
	a.log.Info("release "+st, "version", target.Version, "sha256", target.SHA256, "reason", hr.Reason())
	a.setStatus(st, target, "")
	a.mu.Lock()
	a.status.Rollout = hr
	a.mu.Unlock()
	a.report(ctx)
}

// unhold ends a waiting, halted, held or gated state, or a download that
// found no room (reportNoRoom), when the channel moved to a release the
// host will not install (it runs it already, or it failed here before):
// the host is back to idle.
func (a *Agent) unhold(ctx context.Context) {
	a.mu.Lock()
	st, noRoom := a.status.State, a.status.State == idleState(a.s) && a.status.Target != nil
	a.mu.Unlock()
	if st != StateWaiting && st != StateHalted && st != StateHeld && st != StateGated && !noRoom {
		return
	}
	a.setStatus(idleState(a.s), nil, "")
	a.report(ctx)
}

// release gives the update slot back, on a context of its own so that it
// also happens when ctx ended; a slot not given back expires.
func (a *Agent) release(ad *admission) {
	if ad == nil || ad.lease == nil {
		return
	}
	if ad.stop != nil {
		if err := ad.stop(); err != nil {
			a.log.Warn("update slot lost while installing", "slot", ad.lease.Slot(), "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ad.lease.Release(ctx); err != nil && !errors.Is(err, fleet.ErrLeaseLost) {
		a.log.Warn("could not give the update slot back; it expires by itself", "slot", ad.lease.Slot(), "err", err)
	}
}

// readmit takes an update slot again for an install interrupted by a
// restart, when its policy has slots: the one the dead agent held (named
// for this host) or a free one, so that the cap holds while the install
// converges. Without a free slot it goes on anyway and says so: a package
// left half installed must not wait for other hosts.
func (a *Agent) readmit(ctx context.Context, rel *state.Release) *admission {
	ad := &admission{slots: rel.Slots}
	if rel.Slots == 0 {
		return ad
	}
	lease, err := a.takeSlot(ctx, rel.Slots, rel.Version, rel.SHA256)
	if err != nil {
		a.log.Warn("resuming the interrupted install without an update slot", "version", rel.Version, "err", err)
		return ad
	}
	ad.lease = lease
	ad.stop = lease.Keep(context.WithoutCancel(ctx), a.cfg.LeaseTTL/3)
	return ad
}

// recordFailure writes this host's failure of rel and, under a HaltAfter
// policy, halts the release when this failure reaches it. It runs before
// the update slot is given back, so whoever takes the slot next counts
// it.
func (a *Agent) recordFailure(ctx context.Context, rel *state.Release, outcome Outcome, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	f := fleet.FailureRecord{Host: a.cfg.Host, Version: rel.Version, SHA256: rel.SHA256, Outcome: string(outcome), Error: msg, Time: a.cfg.Now().UTC()}
	if err := a.cfg.Fleet.RecordFailure(ctx, a.cfg.Channel, f); err != nil {
		a.log.Warn("could not record the failure for the fleet", "err", err)
		return
	}
	if rel.HaltAfter == 0 {
		return
	}
	st, err := a.cfg.Fleet.HaltIfFailed(ctx, a.cfg.Channel, rel.SHA256, rel.Version, rel.HaltAfter, a.cfg.Host)
	if err != nil {
		a.log.Warn("could not check whether the release is halted", "err", err)
		return
	}
	if st.Halted {
		a.log.Warn("release halted for the fleet", "version", rel.Version, "sha256", rel.SHA256, "reason", st.Reason)
	}
}
