package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/release"
)

// DefaultLeaseTTL is how long an update slot stays taken without renewal:
// a host that dies while updating blocks its slot this long at most.
const DefaultLeaseTTL = time.Minute

// States of a host that leaves the channel's release for later.
const (
	// StateWaiting: the release's wave does not cover this host yet, or
	// every update slot is taken.
	StateWaiting = release.StateWaiting
	// StateHalted: the release is halted.
	StateHalted = release.StateHalted
)

// deferred is Check's internal outcome for a release left for later
// (waiting, halted): the ETag is not remembered, so the next poll
// considers the release again. Check returns "" for it.
const deferred Outcome = "deferred"

// admission is a release the host may install now.
type admission struct {
	rollout *release.Rollout
	// slots is the number of update slots the policy has (0: none).
	slots int
	// lease is the update slot held, nil when the policy needs none.
	lease *release.Lease
	stop  func() error // stops renewing lease
}

// admit applies the release's rollout policy before anything is
// downloaded: the wave must cover this host, the release must not be
// halted, and, when the policy caps the hosts updating at once (or halts
// after failures), the host must take an update slot. With the slot held
// it checks once more, counting failures and the other hosts trying the
// release, so that no more than HaltAfter hosts ever fail it. It returns
// nil when the host must wait; the status then says why, and is rewritten
// only when that changes.
//
// A release without a policy (or with the default one) is admitted at
// once, with no request. Otherwise, requests per check: none while the
// wave does not cover the host; one GET (the halt record) once it does;
// then one GET per update slot and one PUT while slots are taken; once a
// slot is held, the halt record's GET again and, under halt-after only, a
// LIST of the failures and one GET per slot.
func (a *Agent) admit(ctx context.Context, obj *release.Object) (*admission, error) {
	m := obj.Manifest
	r, err := release.RolloutOf(m)
	if err != nil {
		return nil, &refusalError{err}
	}
	if r.IsDefault() {
		// Every host at once, as before policies existed: no request
		// and no permission beyond reading the release.
		return &admission{rollout: r}, nil
	}
	host := a.cfg.Host
	now := a.cfg.Now()
	w := r.WaveAt(now)
	hr := &release.HostRollout{Wave: w.Index + 1, Waves: w.Waves, Percent: w.Percent, Place: math.Round(r.Place(host)*100) / 100}
	if r.Staged() {
		hr.CoveredAt = r.CoveredAt(host).UTC()
	}
	target := &state.Release{Version: m.Version, SHA256: m.SHA256, VersionID: obj.VersionID}
	if !r.Covers(host, now) {
		hr.Waiting = fmt.Sprintf("%s does not cover this host (at %.1f%%) until %s", w, r.Place(host), hr.CoveredAt.Format(time.RFC3339))
		a.hold(ctx, StateWaiting, target, hr)
		return nil, nil
	}
	ch := a.cfg.Channel
	rec, err := a.cfg.Client.ReadHalt(ctx, ch, m.SHA256)
	if err != nil {
		return nil, err
	}
	if rec != nil && rec.Halted {
		hr.Halted = rec.Describe()
		a.hold(ctx, StateHalted, target, hr)
		return nil, nil
	}
	slots := r.MaxUpdating
	if r.HaltAfter > 0 && (slots == 0 || r.HaltAfter < slots) {
		// More hosts trying at once than may fail would let more than
		// HaltAfter fail before anyone sees the halt.
		slots = r.HaltAfter
	}
	if slots == 0 {
		return &admission{rollout: r}, nil
	}
	lease, err := a.cfg.Client.AcquireLease(ctx, ch, release.LeaseRequest{
		Slots: slots, Holder: host, Version: m.Version, SHA256: m.SHA256, TTL: a.cfg.LeaseTTL, Now: a.cfg.Now,
	})
	if errors.Is(err, release.ErrNoLease) {
		hr.Waiting = fmt.Sprintf("no free update slot of %d (%s)", slots, policyLimits(r))
		a.hold(ctx, StateWaiting, target, hr)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ad := &admission{rollout: r, slots: slots, lease: lease}
	why, halted, err := a.mayTry(ctx, r, lease, slots)
	if err == nil && why == "" {
		ad.stop = lease.Keep(context.WithoutCancel(ctx), a.cfg.LeaseTTL/3)
		return ad, nil
	}
	a.release(ad)
	if err != nil {
		return nil, err
	}
	if halted {
		hr.Halted = why
		a.hold(ctx, StateHalted, target, hr)
	} else {
		hr.Waiting = why
		a.hold(ctx, StateWaiting, target, hr)
	}
	return nil, nil
}

// mayTry is the check made with an update slot held: the release is not
// halted (failures counted, not only the halt record), and the failures
// so far plus the other hosts trying it now plus this one stay within
// HaltAfter. Those hosts wrote their failure or their lease before this
// host read them, so two hosts cannot both miss each other. It returns
// why not ("" when the host may go ahead) and whether that is a halt.
func (a *Agent) mayTry(ctx context.Context, r *release.Rollout, lease *release.Lease, slots int) (why string, halted bool, err error) {
	if r.HaltAfter == 0 {
		// Failures do not count, so no listing: only a halt (pkgdeb
		// halt) that landed while this host took its slot.
		rec, err := a.cfg.Client.ReadHalt(ctx, a.cfg.Channel, r.SHA256)
		if err != nil || rec == nil || !rec.Halted {
			return "", false, err
		}
		return rec.Describe(), true, nil
	}
	st, err := a.cfg.Client.ReadRolloutState(ctx, a.cfg.Channel, r.SHA256, r.HaltAfter)
	if err != nil {
		return "", false, err
	}
	if st.Halted {
		return st.Reason, true, nil
	}
	failed := len(st.FailedHosts)
	if st.Record != nil {
		failed -= st.Record.Forgiven
	}
	leases, err := a.cfg.Client.ReadLeases(ctx, a.cfg.Channel, slots)
	if err != nil {
		return "", false, err
	}
	now := a.cfg.Now()
	trying := 0
	for _, l := range leases {
		if l.Slot != lease.Slot() && l.Record.Held(now) && l.Record.SHA256 == r.SHA256 {
			trying++
		}
	}
	if failed+trying+1 > r.HaltAfter {
		return fmt.Sprintf("%d hosts failed this release and %d are trying it; halt-after %d: waiting for them", failed, trying, r.HaltAfter), false, nil
	}
	return "", false, nil
}

func policyLimits(r *release.Rollout) string {
	switch {
	case r.MaxUpdating > 0 && r.HaltAfter > 0:
		return fmt.Sprintf("max-updating %d, halt-after %d", r.MaxUpdating, r.HaltAfter)
	case r.MaxUpdating > 0:
		return fmt.Sprintf("max-updating %d", r.MaxUpdating)
	default:
		return fmt.Sprintf("halt-after %d", r.HaltAfter)
	}
}

// hold reports that the host leaves target for later, in state st (waiting
// or halted) for the reason in hr. Nothing is written or logged when the
// host already reported the same: a waiting host polls every interval.
func (a *Agent) hold(ctx context.Context, st string, target *state.Release, hr *release.HostRollout) {
	a.mu.Lock()
	cur := a.status
	a.mu.Unlock()
	if cur.State == st && cur.Target != nil && cur.Target.SHA256 == target.SHA256 && cur.Rollout != nil &&
		cur.Rollout.Waiting == hr.Waiting && cur.Rollout.Halted == hr.Halted && cur.Rollout.Wave == hr.Wave {
		return
	}
	a.log.Info("release "+st, "version", target.Version, "sha256", target.SHA256, "reason", hr.Waiting+hr.Halted)
	a.setStatus(st, target, "")
	a.mu.Lock()
	a.status.Rollout = hr
	a.mu.Unlock()
	a.report(ctx)
}

// unhold ends a waiting or halted state when the channel moved to a
// release the host will not install (it runs it already, or it failed
// here before): the host is back to idle.
func (a *Agent) unhold(ctx context.Context) {
	a.mu.Lock()
	st := a.status.State
	a.mu.Unlock()
	if st != StateWaiting && st != StateHalted {
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
	if err := ad.lease.Release(ctx); err != nil && !errors.Is(err, release.ErrLeaseLost) {
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
	lease, err := a.cfg.Client.AcquireLease(ctx, a.cfg.Channel, release.LeaseRequest{
		Slots: rel.Slots, Holder: a.cfg.Host, Version: rel.Version, SHA256: rel.SHA256, TTL: a.cfg.LeaseTTL, Now: a.cfg.Now,
	})
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
	f := release.FailureRecord{Host: a.cfg.Host, Version: rel.Version, SHA256: rel.SHA256, Outcome: string(outcome), Error: msg, Time: a.cfg.Now().UTC()}
	if err := a.cfg.Client.RecordFailure(ctx, a.cfg.Channel, f); err != nil {
		a.log.Warn("could not record the failure for the fleet", "err", err)
		return
	}
	if rel.HaltAfter == 0 {
		return
	}
	st, err := a.cfg.Client.HaltIfFailed(ctx, a.cfg.Channel, rel.SHA256, rel.Version, rel.HaltAfter, a.cfg.Host)
	if err != nil {
		a.log.Warn("could not check whether the release is halted", "err", err)
		return
	}
	if st.Halted {
		a.log.Warn("release halted for the fleet", "version", rel.Version, "sha256", rel.SHA256, "reason", st.Reason)
	}
}
