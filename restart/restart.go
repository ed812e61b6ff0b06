package restart

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultUpgradeTimeout = 30 * time.Second
	DefaultDrainTimeout   = 30 * time.Second
	DefaultCloseWindow    = time.Second
)

// Options control an Upgrader. The zero value is usable.
type Options struct {
	// PIDFile, if set, receives the PID of the process that serves, written
	// atomically (temporary file and rename) once that process is Ready, so a
	// reader never sees a PID that is not yet serving. It is removed when the
	// service stops for good. A relative path is resolved against the
	// working directory at New.
	PIDFile string
	// UpgradeTimeout bounds how long a new process may take to become Ready;
	// past it the new process is killed and the old one keeps serving.
	// Default DefaultUpgradeTimeout.
	UpgradeTimeout time.Duration
	// DrainTimeout bounds how long an exiting process waits for in-flight
	// requests (Serve) before closing what is left. Default
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// CloseWindow is how long, at most, an exiting process keeps answering
	// requests on its open connections with "Connection: close", so that
	// keep-alive clients reconnect to the new process instead of having an
	// idle connection closed under them. Default DefaultCloseWindow; it never
	// exceeds DrainTimeout.
	CloseWindow time.Duration
	// Logger receives one line per event (upgrade requested, failed, done,
	// drain). Default slog.Default().
	Logger *slog.Logger
	// EnvFiles names environment files that each upgrade reads again, in
	// order, into the new generation's environment: the syntax of
	// systemd's EnvironmentFile= (see ParseEnvFile), a leading "-" for a
	// file that may be missing. Without them a new generation inherits
	// the old one's environment, and a changed file waits for a full
	// restart. A variable from a file overrides the inherited one; one
	// deleted from the files since the previous generation is removed
	// (RESTART_ENV_FROM_FILES names those that came from files). A file
	// that cannot be read or parsed fails the upgrade, and the old
	// generation keeps serving. New sets the files' variables in the first
	// generation's environment too (and fails if it cannot read them); name
	// the same files in the unit (EnvironmentFile=) so that what runs before
	// New sees them as well. During an upgrade the old process's own
	// environment holds the new values, which tableflip hands to the new
	// process, and gets its own back afterwards. Relative paths are
	// resolved against the working directory at New.
	EnvFiles []string
}

// Upgrader hands the listening sockets of a service to a new copy of its
// binary on SIGHUP or SIGUSR2, and drains the old copy; SIGTERM and SIGINT
// drain and exit. Only one Upgrader may exist per process.
type Upgrader struct {
	hand     handoff // tableflip, or soloHandoff where it does not work
	opts     Options
	log      *slog.Logger
	requests chan struct{} // capacity 1: requests made while one waits are merged
	ready    chan struct{}
	once     sync.Once
	stopOnce sync.Once
	sigs     chan os.Signal
	loopDone chan struct{} // closed when upgradeLoop has returned
	upgraded atomic.Bool   // set by upgradeLoop before loopDone closes
	// stop is closed by Stop. The upgrade loop, not Stop, ends the
	// hand-off: tableflip kills a new generation still starting when it is
	// stopped, even one already Ready, so a stop waits for the upgrade.
	stop chan struct{}
	// mu orders Ready's announcement (PID file, systemd, previous
	// generation), Stop's retraction of it, and the moment an upgrade
	// succeeds.
	mu       sync.Mutex
	stopping bool // under mu: Stop has begun; Ready announces nothing
	// stopForNew, under mu: Stop was called before this process knew an
	// upgrade had succeeded, so the stop is meant for the new generation
	// too, which the upgrade loop then tells.
	stopForNew bool
}

// New creates the Upgrader of this process, inheriting the sockets of the
// previous generation if there is one, and starts handling SIGHUP, SIGUSR2,
// SIGTERM and SIGINT.
//
// If the environment variable named by SuperviseEnv is set to "1" in a
// process that is not itself an upgrade, New does not return: the process
// becomes a stable-PID supervisor (see Supervise) of a copy of itself, and
// exits with that copy's status when the service ends for good.
func New(opts Options) (*Upgrader, error) { return newWrapped(opts, nil) }

// newWrapped is New with the hand-off wrapped by wrap, if not nil: tests
// put a fault point between two steps of an upgrade that way.
func newWrapped(opts Options, wrap func(handoff) handoff) (*Upgrader, error) {
	if opts.UpgradeTimeout <= 0 {
		opts.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.CloseWindow <= 0 {
		opts.CloseWindow = DefaultCloseWindow
	}
	opts.CloseWindow = min(opts.CloseWindow, opts.DrainTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PIDFile != "" {
		abs, err := filepath.Abs(opts.PIDFile)
		if err != nil {
			return nil, fmt.Errorf("restart: resolve PID file %s: %w", opts.PIDFile, err)
		}
		opts.PIDFile = abs
	}
	if os.Getenv(SuperviseEnv) == "1" && !isUpgrade() {
		superviseSelf(opts) // returns only where supervision is unsupported
	}
	h, err := newHandoff(opts.UpgradeTimeout)
	if err != nil {
		return nil, fmt.Errorf("restart: start upgrader: %w", err)
	}
	if wrap != nil {
		h = wrap(h)
	}
	fh, err := useEnvFiles(h, opts.EnvFiles, opts.Logger)
	if err != nil {
		h.Stop()
		return nil, fmt.Errorf("restart: %w", err)
	}
	h = fh
	u := newUpgrader(opts, h)
	signal.Notify(u.sigs, slices.Concat(upgradeSignals, stopSignals)...)
	go u.handleSignals()
	return u, nil
}

// newUpgrader starts an Upgrader over h, with opts already defaulted.
func newUpgrader(opts Options, h handoff) *Upgrader {
	u := &Upgrader{
		hand:     h,
		opts:     opts,
		log:      opts.Logger.With("pid", os.Getpid()),
		requests: make(chan struct{}, 1),
		ready:    make(chan struct{}),
		sigs:     make(chan os.Signal, 4),
		loopDone: make(chan struct{}),
		stop:     make(chan struct{}),
	}
	if _, solo := h.(*soloHandoff); solo {
		u.log.Info("zero-downtime upgrades are not supported on this platform: serving without them", "os", runtime.GOOS)
	}
	go u.upgradeLoop()
	return u
}

// isUpgrade reports whether this process was started by a previous
// generation: tableflip v1.2.3 (pinned in go.mod) marks it with this
// environment variable.
func isUpgrade() bool {
	return os.Getenv("TABLEFLIP_HAS_PARENT_7DIU3") != ""
}

// Listen returns a listener for network ("tcp", "tcp4", "tcp6" or "unix")
// and addr, inherited from the previous generation when it had one, so that
// no connection is refused during an upgrade. It must be called before Ready.
//
// A unix socket file left behind by a process that was killed (nothing
// accepts on it) is removed first; one that a live process serves on is an
// error, as for TCP.
func (u *Upgrader) Listen(network, addr string) (net.Listener, error) {
	if network == "unix" {
		inherited, err := u.hand.Listener(network, addr)
		if err != nil {
			return nil, fmt.Errorf("restart: listen %s %s: %w", network, addr, err)
		}
		if inherited != nil {
			return inherited, nil
		}
		removeStaleSocket(addr)
	}
	ln, err := u.hand.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("restart: listen %s %s: %w", network, addr, err)
	}
	return ln, nil
}

// HasParent reports whether this process is a new generation started by an
// upgrade (as opposed to the first start).
func (u *Upgrader) HasParent() bool { return u.hand.HasParent() }

// Ready declares this process ready to serve: the PID file names it, systemd
// is told READY=1 with MAINPID set to it, and the previous generation (if
// any) is told to drain and exit. Call it once every listener is serving.
// After Stop it does nothing: the process is on its way out.
func (u *Upgrader) Ready() error {
	var err error
	u.once.Do(func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.stopping {
			u.log.Info("stopped before ready: not announcing")
			return
		}
		if u.opts.PIDFile != "" {
			if err = writePIDFile(u.opts.PIDFile, os.Getpid()); err != nil {
				return
			}
		}
		if nerr := notify(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving", os.Getpid())); nerr != nil {
			u.log.Warn("notify systemd", "err", nerr)
		}
		if err = u.hand.Ready(); err != nil {
			err = fmt.Errorf("restart: tell previous generation: %w", err)
			return
		}
		close(u.ready)
		u.log.Info("ready", "upgrade", u.hand.HasParent())
	})
	return err
}

// Upgrade asks for an upgrade, as SIGHUP does, without waiting for it.
// Requests made while an upgrade runs are merged into one more upgrade,
// started once the current one has ended: none is lost and two never run at
// once. A request made before Ready waits for Ready; one made while older
// generations still drain does not wait for them.
//
// Where sockets cannot be handed to a new process (Windows), Upgrade
// returns an error that wraps errors.ErrUnsupported and the service keeps
// serving; elsewhere it returns nil.
func (u *Upgrader) Upgrade() error {
	if _, solo := u.hand.(*soloHandoff); solo {
		return errUnsupported
	}
	select {
	case u.requests <- struct{}{}:
	default:
	}
	return nil
}

// Exit returns a channel closed when this process must stop serving: after a
// successful upgrade, or after Stop (SIGTERM, SIGINT). From then on the
// signals above are ignored, so that nothing cuts the drain short: the
// process is expected to exit once Serve has returned.
func (u *Upgrader) Exit() <-chan struct{} { return u.hand.Exit() }

// Stop ends upgrades and closes Exit, so that Serve drains and returns. If
// no upgrade has succeeded, the service is stopping for good: the PID file
// is removed if it still names this process, and unix sockets are unlinked.
//
// A Stop during an upgrade waits for it (at most UpgradeTimeout) instead of
// killing the new process. If the upgrade then succeeds, the stop was for
// the service, not for this process alone: the new generation is sent
// SIGTERM (found through the PID file) and this one drains.
func (u *Upgrader) Stop() {
	// Every caller waits for the first one: main's deferred Stop must not
	// return (and let the process exit) before the PID file is gone.
	u.beginStop("")
	u.stopOnce.Do(func() {
		<-u.loopDone
		<-u.hand.Exit()
		if u.upgraded.Load() {
			// The new generation serves, and owns the PID file and sockets.
			return
		}
		u.retract()
	})
}

// beginStop records a stop and tells the upgrade loop, without waiting. A
// stop that comes before this process knows of a successful upgrade is
// also meant for the new generation; one after it (main's deferred Stop
// once Serve has drained) is not. A stop caused by signal is logged before
// anything can let the process exit.
func (u *Upgrader) beginStop(signal string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopping {
		return
	}
	if signal != "" {
		u.log.Info("stop requested", "signal", signal)
	}
	u.stopping = true
	select {
	case <-u.hand.Exit():
	default:
		u.stopForNew = true
	}
	close(u.stop)
}

// retract undoes Ready's announcement when the service stops for good.
func (u *Upgrader) retract() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.opts.PIDFile != "" {
		if err := removePIDFile(u.opts.PIDFile, os.Getpid()); err != nil {
			u.log.Warn("remove PID file", "file", u.opts.PIDFile, "err", err)
		}
	}
	if err := notify("STOPPING=1"); err != nil {
		u.log.Warn("notify systemd", "err", err)
	}
}

// handleSignals turns signals into upgrades and stops. It keeps catching
// them after Exit, until the process ends: a SIGHUP or SIGTERM reaching a
// draining process (a stale PID, or systemd signalling the whole cgroup)
// must not kill it with its requests in flight; the drain is bounded anyway.
func (u *Upgrader) handleSignals() {
	for sig := range u.sigs {
		select {
		case <-u.hand.Exit():
			u.log.Info("signal ignored while draining", "signal", sig.String())
			continue
		default:
		}
		switch {
		case slices.Contains(upgradeSignals, sig):
			u.log.Info("upgrade requested", "signal", sig.String())
			if err := u.Upgrade(); err != nil {
				u.log.Warn("upgrade refused", "signal", sig.String(), "err", err)
			}
		default:
			// Recorded before Stop runs: whoever reads the log line knows
			// the stop counts (TestStopDuringUpgrade waits for it).
			u.beginStop(sig.String())
			go u.Stop()
		}
	}
}

// upgradeLoop runs upgrades one at a time until one succeeds or the process
// stops. It alone stops the hand-off, and only between upgrades.
func (u *Upgrader) upgradeLoop() {
	defer close(u.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-u.stop
		cancel()
	}()
	for {
		select {
		case <-u.requests:
		case <-u.stop:
			u.hand.Stop()
			return
		}
		if !u.waitTurn(ctx) {
			u.hand.Stop()
			return
		}
		if err := u.runUpgrade(ctx); err != nil {
			if ctx.Err() != nil {
				u.hand.Stop()
				return
			}
			continue
		}
		u.handOver()
		return
	}
}

// waitTurn waits until this process may start the next generation: it is
// Ready, and the previous generation has released it (it has stopped
// accepting, and drains on its own) or has exited. It reports false if the
// process stops first.
func (u *Upgrader) waitTurn(ctx context.Context) bool {
	select {
	case <-u.ready:
	case <-ctx.Done():
		return false
	}
	// tableflip refuses an upgrade until then; upgradeWhenAllowed covers
	// its loop noticing late.
	if err := u.hand.WaitForParent(ctx); err != nil {
		if ctx.Err() != nil {
			return false
		}
		u.log.Warn("previous generation exited badly", "err", err)
	}
	return true
}

// runUpgrade starts the next generation and waits until it is Ready. On
// failure this process keeps serving and says so again: the PID file and
// systemd's MAINPID name it, whatever the failed process wrote.
func (u *Upgrader) runUpgrade(ctx context.Context) error {
	start := time.Now()
	if err := notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=upgrading", monotonicUsec())); err != nil {
		u.log.Warn("notify systemd", "err", err)
	}
	u.log.Info("upgrade started")
	err := upgradeWhenAllowed(ctx, u.hand, u.opts.UpgradeTimeout)
	if err == nil {
		u.log.Info("upgrade done, draining", "duration", time.Since(start))
		return nil
	}
	// The PID file first, then the log line: whoever reads the line
	// (the agent, a test) finds the file naming this process again.
	if u.opts.PIDFile != "" {
		if pid, rerr := ReadPIDFile(u.opts.PIDFile); rerr != nil || pid != os.Getpid() {
			if werr := writePIDFile(u.opts.PIDFile, os.Getpid()); werr != nil {
				u.log.Error("restore PID file", "err", werr)
			}
		}
	}
	u.log.Error("upgrade failed, still serving", "err", err, "duration", time.Since(start))
	if nerr := notify(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving; last upgrade failed: %v", os.Getpid(), err)); nerr != nil {
		u.log.Warn("notify systemd", "err", nerr)
	}
	return err
}

// handOver ends this process's part once an upgrade has succeeded: it
// releases the new generation (so that it may upgrade in turn while this
// one drains) and passes on what arrived during the upgrade: a stop, or
// another upgrade request.
func (u *Upgrader) handOver() {
	u.mu.Lock()
	u.upgraded.Store(true)
	stop := u.stopForNew
	u.mu.Unlock()
	u.hand.Release()
	switch {
	case stop:
		u.forward("stop", signalStop)
	case len(u.requests) > 0:
		<-u.requests
		u.forward("upgrade", signalUpgrade)
	}
}

// forward passes a request that arrived during the upgrade that just
// succeeded to the new generation: an upgrade may be for a binary installed
// after the new process started, and a stop is for the whole service.
func (u *Upgrader) forward(what string, send func(pid int) error) {
	if u.opts.PIDFile == "" {
		u.log.Warn(what + " requested during an upgrade: no PID file to find the new process")
		return
	}
	pid, err := ReadPIDFile(u.opts.PIDFile)
	if errors.Is(err, fs.ErrNotExist) && what == "stop" {
		u.log.Info("stop requested during the upgrade: the new process has already stopped")
		return
	}
	if err == nil && pid == os.Getpid() {
		err = errors.New("PID file still names this process")
	}
	if err == nil {
		err = send(pid)
	}
	if errors.Is(err, syscall.ESRCH) && what == "stop" {
		u.log.Info("stop requested during the upgrade: the new process has already stopped")
		return
	}
	if err != nil {
		u.log.Error("forward "+what+" request to new process", "err", err)
		return
	}
	u.log.Info(what+" requested during the upgrade forwarded", "to", pid)
}

// removeStaleSocket removes the unix socket at path if nothing accepts
// connections on it.
func removeStaleSocket(path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		_ = os.Remove(path)
	}
}
