package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/release"
)

// DefaultMaxBackoff caps the delay between checks while the channel keeps
// failing (unreachable, forbidden, 5xx).
const DefaultMaxBackoff = 5 * time.Minute

// Config configures an Agent.
type Config struct {
	// Channel is the release channel to follow.
	Channel release.Address
	// Releases reads the channel.
	Releases Releases
	// Fleet reads and writes the records shared with the channel's other
	// hosts: status objects, update slots, failures and halts.
	Fleet Fleet
	// Package is the package name the channel must contain; any other is
	// refused.
	Package string
	// Architecture is the host's Debian architecture; "" asks dpkg. A
	// release must be built for it or for "all".
	Architecture string
	// PublicKeys, when not empty, are the keys a release must be signed
	// by; unsigned or wrongly signed releases are refused, and so is a
	// release published before the installed one (a replay), unless
	// `pkgdeb rollback` re-signed it with a fresh publication time. With
	// no keys nothing is signed, so the replay check would only block
	// unsigned rollbacks and is skipped.
	PublicKeys []release.PublicKey
	// Host names this server in status objects.
	Host string
	// Report enables the status object <key>.status/<Host>.json.
	Report bool
	// Heartbeat is how often the status object is rewritten without a
	// change; default 10 minutes.
	Heartbeat time.Duration
	// Interval and Jitter space the checks: each wait is drawn from
	// Interval +/- Jitter (see Jitter).
	Interval, Jitter time.Duration
	// MaxBackoff caps the wait between checks while they fail; default
	// DefaultMaxBackoff (never below Interval).
	MaxBackoff time.Duration
	// LeaseTTL is how long an update slot stays taken without renewal
	// (see release.AcquireLease), when a release's rollout policy caps the
	// hosts updating at once; default DefaultLeaseTTL. The agent renews
	// it every third of that while it installs.
	LeaseTTL time.Duration
	// Installer installs, restarts, checks health and rolls back.
	Installer *Installer
	// Logger receives one line per event; default slog.Default().
	Logger *slog.Logger
	// Rand draws the jitter; nil uses the math/rand/v2 top-level source.
	Rand *rand.Rand
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Agent follows one release channel on one host.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	s       *state.State
	backoff Backoff

	mu         sync.Mutex // guards status and metrics, read by Metrics
	status     Status
	lastReport time.Time
	reportErr  string
	metrics    metrics
}

// New checks cfg and returns an Agent. Call Run or Once.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Releases == nil:
		return nil, errors.New("agent: no release channel client")
	case cfg.Fleet == nil:
		return nil, errors.New("agent: no fleet records client")
	case cfg.Installer == nil || cfg.Installer.Dir == nil || cfg.Installer.Dpkg == nil:
		return nil, errors.New("agent: no installer")
	case cfg.Package == "":
		return nil, errors.New("agent: no package name")
	case cfg.Host == "":
		return nil, errors.New("agent: no host name")
	case cfg.Interval <= 0:
		return nil, errors.New("agent: interval must be positive")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Minute
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Interval)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("host", cfg.Host, "package", cfg.Package)}
	a.backoff = Backoff{Min: cfg.Interval, Max: cfg.MaxBackoff, Rand: cfg.Rand, Logger: a.log, What: "release check"}
	return a, nil
}

// Run recovers from any interrupted run, checks at once (a new server
// installs the current release at boot without waiting an interval), then
// checks every interval until ctx ends. Failures to reach the channel
// never stop it: it backs off and recovers by itself. It returns nil when
// ctx ends, and an error only when it cannot start.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		delay := a.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if a.cfg.Report && a.cfg.Now().Sub(a.lastReportTime()) >= a.cfg.Heartbeat {
			a.report(ctx)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Once recovers, checks once and installs the channel's release if needed.
// It fails when the check fails or the release could not be installed
// (refused, failed, rolled back), so cloud-init and cron notice.
func (a *Agent) Once(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		return err
	}
	outcome, err := a.Check(ctx)
	if err != nil {
		return err
	}
	switch outcome {
	case "", OK:
		return nil
	}
	a.mu.Lock()
	msg := a.status.Error
	a.mu.Unlock()
	return fmt.Errorf("release %s: %s", outcome, msg)
}

// cycle runs one check and returns the wait before the next.
func (a *Agent) cycle(ctx context.Context) time.Duration {
	_, err := a.Check(ctx)
	now := a.cfg.Now()
	if err != nil && ctx.Err() == nil {
		a.countFailure()
		return a.backoff.Fail(now, errorKind(err), err)
	}
	a.backoff.Succeed(now)
	return Jitter(a.cfg.Interval, a.cfg.Jitter, a.cfg.Rand)
}

// start finds the architecture, recovers the state and finishes an
// interrupted install.
func (a *Agent) start(ctx context.Context) error {
	in := a.cfg.Installer
	if a.cfg.Architecture == "" {
		arch, err := in.Dpkg.Architecture(ctx)
		if err != nil {
			return err
		}
		a.cfg.Architecture = arch
	}
	s, resume, err := in.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover state: %w", err)
	}
	a.s = s
	a.setStatus(idleState(s), nil, "")
	if resume != nil {
		ad := a.readmit(ctx, resume)
		defer a.release(ad)
		_, err := a.install(ctx, resume)
		return err
	}
	a.report(ctx)
	return nil
}

// idleState is the state reported while nothing is happening.
func idleState(s *state.State) string {
	if s.Installed == nil {
		return StateNone
	}
	return string(OK)
}

// Check runs one poll: a conditional HEAD of the channel and, when it
// changed, the decision, download, verification and install. It returns
// the install's outcome ("" when nothing was installed, or StateRefused)
// and an error only for failures worth retrying (the channel unreachable,
// forbidden or erroring, a download cut short); a release that fails
// verification or installation is reported, not returned.
func (a *Agent) Check(ctx context.Context) (Outcome, error) {
	start := a.cfg.Now()
	obj, modified, err := a.cfg.Releases.HeadIfNoneMatch(ctx, a.cfg.Channel, a.s.ETag)
	a.noteCheck(start, err)
	if err != nil {
		return "", err
	}
	if !modified {
		return "", nil
	}
	outcome, err := a.consider(ctx, obj)
	if err != nil {
		return "", err
	}
	if outcome == deferred {
		return "", nil
	}
	a.s.ETag = obj.ETag
	if err := a.cfg.Installer.Dir.Save(a.s); err != nil {
		return outcome, err
	}
	return outcome, nil
}

// consider decides what to do with the channel's current version and does
// it.
func (a *Agent) consider(ctx context.Context, obj *release.Object) (Outcome, error) {
	m := obj.Manifest
	log := a.log.With("version_id", obj.VersionID)
	if m == nil {
		return a.refuse(ctx, obj, fmt.Errorf("not a release: %w", obj.ManifestErr))
	}
	log = log.With("version", m.Version, "sha256", m.SHA256)
	if in := a.s.Installed; in != nil && in.SHA256 == m.SHA256 {
		log.Debug("channel changed, release already installed")
		a.unhold(ctx)
		return "", nil
	}
	if bad, ok := a.s.Bad[m.SHA256]; ok {
		log.Info("release failed on this host before; not retrying", "reason", bad.Reason)
		a.unhold(ctx)
		return "", nil
	}
	if err := a.verifyManifest(m); err != nil {
		return a.refuse(ctx, obj, err)
	}
	if obj.VersionID == "" {
		return a.refuse(ctx, obj, errors.New("the channel has no VersionId (bucket versioning is off), so a download cannot be pinned"))
	}
	ad, err := a.admit(ctx, obj)
	if err != nil {
		var refusal *refusalError
		if errors.As(err, &refusal) {
			return a.refuse(ctx, obj, refusal.err)
		}
		return "", err
	}
	if ad == nil {
		return deferred, nil
	}
	defer a.release(ad)
	log.Info("new release")
	start := a.cfg.Now()
	rel, err := a.download(ctx, obj)
	if err != nil {
		var refusal *refusalError
		if errors.As(err, &refusal) {
			return a.refuse(ctx, obj, refusal.err)
		}
		return "", err
	}
	log.Info("release downloaded and verified", "duration", a.cfg.Now().Sub(start).Round(time.Millisecond), "size", m.Size)
	rel.Slots, rel.HaltAfter = ad.slots, ad.rollout.HaltAfter
	return a.install(ctx, rel)
}

// install installs rel (or resumes its interrupted install), counts a
// failure for the fleet and reports the outcome. The caller holds the
// update slot, if any, until it returns. Its only error is ctx's, when
// ctx ended.
func (a *Agent) install(ctx context.Context, rel *state.Release) (Outcome, error) {
	a.setStatus(StateInstalling, rel, "")
	a.report(ctx)
	outcome, err := a.cfg.Installer.Install(ctx, a.s, rel)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if outcome != OK {
		a.recordFailure(ctx, rel, outcome, err)
	}
	a.finish(ctx, outcome, rel, err)
	return outcome, nil
}

// verifyManifest checks what can be checked before downloading.
func (a *Agent) verifyManifest(m *release.Manifest) error {
	if !m.IsDeb() {
		return fmt.Errorf("release is a %q, not a Debian package", m.Kind)
	}
	if m.Package != a.cfg.Package {
		return fmt.Errorf("release is package %q, this host runs %q", m.Package, a.cfg.Package)
	}
	if m.Architecture != a.cfg.Architecture && m.Architecture != "all" {
		return fmt.Errorf("release is built for %s, this host is %s", m.Architecture, a.cfg.Architecture)
	}
	if len(a.cfg.PublicKeys) == 0 {
		return nil
	}
	if err := m.Verify(a.cfg.PublicKeys...); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if in := a.s.Installed; in != nil && m.PublishedAt.Before(in.PublishedAt) {
		return fmt.Errorf("release published %s, before the installed %s (%s): refusing a replay (a rollback that re-signs it gives it a fresh publication time)",
			m.PublishedAt.Format(time.RFC3339), in.Version, in.PublishedAt.Format(time.RFC3339))
	}
	return nil
}

// refusalError marks a download whose content, not its transfer, is wrong.
type refusalError struct{ err error }

func (e *refusalError) Error() string { return e.err.Error() }

// download fetches obj's exact version into the state directory while
// hashing it, and checks it against the manifest and the package's own
// control fields. Nothing is left on disk when it fails.
func (a *Agent) download(ctx context.Context, obj *release.Object) (*state.Release, error) {
	dir := a.cfg.Installer.Dir
	m := obj.Manifest
	f, err := dir.CreateTemp()
	if err != nil {
		return nil, err
	}
	got, err := a.cfg.Releases.Fetch(ctx, a.cfg.Channel, obj.VersionID, f)
	if err == nil && (got.Manifest == nil || got.Manifest.SHA256 != m.SHA256) {
		err = &refusalError{fmt.Errorf("version %s changed its manifest between HEAD and GET", obj.VersionID)}
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	name, err := dir.KeepDeb(f, m.SHA256)
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	path := dir.DebPath(name)
	if err := checkDeb(path, m); err != nil {
		os.Remove(path)
		return nil, &refusalError{err}
	}
	return &state.Release{Package: m.Package, Version: m.Version, SHA256: m.SHA256, VersionID: obj.VersionID,
		PublishedAt: m.PublishedAt, Deb: name}, nil
}

// checkDeb makes sure the .deb is what its manifest says: a signed
// manifest must not carry a different package.
func checkDeb(path string, m *release.Manifest) error {
	p, err := deb.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read package: %w", err)
	}
	c := p.Control
	if c.Package != m.Package || c.Version != m.Version || c.Architecture != m.Architecture {
		return fmt.Errorf("package is %s %s (%s), the manifest says %s %s (%s)",
			c.Package, c.Version, c.Architecture, m.Package, m.Version, m.Architecture)
	}
	if err := p.Verify(); err != nil {
		return fmt.Errorf("package md5sums: %w", err)
	}
	return nil
}

// refuse reports a release this host will not install and keeps the
// current one.
func (a *Agent) refuse(ctx context.Context, obj *release.Object, why error) (Outcome, error) {
	target := &state.Release{VersionID: obj.VersionID}
	if m := obj.Manifest; m != nil {
		target.Version, target.SHA256 = m.Version, m.SHA256
	}
	a.log.Warn("release refused", "version", target.Version, "sha256", target.SHA256, "version_id", obj.VersionID, "err", why)
	a.setStatus(StateRefused, target, why.Error())
	a.report(ctx)
	a.count(StateRefused)
	return StateRefused, nil
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
	a.count(string(outcome))
}

func (a *Agent) setStatus(st string, target *state.Release, errMsg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now().UTC()
	s := Status{Host: a.cfg.Host, Package: a.cfg.Package, State: st, Error: errMsg, Since: now}
	if in := a.s.Installed; in != nil {
		s.Version, s.SHA256, s.VersionID = in.Version, in.SHA256, in.VersionID
	}
	if target != nil {
		s.Target = &StatusRelease{Version: target.Version, SHA256: target.SHA256, VersionID: target.VersionID}
	}
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
		return
	}
	if a.reportErr != "" {
		a.log.Info("status report works again")
		a.reportErr = ""
	}
	a.lastReport = st.Time
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

// errorKind classifies a check failure for Backoff's logging.
func errorKind(err error) string {
	for _, k := range []struct {
		err  error
		kind string
	}{
		{release.ErrUnreachable, "unreachable"},
		// Before access-denied, which it also matches.
		{release.ErrNoCredentials, "no-credentials"},
		{release.ErrAccessDenied, "access-denied"},
		{release.ErrNotFound, "not-found"},
		{release.ErrChecksumMismatch, "checksum-mismatch"},
		{release.ErrNoManifest, "no-manifest"},
		{context.DeadlineExceeded, "timeout"},
	} {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "download-cut"
	}
	var re *release.Error
	if errors.As(err, &re) {
		return "s3-error"
	}
	return "error"
}
