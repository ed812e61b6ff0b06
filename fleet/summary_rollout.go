package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/debfleet/debfleet/release"
)

// Summary reads the status objects of channel ch, whose current version
// is cur (read by the caller from the channel), and the current release's
// rollout records, and summarizes them at now (see Summarize). Costs: one
// LIST per 1000 hosts and one GET per host; for a release with a policy,
// a halt record or failures, one GET and one LIST more, one GET per
// failure and one per update slot.
func (c *Client) Summary(ctx context.Context, ch release.Address, cur *release.Object, now time.Time, stale time.Duration) (*Summary, error) {
	return c.summary(ctx, ch, cur, now, stale, nil)
}

// summary is Summary, reading the status objects through cache (none
// when nil).
func (c *Client) summary(ctx context.Context, ch release.Address, cur *release.Object, now time.Time, stale time.Duration, cache *StatusCache) (*Summary, error) {
	fs, err := c.readStatus(ctx, ch, cache)
	if err != nil {
		return nil, err
	}
	s := Summarize(ch, cur, fs, now, stale)
	if cur.Manifest == nil {
		return s, nil
	}
	ro, err := RolloutOf(cur.Manifest)
	if err != nil {
		s.Verdict = fmt.Sprintf("the current release's rollout policy is malformed (agents refuse it): %v; %s", err, s.Verdict)
		return s, nil
	}
	ev, err := c.readRollout(ctx, ch, ro, now)
	if err != nil || ev == nil {
		return s, err
	}
	s.AddRollout(ro, *ev, now)
	return s, nil
}

// RolloutRecords is what a Summary shows of a release's rollout beyond
// its policy, as read from its records.
type RolloutRecords struct {
	State    *RolloutState
	Failures []FailureRecord
	// Leases are the channel's update slots (none for a policy without).
	Leases []LeaseSlot
}

// readRollout reads ro's rollout records; nil when a release with the
// default policy has neither a halt record nor failures.
func (c *Client) readRollout(ctx context.Context, ch release.Address, ro *Rollout, now time.Time) (*RolloutRecords, error) {
	st, err := c.ReadRolloutState(ctx, ch, ro.SHA256, ro.HaltAfter)
	if err != nil {
		return nil, err
	}
	if ro.IsDefault() && st.Record == nil && len(st.FailedHosts) == 0 {
		return nil, nil
	}
	ev := &RolloutRecords{State: st}
	if ev.Failures, err = c.ReadFailures(ctx, ch, ro.SHA256); err != nil {
		return nil, err
	}
	if slots := max(ro.MaxUpdating, ro.HaltAfter); slots > 0 {
		if ev.Leases, err = c.ReadLeases(ctx, ch, slots); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// AddRollout adds the current release's rollout ro to s, with its wave
// and progress at now and what its records say; a halt makes s not
// converged. The progress counts s.Hosts.
func (s *Summary) AddRollout(ro *Rollout, rec RolloutRecords, now time.Time) {
	var p rolloutProgress
	for i := range s.Hosts {
		p.count(ro, &s.Hosts[i], now)
	}
	s.addRollout(ro, rec, now, p)
}

// rolloutProgress counts the live hosts of a rollout, one host at a time.
type rolloutProgress struct {
	live, onRelease, covered, gated int
	// gateReason is why the gate holds hosts, as the first gated host
	// counted said.
	gateReason string
}

// count counts host h into p.
func (p *rolloutProgress) count(ro *Rollout, h *HostSummary, now time.Time) {
	if h.Stale || h.State == StateUnreadable {
		return
	}
	p.live++
	if h.OnCurrent {
		p.onRelease++
	}
	if ro.Covers(h.Host, now) {
		p.covered++
	}
	if !ro.Gate.IsZero() && h.State == StateGated {
		p.gated++
		if p.gateReason == "" {
			p.gateReason = h.Rollout.Reason()
		}
	}
}

// addRollout adds ro to s with the progress p counted.
func (s *Summary) addRollout(ro *Rollout, rec RolloutRecords, now time.Time, p rolloutProgress) {
	st, w := rec.State, ro.WaveAt(now)
	rs := &RolloutSummary{Policy: ro.Policy.String(), Waves: ro.Waves, Wave: w.Index + 1, Of: w.Waves, Percent: w.Percent,
		WaveStarted: w.Start.UTC(), NextWave: w.Next.UTC(), Failures: rec.Failures, Halted: st.Halted, HaltReason: st.Reason,
		Updating: []UpdatingHost{}, WaveStarts: ro.waveStarts(), HaltedAt: haltedAt(ro, rec),
		Live: p.live, OnRelease: p.onRelease, Covered: p.covered}
	if rs.Failures == nil {
		rs.Failures = []FailureRecord{}
	}
	if !st.Halted && st.Record != nil {
		rs.HaltReason = st.Record.Describe() // a resume: who and why
	}
	for _, l := range rec.Leases {
		if l.Held(now) {
			rs.Updating = append(rs.Updating, UpdatingHost{Host: l.Record.Holder, Slot: l.Slot, Expires: l.Record.Expires.UTC()})
		}
	}
	if !ro.Gate.IsZero() {
		rs.Gate, rs.Gated, rs.GateReason = ro.Gate.String(), p.gated, p.gateReason
	}
	s.Rollout = rs
	if st.Halted {
		s.Converged = false
		s.Verdict = "HALTED: " + st.Reason + "; " + s.Verdict
	}
}

// waveStarts is when each of ro's waves begins, UTC.
func (ro *Rollout) waveStarts() []time.Time {
	out := make([]time.Time, len(ro.Waves))
	for i := range ro.Waves {
		out[i] = ro.PublishedAt.Add(time.Duration(i) * ro.WaveInterval).UTC()
	}
	return out
}

// haltedAt is when the release was halted: its halt record's time, or,
// for a halt that follows from the failure count alone, the time of the
// failure that reached halt-after; zero when it is not halted.
func haltedAt(ro *Rollout, rec RolloutRecords) time.Time {
	st := rec.State
	switch {
	case !st.Halted:
		return time.Time{}
	case st.Record != nil && st.Record.Halted:
		return st.Record.Time.UTC()
	}
	times := make([]time.Time, 0, len(rec.Failures))
	for _, f := range rec.Failures {
		times = append(times, f.Time)
	}
	if len(times) == 0 {
		return time.Time{}
	}
	slices.SortFunc(times, time.Time.Compare)
	n := ro.HaltAfter
	if st.Record != nil {
		n += st.Record.Forgiven
	}
	return times[min(max(n, 1), len(times))-1].UTC()
}
