package agent

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// States reported in a Status, besides the Outcomes (which equal
// fleet.StateOK, StateRolledBack and StateFailed).
const (
	// StateNone: the agent has not installed any release yet.
	StateNone = fleet.StateNone
	// StateInstalling: a release is being installed right now.
	StateInstalling = fleet.StateInstalling
	// StateRefused: the channel's release failed verification (signature,
	// checksum, package name, architecture, replay); the host keeps
	// running its current release.
	StateRefused = fleet.StateRefused
)

// Status is the object each agent writes next to the release; its schema
// lives in release, so that readers (pkgdeb status) need not import the
// agent.
type Status = fleet.HostStatus

// StatusRelease names a release in a Status.
type StatusRelease = fleet.HostRelease

// StatusKey returns the key of host's status object for a channel.
func StatusKey(channel release.Address, host string) string {
	return fleet.StatusAddress(channel, host).Key
}

// Status returns the host's status as last set: after Once, where the
// run left the host (its state, the release installed, the target it
// failed, refused or waits for). It is safe to call while the agent runs.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// refuse reports a release this host will not install and keeps the
// current one.
func (a *Agent) refuse(ctx context.Context, obj *release.Object, why error) (Outcome, error) {
	target := targetOf(obj)
	a.log.Warn("release refused", "version", target.Version, "sha256", target.SHA256, "version_id", obj.VersionID, "err", why)
	a.setStatus(StateRefused, target, why.Error())
	a.mu.Lock()
	a.status.Refusal = refusalCode(why)
	a.mu.Unlock()
	a.report(ctx)
	a.notify()
	a.count(StateRefused)
	a.changed()
	return StateRefused, nil
}

// targetOf is obj as a status target: its version and SHA-256 when it
// has a manifest.
func targetOf(obj *release.Object) *state.Release {
	target := &state.Release{VersionID: obj.VersionID}
	if m := obj.Manifest; m != nil {
		target.Version, target.SHA256 = m.Version, m.SHA256
	}
	return target
}

// reportNoRoom puts a download that failed for lack of room in the state
// directory into the status, written once per distinct failure: the host
// keeps its state, with obj as its target and the failure as its error,
// so that pkgdeb status, the dashboard and wait say why it stays behind.
// Other download failures are S3's or the network's, which the status
// write would most often meet too; they are only logged. The next change
// of state, or unhold, clears it.
func (a *Agent) reportNoRoom(ctx context.Context, obj *release.Object, err error) {
	if !errors.Is(err, release.ErrNoSpace) {
		return
	}
	a.mu.Lock()
	same := a.status.Error == err.Error() && a.status.Target != nil && a.status.Target.VersionID == obj.VersionID
	a.mu.Unlock()
	if same {
		return
	}
	a.setStatus(idleState(a.s), targetOf(obj), err.Error())
	a.report(ctx)
}

// refuseOr refuses obj when err is a refusalError, and otherwise returns
// err for the caller to retry.
func (a *Agent) refuseOr(ctx context.Context, obj *release.Object, err error) (Outcome, error) {
	var refusal *refusalError
	if errors.As(err, &refusal) {
		return a.refuse(ctx, obj, refusal.err)
	}
	return "", err
}

// finish records and reports an install's outcome.
func (a *Agent) finish(ctx context.Context, outcome Outcome, rel *state.Release, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if outcome == OK {
		rel = nil // the installed release is the status' main subject
	}
	a.setStatus(string(outcome), rel, msg)
	a.report(ctx)
	if outcome != OK {
		a.notify()
	}
	a.count(string(outcome))
	a.changed()
}

// changed tells Config.Changed, if any, of an outcome just reported.
func (a *Agent) changed() {
	if a.cfg.Changed != nil {
		a.cfg.Changed()
	}
}

// setStatusConfig refreshes the status' Config from Config.ConfigRelease.
func (a *Agent) setStatusConfig() {
	if a.cfg.ConfigRelease == nil {
		return
	}
	c := a.cfg.ConfigRelease()
	a.mu.Lock()
	a.status.Config = c
	a.mu.Unlock()
}

// notify passes the status just reported to the Notifier, if any.
func (a *Agent) notify() {
	if a.cfg.Notifier == nil {
		return
	}
	a.mu.Lock()
	st := a.status
	st.Time = a.cfg.Now().UTC()
	a.mu.Unlock()
	a.cfg.Notifier.Notify(st)
}

func (a *Agent) setStatus(st string, target *state.Release, errMsg string) {
	var config *StatusRelease
	if a.cfg.ConfigRelease != nil {
		config = a.cfg.ConfigRelease() // another agent's lock: not under ours
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now().UTC()
	s := Status{Host: a.cfg.Host, Package: a.cfg.Package, State: st, Error: errMsg, Since: now}
	if in := a.s.Installed; in != nil {
		s.Version, s.SHA256, s.VersionID, s.ETag = in.Version, in.SHA256, in.VersionID, in.ETag
	}
	if target != nil {
		s.Target = &StatusRelease{Version: target.Version, SHA256: target.SHA256, VersionID: target.VersionID}
		s.Hold = a.expiredHold(target)
	} else if a.s.Installed != nil {
		s.Hold = a.expiredHold(a.s.Installed)
	}
	s.Config = config
	a.status = s
	a.metrics.installed = s.Version
	a.metrics.installedSHA = s.SHA256
}

// report writes the status object; a failure is logged once per distinct
// error and never stops the agent.
func (a *Agent) report(ctx context.Context) {
	if !a.cfg.Report {
		return
	}
	a.mu.Lock()
	st := a.status
	st.Time = a.cfg.Now().UTC()
	a.mu.Unlock()
	err := a.cfg.Fleet.PutStatus(ctx, a.cfg.Channel, &st)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		// Messages carry request IDs: compare kinds, not texts.
		if kind := reportErrorKind(err); ctx.Err() == nil && kind != a.reportErr {
			a.log.Warn("status report failed", "kind", kind, "err", err)
			a.reportErr = kind
		}
		a.reportAgain = ctx.Err() == nil && retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
		return
	}
	if a.reportErr != "" {
		a.log.Info("status report works again")
		a.reportErr = ""
	}
	a.reportAgain = false
	a.lastReport = st.Time
}

// reportThrottled reports whether the last status write failed for a
// reason that passes (S3 throttling the prefix with 503 SlowDown, a 5xx,
// a broken connection), so that cycle writes it again. A rollout's burst
// of status writes on one prefix is the first of S3's limits a large
// fleet meets; without this, a host whose "ok" was throttled stays shown
// installing until its heartbeat. A write denied for good waits for the
// heartbeat, so a policy without the grant does not cost a PUT at every
// check.
func (a *Agent) reportThrottled() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reportAgain
}

func (a *Agent) lastReportTime() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastReport
}

// reportErrorKind classifies a failed status write: S3's error code (a
// policy may allow reading the release but not writing status), else as
// errorKind.
func reportErrorKind(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return errorKind(err)
}
