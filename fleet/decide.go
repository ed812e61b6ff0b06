package fleet

import (
	"fmt"
	"math"
	"time"
)

// Verdict is what a host does with a release now.
type Verdict string

// Verdicts of the decisions below.
const (
	// Adopt: nothing read so far keeps the host from the release.
	Adopt Verdict = "adopt"
	// Wait: not yet; the release's wave does not cover the host, or too
	// many hosts are updating or trying it. Asked again at the next poll.
	Wait Verdict = StateWaiting
	// Halt: the release is halted; no host that does not run it yet
	// adopts it.
	Halt Verdict = StateHalted
	// Gated: the release's gate (see Gate) fails for the wave in force;
	// asked again as GateCheck.Due says.
	Gated Verdict = StateGated
)

// Decision is a Verdict and, unless it is Adopt, why, for the host's
// status object and log.
type Decision struct {
	Verdict Verdict
	Reason  string
}

var adopt = Decision{Verdict: Adopt}

// The decisions a host makes about a release with a rollout policy, in
// the order the agent reads what they need (each costs requests only once
// the ones before it said Adopt):
//
//  1. Reach: does the wave in force cover the host? (no request)
//  2. Halted: does the halt record halt it? (one GET)
//  3. Slots: does the policy need an update slot? With none free, NoSlot.
//  4. MayTry: with a slot held, do failures or other hosts trying it hold
//     it back? (a LIST of failures and a GET per slot, under HaltAfter)

// Reach decides whether the wave in force at now covers host.
func (r *Rollout) Reach(host string, now time.Time) Decision {
	if r.Covers(host, now) {
		return adopt
	}
	return Decision{Wait, fmt.Sprintf("%s does not cover this host (at %.1f%%) until %s",
		r.WaveAt(now), r.Place(host), r.CoveredAt(host).UTC().Format(time.RFC3339))}
}

// Halted decides from a release's halt record, nil when it has none.
func Halted(rec *HaltRecord) Decision {
	if rec != nil && rec.Halted {
		return Decision{Halt, rec.Describe()}
	}
	return adopt
}

// Slots is the number of update slots the hosts taking r share, 0 when
// none is needed: MaxUpdating, lowered to HaltAfter, because more hosts
// trying at once than may fail would let more than HaltAfter fail before
// anyone sees the halt.
func (r *Rollout) Slots() int {
	slots := r.MaxUpdating
	if r.HaltAfter > 0 && (slots == 0 || r.HaltAfter < slots) {
		slots = r.HaltAfter
	}
	return slots
}

// NoSlot is the decision when every update slot looked at is held.
func (r *Rollout) NoSlot() Decision {
	limits := fmt.Sprintf("halt-after %d", r.HaltAfter)
	switch {
	case r.MaxUpdating > 0 && r.HaltAfter > 0:
		limits = fmt.Sprintf("max-updating %d, halt-after %d", r.MaxUpdating, r.HaltAfter)
	case r.MaxUpdating > 0:
		limits = fmt.Sprintf("max-updating %d", r.MaxUpdating)
	}
	return Decision{Wait, fmt.Sprintf("no free update slot of %d (%s)", r.Slots(), limits)}
}

// MayTry decides, with update slot mine held, from the rollout state and
// every slot read after taking it: the release must not be halted
// (failures counted, not only the halt record), and the failures so far,
// plus the other hosts trying it now, plus this one, must stay within
// HaltAfter. Those hosts wrote their failure or their lease before this
// host read them, so two hosts cannot both miss each other.
func (r *Rollout) MayTry(st *RolloutState, leases []LeaseSlot, mine int, now time.Time) Decision {
	if st.Halted {
		return Decision{Halt, st.Reason}
	}
	failed := len(st.FailedHosts)
	if st.Record != nil {
		failed -= st.Record.Forgiven
	}
	trying := 0
	for _, l := range leases {
		if l.Slot != mine && l.Held(now) && l.Record.SHA256 == r.SHA256 {
			trying++
		}
	}
	if failed+trying+1 > r.HaltAfter {
		return Decision{Wait, fmt.Sprintf("%d hosts failed this release and %d are trying it; halt-after %d: waiting for them", failed, trying, r.HaltAfter)}
	}
	return adopt
}

// Position is host's place in r at now, as its status object shows it
// while it waits or the release is halted (the reason is the caller's).
func (r *Rollout) Position(host string, now time.Time) *HostRollout {
	w := r.WaveAt(now)
	hr := &HostRollout{Wave: w.Index + 1, Waves: w.Waves, Percent: w.Percent, Place: math.Round(r.Place(host)*100) / 100}
	if r.Staged() {
		hr.CoveredAt = r.CoveredAt(host).UTC()
	}
	return hr
}

// FailureHalt is a halt a host found from the failure count alone, with no
// halt record saying so (agents may not write one). Failure records are
// never removed, so only a resume, which writes a halt record forgiving
// them, lifts such a halt: a host that remembers it need not take an
// update slot at every poll to find it again.
type FailureHalt struct {
	SHA256 string
	// Forgiven is what the halt record forgave when the halt was found
	// (0 without a record).
	Forgiven int
	Reason   string
}

// FailureHaltOf returns the halt st shows from failures, nil when st does
// not halt the release or a halt record already says so.
func FailureHaltOf(st *RolloutState) *FailureHalt {
	if !st.Halted || (st.Record != nil && st.Record.Halted) {
		return nil
	}
	return &FailureHalt{SHA256: st.SHA256, Forgiven: forgivenBy(st.Record), Reason: st.Reason}
}

// Stands decides from the release's current halt record (nil: none)
// whether h still halts release sha: no resume has changed what is
// forgiven since h was found.
func (h *FailureHalt) Stands(sha string, rec *HaltRecord) Decision {
	if h == nil || h.SHA256 != sha || forgivenBy(rec) != h.Forgiven {
		return adopt
	}
	return Decision{Halt, h.Reason}
}

func forgivenBy(rec *HaltRecord) int {
	if rec == nil {
		return 0
	}
	return rec.Forgiven
}
