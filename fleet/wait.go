package fleet

import (
	"time"

	"github.com/debfleet/debfleet/release"
)

// Target is the release a wait follows: the channel version a publish,
// rollback or promote wrote, or the channel's current one.
type Target struct {
	VersionID string
	// SHA256 is the release's, from its manifest; "" for a plain upload.
	SHA256 string
}

// TargetOf returns the release obj carries as a Target.
func TargetOf(obj *release.Object) Target {
	t := Target{VersionID: obj.VersionID}
	if obj.Manifest != nil {
		t.SHA256 = obj.Manifest.SHA256
	}
	return t
}

// Is reports whether obj carries the target release: the same SHA-256 (a
// copy of the same bytes, such as a re-signing rollback to it, is the
// same release: hosts running it do not install it again), or, when
// either has none (a plain upload), the same VersionId.
func (t Target) Is(obj *release.Object) bool {
	o := TargetOf(obj)
	if t.SHA256 != "" && o.SHA256 != "" {
		return t.SHA256 == o.SHA256
	}
	return t.VersionID == o.VersionID
}

// about reports whether r, a host's Target, is the target release.
func (t Target) about(r *HostRelease) bool {
	if r == nil {
		return false
	}
	if t.SHA256 != "" && r.SHA256 != "" {
		return t.SHA256 == r.SHA256
	}
	return r.VersionID != "" && r.VersionID == t.VersionID
}

// WaitOutcome is how a wait on a rollout ended.
type WaitOutcome string

// Wait outcomes; the zero value means the rollout is still going on.
const (
	// Deployed: every live host runs the release (Summary.Converged).
	Deployed WaitOutcome = "deployed"
	// Failed: a live host failed, rolled back or refused the release,
	// so it can never be on every live host.
	Failed WaitOutcome = "failed"
	// HaltedOutcome: the release is halted (pkgdeb halt, or halt-after
	// failures).
	HaltedOutcome WaitOutcome = "halted"
	// Superseded: the channel's current release is another one now.
	Superseded WaitOutcome = "superseded"
	// TimedOut: the wait's time ran out first.
	TimedOut WaitOutcome = "timed-out"
	// GatedOutcome: the wait's time ran out while the release's rollout
	// gate held live hosts (state gated): the gate, an alarm or a health
	// URL, says the release should not go further, which is a failure,
	// not slowness.
	GatedOutcome WaitOutcome = "gated"
)

// Progress is a wait's reading of one Summary of the target release.
type Progress struct {
	Summary *Summary
	// Failed are the live hosts that failed, rolled back or refused the
	// target; Behind are the other live hosts not on it yet.
	Failed, Behind []HostSummary
	// Time is when it was read.
	Time time.Time
}

// Progress sorts the live hosts of s, a summary of the target release,
// by whether they run it, failed it or are behind.
func (t Target) Progress(s *Summary) *Progress {
	p := &Progress{Summary: s, Time: s.Time}
	for _, h := range s.Hosts {
		switch {
		case h.Stale || h.OnCurrent:
		case t.failedBy(h):
			p.Failed = append(p.Failed, h)
		default:
			p.Behind = append(p.Behind, h)
		}
	}
	return p
}

// failedBy reports whether h failed, rolled back or refused the target.
func (t Target) failedBy(h HostSummary) bool {
	switch h.State {
	case StateFailed, StateRolledBack, StateRefused:
		return t.about(h.Target)
	}
	return false
}

// Halted reports whether the target release is halted.
func (p *Progress) Halted() bool { return p.Summary.Rollout != nil && p.Summary.Rollout.Halted }

// Outcome is how the wait ends at p, or "" while it goes on. A failed
// host ends it at once, unless keepGoing: then it ends once no live host
// is behind (each runs the release or has failed it).
func (p *Progress) Outcome(keepGoing bool) WaitOutcome {
	switch {
	case p.Halted():
		return HaltedOutcome
	case p.Summary.Converged:
		return Deployed
	case len(p.Failed) > 0 && (!keepGoing || len(p.Behind) == 0):
		return Failed
	}
	return ""
}

// Gated returns the live hosts behind that the rollout gate holds (a
// host reports gated only about the channel's current release, which a
// wait follows until another supersedes it).
func (p *Progress) Gated() []HostSummary {
	var out []HostSummary
	for _, h := range p.Behind {
		if h.State == StateGated {
			out = append(out, h)
		}
	}
	return out
}

// timeout is how a wait whose time ran out at p (nil: no reading) ends:
// GatedOutcome when the gate holds hosts, TimedOut otherwise.
func timeout(p *Progress) WaitOutcome {
	if p != nil && len(p.Gated()) > 0 {
		return GatedOutcome
	}
	return TimedOut
}
