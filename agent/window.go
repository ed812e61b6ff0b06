package agent

import (
	"context"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
)

// waitForWindow reports that the host leaves target for later because
// now is outside every maintenance window of r (d says so; opens is when
// one next opens). It costs no request: the window is in the manifest
// the HEAD returned, and the status is rewritten only when the reason
// changes (it names the next opening, so once per window). The host
// checks again at its next poll, not at the opening itself: the polls'
// jitter spreads a fleet's installs instead of starting them all at the
// minute the window opens.
func (a *Agent) waitForWindow(ctx context.Context, r *fleet.Rollout, d fleet.Decision, opens time.Time, target *state.Release, now time.Time) {
	hr := r.Position(a.cfg.Host, now)
	hr.Window = fleet.FormatWindows(r.Windows)
	if !opens.IsZero() {
		hr.WindowOpens = opens.UTC()
	}
	a.hold(ctx, d, target, hr)
}
