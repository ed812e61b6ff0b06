package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
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
	// PublicKeys are the keys a release must be signed by, for Channel
	// (signed mode); unsigned, wrongly signed and replayed releases are
	// refused (see verifyManifest). Exactly one of PublicKeys and
	// AllowUnsigned must be given.
	PublicKeys []release.PublicKey
	// AllowUnsigned is unsigned mode: releases are not signed, and any
	// .deb in the channel is taken, with or without a manifest (a plain
	// upload is identified by its VersionId and the SHA-256 computed
	// while downloading; its name, version and architecture are read
	// from the .deb). Whoever can write the channel's key runs code as
	// root on the host.
	AllowUnsigned bool
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
	// DefaultMaxBackoff (never below twice Interval). The wait after the
	// first failed check is drawn from [Interval, 2×Interval] and doubles
	// with each further one, so a throttled channel (S3's 503 SlowDown)
	// sees each host less often from the first failure on.
	MaxBackoff time.Duration
	// LeaseTTL is how long an update slot stays taken without renewal
	// (see fleet.Client.AcquireLease), when a release's rollout policy caps the
	// hosts updating at once; default DefaultLeaseTTL. The agent renews
	// it every third of that while it installs.
	LeaseTTL time.Duration
	// Alarms reads the CloudWatch alarm of a release whose rollout gate
	// names one; nil holds such releases at their gate (gated, "no
	// CloudWatch client"). Nothing else calls it.
	Alarms Alarms
	// Installer installs, restarts, checks health and rolls back.
	// Unused (may be nil) when File is set.
	Installer *Installer
	// File, when set, makes this agent follow a config channel instead
	// of a package channel: its releases are of kind release.KindConfig
	// (Package names the service), at most MaxConfigSize bytes, written
	// to File.Path instead of installed with dpkg. Everything else (the
	// checks, signatures, rollout policy, status objects at Channel's
	// status address, failures and halts) is the package channel's.
	File *ConfigFile
	// ConfigRelease, when set, returns the config release the service
	// runs with (nil: none), for the Config field of every status object
	// this agent writes: the package agent's link to the config agent's
	// Installed. It is called from the agent's loop and must not block.
	ConfigRelease func() *StatusRelease
	// Changed, when set, is called after each outcome this agent
	// reports (installed, rolled back, failed, refused); it must not
	// block. The config agent's is the package agent's Poke, so the
	// package's status object shows a new config at once.
	Changed func()
	// Notifier, when set, is told of this host's failures, rollbacks
	// and refusals (see Notifier).
	Notifier Notifier
	// Hold, when set, is asked before each update whether the service
	// holds it (see serviceHolds); nil: never held.
	Hold Hold
	// MaxHold bounds how long the service may hold one update; default
	// DefaultMaxHold.
	MaxHold time.Duration
	// Logger receives one line per event; default slog.Default().
	Logger *slog.Logger
	// Rand draws the jitter and the spread of the waits after failures;
	// nil draws both from a source seeded at random.
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
	// failHalt is the last release found halted by its failure count;
	// only Check's goroutine uses it.
	failHalt *fleet.FailureHalt
	// copyBack is checkNotCopiedBack's verdict on the last version it
	// checked; only Check's goroutine uses it.
	copyBack *copyBackVerdict
	// held is the service's hold on the channel's release, if it held
	// it; only Check's goroutine uses it.
	held *heldRelease
	// gateCheck is the last check of a release's rollout gate, and
	// gateHTTP the client that asks gate URLs; only Check's goroutine
	// uses them.
	gateCheck *fleet.GateCheck
	gateHTTP  *http.Client

	// poke asks Run to write the status object at once (see Poke).
	poke chan struct{}

	mu         sync.Mutex // guards status and metrics, read by Metrics
	status     Status
	lastReport time.Time
	reportErr  string
	// reportAgain: the last status write failed for a reason that
	// passes, so the next check that reaches the channel repeats it.
	reportAgain bool
	metrics     metrics
}

// New checks cfg and returns an Agent. Call Run or Once.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Releases == nil:
		return nil, errors.New("agent: no release channel client")
	case cfg.Fleet == nil:
		return nil, errors.New("agent: no fleet records client")
	case cfg.File != nil && (cfg.File.Dir == nil || cfg.File.Path == ""):
		return nil, errors.New("agent: config file without a state directory or a path")
	case cfg.File == nil && (cfg.Installer == nil || cfg.Installer.Dir == nil || cfg.Installer.Dpkg == nil):
		return nil, errors.New("agent: no installer")
	case cfg.Package == "":
		return nil, errors.New("agent: no package name")
	case cfg.Host == "":
		return nil, errors.New("agent: no host name")
	case cfg.Interval <= 0:
		return nil, errors.New("agent: interval must be positive")
	case len(cfg.PublicKeys) == 0 && !cfg.AllowUnsigned:
		return nil, errors.New("agent: no public keys, and unsigned releases not allowed")
	case len(cfg.PublicKeys) > 0 && cfg.AllowUnsigned:
		return nil, errors.New("agent: public keys given, and unsigned releases allowed: choose one")
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
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, 2*cfg.Interval)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With("host", cfg.Host, "package", cfg.Package)
	what := "release check"
	if cfg.File != nil {
		log, what = log.With("kind", release.KindConfig), "config check"
	}
	a := &Agent{cfg: cfg, log: log, gateHTTP: newGateHTTP(), poke: make(chan struct{}, 1)}
	a.backoff = newBackoff(cfg, a.log, what)
	return a, nil
}

// newBackoff spaces the checks after failures. It starts at twice the
// interval, since a failed check followed by a normal wait would not back
// off at all, and always draws its waits at random: hosts that failed
// together (S3 throttling the prefix, a reset of every connection at
// once) would otherwise retry in the same instant at every doubling.
func newBackoff(cfg Config, log *slog.Logger, what string) Backoff {
	r := cfg.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return Backoff{Min: 2 * cfg.Interval, Max: cfg.MaxBackoff, Rand: r, Logger: log, What: what}
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
		if !a.wait(ctx, delay) {
			return nil
		}
	}
}

// wait waits delay, writing the status object whenever Poke asks; false
// when ctx ended.
func (a *Agent) wait(ctx context.Context, delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-a.poke:
			a.setStatusConfig()
			a.report(ctx)
		case <-t.C:
			return true
		}
	}
}

// Poke asks Run to rewrite the status object at once, between checks
// (for a new Config.ConfigRelease); it never blocks, and a poke while
// one is pending is the same poke.
func (a *Agent) Poke() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// Installed returns the release installed and proved healthy on this
// host, nil before the first one (or, for a config channel, the file the
// agent found, as version LocalConfigVersion). Safe to call while the
// agent runs.
func (a *Agent) Installed() *StatusRelease {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status.Version == "" {
		return nil
	}
	return &StatusRelease{Version: a.status.Version, SHA256: a.status.SHA256, VersionID: a.status.VersionID}
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

// cycle runs one check and returns the wait before the next. A status
// write throttled before this check is repeated after it, once the
// channel has answered: not in the same burst that refused it.
func (a *Agent) cycle(ctx context.Context) time.Duration {
	throttled := a.reportThrottled()
	_, err := a.Check(ctx)
	now := a.cfg.Now()
	if err != nil && ctx.Err() == nil {
		a.countFailure()
		kind := errorKind(err)
		if kind == "not-found" {
			// Most often a channel nothing was published on yet (a config
			// channel set up before its first config). Polling it costs
			// what polling a release does, one HEAD, and finds the first
			// publish within an interval instead of minutes later.
			return a.backoff.Steady(now, kind, err, Jitter(a.cfg.Interval, a.cfg.Jitter, a.cfg.Rand))
		}
		return a.backoff.Fail(now, kind, err)
	}
	a.backoff.Succeed(now)
	if throttled && a.reportThrottled() {
		a.report(ctx)
	}
	return Jitter(a.cfg.Interval, a.cfg.Jitter, a.cfg.Rand)
}

// start finds the architecture, recovers the state and finishes an
// interrupted install.
func (a *Agent) start(ctx context.Context) error {
	s, resume, err := a.recover(ctx)
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

// recover is start's first step: the architecture (for packages) and
// the target's Recover.
func (a *Agent) recover(ctx context.Context) (*state.State, *state.Release, error) {
	if a.cfg.File != nil {
		return a.cfg.File.Recover(ctx)
	}
	in := a.cfg.Installer
	if a.cfg.Architecture == "" {
		arch, err := in.Dpkg.Architecture(ctx)
		if err != nil {
			return nil, nil, err
		}
		a.cfg.Architecture = arch
	}
	return in.Recover(ctx)
}

// dir is the target's state directory.
func (a *Agent) dir() *state.Dir {
	if a.cfg.File != nil {
		return a.cfg.File.Dir
	}
	return a.cfg.Installer.Dir
}

// idleState is the state reported while nothing is happening.
func idleState(s *state.State) string {
	if s.Installed == nil {
		return StateNone
	}
	return string(OK)
}

// Check runs one poll: one HEAD of the channel and, when it
// changed, the decision, download, verification and install. It returns
// the install's outcome ("" when nothing was installed, or StateRefused)
// and an error only for failures worth retrying (the channel unreachable,
// forbidden or erroring, a download cut short); a release that fails
// verification or installation is reported, not returned.
func (a *Agent) Check(ctx context.Context) (Outcome, error) {
	start := a.cfg.Now()
	obj, err := a.cfg.Releases.Head(ctx, a.cfg.Channel, "")
	a.noteCheck(start, err)
	if err != nil {
		return "", err
	}
	if a.s.Seen(obj.VersionID, obj.ETag) {
		return "", nil
	}
	outcome, err := a.consider(ctx, obj)
	if err != nil {
		return "", err
	}
	if outcome == deferred {
		return "", nil
	}
	a.s.ETag, a.s.SeenVersionID = obj.ETag, obj.VersionID
	if err := a.dir().Save(a.s); err != nil {
		return outcome, err
	}
	return outcome, nil
}

// consider decides what to do with the channel's current version and does
// it.
func (a *Agent) consider(ctx context.Context, obj *release.Object) (Outcome, error) {
	m := obj.Manifest
	log := a.log.With("version_id", obj.VersionID)
	switch {
	case m == nil && a.cfg.File != nil:
		return a.refuse(ctx, obj, errors.New("not a config release: the version has no manifest, and a config channel takes only releases published as configs"))
	case m == nil && obj.Plain() && a.cfg.AllowUnsigned:
		return a.considerPlain(ctx, obj)
	case m == nil && obj.Plain():
		return a.refuse(ctx, obj, errPlainUnsigned)
	case m == nil:
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
	if obj.Size != m.Size {
		// Refused, and so remembered, before anything is downloaded:
		// a bucket writer may not make every host fill its disk.
		return a.refuse(ctx, obj, fmt.Errorf("the release object is %d bytes, its manifest says %d", obj.Size, m.Size))
	}
	if a.cfg.File != nil && m.Size > MaxConfigSize {
		return a.refuse(ctx, obj, fmt.Errorf("config release is %d bytes, more than the %d a config may have", m.Size, MaxConfigSize))
	}
	if err := a.checkNotCopiedBack(ctx, obj); err != nil {
		return a.refuseOr(ctx, obj, err)
	}
	ad, err := a.admit(ctx, obj)
	if err != nil {
		return a.refuseOr(ctx, obj, err)
	}
	if ad == nil {
		return deferred, nil
	}
	defer a.release(ad)
	log.Info("new release")
	start := a.cfg.Now()
	rel, err := a.download(ctx, obj)
	if err != nil {
		a.reportNoRoom(ctx, obj, err)
		return a.refuseOr(ctx, obj, err)
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
	var outcome Outcome
	var err error
	if a.cfg.File != nil {
		outcome, err = a.cfg.File.Install(ctx, a.s, rel)
	} else {
		outcome, err = a.cfg.Installer.Install(ctx, a.s, rel)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if outcome != OK {
		a.recordFailure(ctx, rel, outcome, err)
	}
	a.finish(ctx, outcome, rel, err)
	return outcome, nil
}
