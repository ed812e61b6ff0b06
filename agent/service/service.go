package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/internal/childenv"
	"github.com/debfleet/debfleet/restart"
)

// ErrNotRunning is returned by Restart when it is to signal the service
// and no live process is named in the PID file: there is nothing to
// restart. The caller decides; the agent treats it as "installed, the
// supervisor will start it" (a new server installing its first release
// before the service starts).
var ErrNotRunning = errors.New("service not running")

// ErrUnhealthy is returned (wrapped) by Restart and Wait when the service
// did not prove healthy before Timeout. The error says how long it waited
// and which check failed last. When the caller's context ends first the
// error wraps the context's error instead: nothing was proven either way.
var ErrUnhealthy = errors.New("service not healthy")

// Defaults for the Input fields left zero.
const (
	DefaultTimeout = 30 * time.Second
	DefaultPoll    = 100 * time.Millisecond
)

// Input configures a Service.
type Input struct {
	// PIDFile is the service's PID file. When set, Restart signals the PID
	// it names (unless ReloadCmd is set) and health requires a different,
	// live PID in it afterwards. Either PID must be the service's: see the
	// package documentation.
	PIDFile string
	// Unit, when set, is the systemd unit the service runs in, e.g.
	// "hello.service": a PID from PIDFile counts only if its process is in
	// that unit's cgroup. When empty, the cgroup of the first PID trusted
	// is the service's from then on.
	Unit string
	// Signal is sent to the PID in PIDFile to restart the service; default
	// SIGHUP.
	Signal syscall.Signal
	// ReloadCmd, when set, is run with "sh -c" instead of sending Signal,
	// e.g. "systemctl reload hello". It is bounded by Timeout. It gets the
	// agent's environment without its credentials, and their values are
	// redacted from its output in errors.
	ReloadCmd string
	// HealthURL, when set, must answer 200 to a GET.
	HealthURL string
	// VersionURL, when set, must answer 200 to a GET with a body that is
	// the expected version (see VersionMatches).
	VersionURL string
	// Timeout bounds the reload command and the wait for health after the
	// restart; default DefaultTimeout.
	Timeout time.Duration
	// Splay is the upper bound of a random delay before the restart, so
	// that hosts receiving a release together do not restart together.
	// Zero restarts at once.
	Splay time.Duration
	// Rand draws the splay; nil uses the math/rand/v2 top-level source.
	// Tests pass a seeded source.
	Rand *rand.Rand
	// Poll is the pause between two health checks; default DefaultPoll.
	Poll time.Duration
	// Settle is how long every check must keep passing, on the same
	// PID, before the service counts as healthy; default 3*Poll. It keeps
	// a process that dies just after starting from passing.
	Settle time.Duration
	// Client makes the health requests; default a client whose requests
	// time out after 5 s.
	Client *http.Client
	// Logger receives one line per restart and per outcome; default
	// slog.Default().
	Logger *slog.Logger
}

// Service restarts one service and checks its health.
type Service struct {
	in Input

	mu sync.Mutex
	// cgroup is the service's cgroup, learned from the first PID trusted
	// when Input.Unit is empty.
	cgroup string
}

// New checks in and returns a Service.
func New(in Input) (*Service, error) {
	if in.PIDFile == "" && in.ReloadCmd == "" {
		return nil, errors.New("service: need a PID file to signal or a reload command")
	}
	if in.Signal == 0 {
		in.Signal = syscall.SIGHUP
	}
	if in.Timeout <= 0 {
		in.Timeout = DefaultTimeout
	}
	if in.Poll <= 0 {
		in.Poll = DefaultPoll
	}
	if in.Settle <= 0 {
		in.Settle = 3 * in.Poll
	}
	if in.Splay < 0 {
		return nil, fmt.Errorf("service: negative splay %s", in.Splay)
	}
	if in.Unit != "" {
		if err := CheckUnit(in.Unit); err != nil {
			return nil, fmt.Errorf("service: %w", err)
		}
	}
	if in.Client == nil {
		in.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if in.Logger == nil {
		in.Logger = slog.Default()
	}
	return &Service{in: in}, nil
}

// Restart waits the splay, restarts the service and waits until it proves
// healthy running version, all within ctx. It returns the new PID (0 when
// no PID file is configured). A failed signal or reload command is an
// error; a service that never proves healthy wraps ErrUnhealthy.
//
// In signal mode, with no live process in the PID file, there is nothing to
// restart: Restart returns ErrNotRunning at once, without waiting for
// health. A PID file that names a process other than the service's, or that
// is not a plain PID file, fails it at once with ErrNotService, in either
// mode.
func (s *Service) Restart(ctx context.Context, version string) (int, error) {
	if d := s.splay(); d > 0 {
		s.in.Logger.Info("splay before restart", "delay", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("restart: %w", ctx.Err())
		case <-t.C:
		}
	}
	start := time.Now()
	proc, err := s.running()
	if err != nil {
		return 0, fmt.Errorf("restart: %w", err)
	}
	oldPID := 0
	if proc != nil {
		oldPID = proc.Pid
		defer proc.Release()
	}
	switch {
	case s.in.ReloadCmd != "":
		if err := s.reload(ctx); err != nil {
			return 0, err
		}
	case proc != nil:
		if err := proc.Signal(s.in.Signal); err != nil {
			return 0, fmt.Errorf("restart: signal %s to pid %d: %w", s.in.Signal, oldPID, err)
		}
	default:
		return 0, fmt.Errorf("restart: no live process in %s: %w", s.in.PIDFile, ErrNotRunning)
	}
	pid, err := s.Wait(ctx, oldPID, version)
	if err != nil {
		msg := "restart failed"
		if ctx.Err() != nil {
			msg = "restart interrupted"
		}
		s.in.Logger.Warn(msg, "version", version, "old_pid", oldPID, "duration", time.Since(start).Round(time.Millisecond), "err", err)
		return 0, err
	}
	s.in.Logger.Info("service restarted", "version", version, "old_pid", oldPID, "pid", pid, "duration", time.Since(start).Round(time.Millisecond))
	return pid, nil
}

// Wait waits, for at most Timeout, until the service proves healthy: a live
// PID other than oldPID in the PID file (when one is configured), the
// health URL answering 200, and the version URL answering version, all
// holding for Settle. It returns the PID. After Timeout the error wraps
// ErrUnhealthy and says how long it waited and which check failed last.
// When ctx ends first (the agent stopping) the error wraps ctx's error, not
// ErrUnhealthy, and says how long it had waited.
func (s *Service) Wait(ctx context.Context, oldPID int, version string) (int, error) {
	start := time.Now()
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, s.in.Timeout)
	defer cancel()
	var last error
	var healthyPID int
	var healthySince time.Time
	for {
		pid, err := s.check(ctx, oldPID, version)
		if errors.Is(err, ErrNotService) {
			// Waiting does not make another process the service's.
			return 0, fmt.Errorf("health check after %s: %w", time.Since(start).Round(time.Millisecond), err)
		}
		if err == nil {
			// One good check can catch a new process in the instant
			// before it dies; healthy means staying so for Settle.
			if pid != healthyPID || healthySince.IsZero() {
				healthyPID, healthySince = pid, time.Now()
			}
			if time.Since(healthySince) >= s.in.Settle {
				return pid, nil
			}
		} else {
			healthySince = time.Time{}
		}
		// A check cut short by the deadline says nothing about the
		// service; report the last complete one.
		if err != nil && (ctx.Err() == nil || last == nil) {
			last = err
		}
		t := time.NewTimer(s.in.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, s.stopped(caller, time.Since(start), last)
		case <-t.C:
		}
	}
}

// stopped is Wait's error once its context ended after elapsed, with last
// the last failed check. Only the end of Wait's own timeout says anything
// about the service; the caller's context ending (cancelled when the agent
// stops, or its own deadline) cut the wait short.
func (s *Service) stopped(caller context.Context, elapsed time.Duration, last error) error {
	elapsed = elapsed.Round(time.Millisecond)
	if last == nil {
		last = fmt.Errorf("every check passed, but not yet for %s (Settle)", s.in.Settle)
	}
	switch err := caller.Err(); {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("health check cancelled after %s (agent stopping): %w (last check: %v)", elapsed, err, last)
	case err != nil:
		return fmt.Errorf("health check stopped after %s by the caller's deadline: %w (last check: %v)", elapsed, err, last)
	}
	return fmt.Errorf("%w: timed out after %s: %w", ErrUnhealthy, elapsed, last)
}

// check runs every configured check once.
func (s *Service) check(ctx context.Context, oldPID int, version string) (int, error) {
	pid := 0
	if s.in.PIDFile != "" {
		var owner int
		var err error
		pid, owner, err = restart.ReadPIDFileOwner(s.in.PIDFile)
		switch {
		case errors.Is(err, restart.ErrNotPIDFile):
			return 0, fmt.Errorf("%w: %w", ErrNotService, err)
		case err != nil:
			return 0, err
		case pid == oldPID:
			return 0, fmt.Errorf("pid file %s still names the old process %d", s.in.PIDFile, pid)
		case !restart.Alive(pid):
			return 0, fmt.Errorf("pid %d from %s is not running", pid, s.in.PIDFile)
		}
		if err := s.trust(pid, owner); err != nil {
			return 0, err
		}
	}
	if s.in.HealthURL != "" {
		if _, err := s.get(ctx, s.in.HealthURL); err != nil {
			return 0, err
		}
	}
	if s.in.VersionURL != "" {
		body, err := s.get(ctx, s.in.VersionURL)
		if err != nil {
			return 0, err
		}
		if !VersionMatches(body, version) {
			return 0, fmt.Errorf("%s answers version %q, want %q", s.in.VersionURL, truncate(strings.TrimSpace(body), 100), version)
		}
	}
	return pid, nil
}

// running returns the service's live process the PID file names, or nil
// when there is none (no PID file, no PID in it, or a PID that is not
// running), or an error wrapping ErrNotService when the file or its
// process is not the service's.
func (s *Service) running() (*os.Process, error) {
	if s.in.PIDFile == "" {
		return nil, nil
	}
	pid, owner, err := restart.ReadPIDFileOwner(s.in.PIDFile)
	switch {
	case errors.Is(err, restart.ErrNotPIDFile):
		return nil, fmt.Errorf("%w: %w", ErrNotService, err)
	case err != nil:
		return nil, nil
	}
	// The handle first (a pidfd on Linux), what /proc says after: should
	// pid exit and its number be reused in between, the signal sent
	// through the handle fails instead of reaching the newcomer.
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil, nil
	}
	if !restart.Alive(pid) {
		proc.Release()
		return nil, nil
	}
	if err := s.trust(pid, owner); err != nil {
		proc.Release()
		return nil, err
	}
	return proc, nil
}

// trust returns an error wrapping ErrNotService unless pid, named by a PID
// file that owner owns, is the service's (see the package documentation).
// Without Input.Unit, the first PID trusted teaches the service's cgroup.
func (s *Service) trust(pid, owner int) error {
	p := inspect(pid, owner)
	self := os.Getpid()
	s.mu.Lock()
	defer s.mu.Unlock()
	tr := trust{Self: self, Ancestors: ancestors(self), Unit: s.in.Unit, Cgroup: s.cgroup}
	if err := tr.check(p); err != nil {
		return fmt.Errorf("%s: %w", s.in.PIDFile, err)
	}
	if s.in.Unit == "" && s.cgroup == "" && p.Cgroup != "" {
		s.cgroup = p.Cgroup
		s.in.Logger.Info("service cgroup learned", "pid", pid, "cgroup", p.Cgroup)
	}
	return nil
}

func (s *Service) get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("health check: %w", err)
	}
	resp, err := s.in.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("health check GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("health check GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

func (s *Service) reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.in.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.in.ReloadCmd)
	cmd.Env = childenv.Environ()
	// The command may start long-lived children (a shell backgrounding the
	// service); do not wait for their copies of our pipes.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Redacted before truncating, which could cut a value in two.
		msg := truncate(strings.TrimSpace(childenv.Redact(string(out))), 500)
		return fmt.Errorf("restart: reload command %q: %w: %s", s.in.ReloadCmd, err, msg)
	}
	return nil
}

func (s *Service) splay() time.Duration {
	if s.in.Splay <= 0 {
		return 0
	}
	if s.in.Rand != nil {
		return time.Duration(s.in.Rand.Int64N(int64(s.in.Splay)))
	}
	return time.Duration(rand.Int64N(int64(s.in.Splay)))
}

// VersionMatches reports whether body, as served by a version URL, names
// version. Surrounding whitespace is ignored, and a service may report the
// Debian version without its epoch ("1:2.0-1" as "2.0-1") or without its
// epoch and Debian revision ("2.0"), since binaries are usually stamped
// with the upstream version.
func VersionMatches(body, version string) bool {
	got := strings.TrimSpace(body)
	if got == "" || version == "" {
		return false
	}
	if got == version {
		return true
	}
	noEpoch := version
	if _, rest, ok := strings.Cut(version, ":"); ok {
		noEpoch = rest
	}
	if got == noEpoch {
		return true
	}
	if i := strings.LastIndexByte(noEpoch, '-'); i > 0 && got == noEpoch[:i] {
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
