package agent

import (
	"context"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
)

// DefaultMaxHold is how long a service may hold its update by default.
const DefaultMaxHold = 30 * time.Minute

// StateHeld: the service holds its update (Config.Hold); Status.Hold
// says why and until when.
const StateHeld = fleet.StateHeld

// heldRelease is the service's hold on one release, as this agent found
// it; only Check's goroutine uses it.
type heldRelease struct {
	key     string // the release's SHA-256, or its VersionId for a plain upload
	since   time.Time
	reason  string
	expired bool
}

// serviceHolds asks the service (Config.Hold) whether it holds its update
// to target, and, when it does, reports the host held and returns true.
//
// It is asked once the policy admits the release on this host (the wave,
// the windows) but before anything else: before the halt record is read,
// before an update slot is taken and before the download. So a held host
// costs no S3 request beyond its poll's HEAD (and a status PUT when the
// reason changes), keeps no update slot from other hosts, and does not
// download the release at every poll. Not before the restart only: dpkg
// replaces the service's files and its maintainer scripts may restart it,
// and a host held between dpkg and the restart would sit half updated.
// An install once started runs to its end.
//
// A hold lasts at most Config.MaxHold from when this agent first found
// it for target (lifted and set again, it keeps counting); then the
// update goes ahead, the log warns, and the status of the install says
// so (Status.Hold with Expired).
func (a *Agent) serviceHolds(ctx context.Context, target *state.Release) bool {
	if a.cfg.Hold == nil {
		return false
	}
	key := target.SHA256
	if key == "" {
		key = "version-id:" + target.VersionID
	}
	if a.held != nil && a.held.key != key {
		a.held = nil
	}
	reason, held := a.cfg.Hold.Check(ctx)
	now := a.cfg.Now()
	if !held {
		if a.held != nil && a.held.reason != "" {
			a.log.Info("the service lifted its hold", "version", target.Version, "sha256", target.SHA256)
			a.held.reason = ""
		}
		return false
	}
	if a.held == nil {
		a.held = &heldRelease{key: key, since: now}
	}
	h := &fleet.HostHold{Reason: reason, Since: a.held.since.UTC(), Until: a.held.since.Add(a.cfg.MaxHold).UTC()}
	if !now.Before(h.Until) {
		if !a.held.expired {
			a.log.Warn("max-hold ran out: updating while the service still holds", "version", target.Version, "sha256", target.SHA256,
				"reason", reason, "held_since", h.Since, "max_hold", a.cfg.MaxHold)
		}
		a.held.expired, a.held.reason = true, reason
		return false
	}
	a.held.reason = reason
	a.reportHeld(ctx, target, h)
	return true
}

// reportHeld reports the host held on target by h; nothing is written or
// logged when it reported the same reason already.
func (a *Agent) reportHeld(ctx context.Context, target *state.Release, h *fleet.HostHold) {
	a.mu.Lock()
	cur := a.status
	a.mu.Unlock()
	if cur.State == StateHeld && cur.Target != nil && cur.Target.SHA256 == target.SHA256 &&
		cur.Target.VersionID == target.VersionID && cur.Hold != nil && cur.Hold.Reason == h.Reason {
		return
	}
	a.log.Info("release held by the service", "version", target.Version, "sha256", target.SHA256, "reason", h.Reason, "until", h.Until)
	a.setStatus(StateHeld, target, "")
	a.mu.Lock()
	a.status.Hold = h
	a.mu.Unlock()
	a.report(ctx)
}

// expiredHold is the hold to show in the status of an install of rel
// that went ahead after max-hold ran out, nil otherwise. Called with
// a.mu held (from setStatus), on Check's goroutine.
func (a *Agent) expiredHold(rel *state.Release) *fleet.HostHold {
	h := a.held
	if h == nil || !h.expired || rel == nil || (h.key != rel.SHA256 && h.key != "version-id:"+rel.VersionID) {
		return nil
	}
	return &fleet.HostHold{Reason: h.reason, Since: h.since.UTC(), Until: h.since.Add(a.cfg.MaxHold).UTC(), Expired: true}
}
