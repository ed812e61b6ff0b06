package dpkg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/internal/childenv"
)

// ErrLocked is returned (wrapped) when dpkg's lock stayed held by another
// process for longer than LockWait.
var ErrLocked = errors.New("dpkg lock held by another process")

// Default values for the Dpkg fields left zero.
const (
	DefaultLockWait  = 5 * time.Minute
	DefaultLockRetry = 2 * time.Second
	DefaultTimeout   = 10 * time.Minute
)

// Dpkg runs dpkg commands. The zero value works on the host's root.
type Dpkg struct {
	// Root, when set, is a sandbox root directory: dpkg gets --root,
	// --log=Root/var/log/dpkg.log and --force-script-chrootless, so
	// maintainer scripts run unchrooted with DPKG_ROOT set (and, when not
	// running as root, --force-not-root).
	Root string
	// Dpkg and DpkgQuery are the programs to run; default "dpkg" and
	// "dpkg-query" from PATH.
	Dpkg, DpkgQuery string
	// LockWait bounds how long a command waits for a held dpkg lock in
	// total; default DefaultLockWait. Negative means do not wait.
	LockWait time.Duration
	// LockRetry is the pause between two tries while the lock is held;
	// default DefaultLockRetry.
	LockRetry time.Duration
	// Timeout bounds one dpkg run, maintainer scripts included; default
	// DefaultTimeout. A run is never cut short by the caller's context
	// (see Install).
	Timeout time.Duration
	// QueueDir is the host-wide queue that makes the agent processes of
	// one host run dpkg one at a time, in the order they asked (see
	// Install); default DefaultQueueDir, under Root when Root is set.
	// Every Dpkg that installs into the same root must use the same one.
	QueueDir string
	// Logger receives one line when a command starts waiting for the
	// lock; default slog.Default().
	Logger *slog.Logger
}

// Error is a dpkg command that ran and failed.
type Error struct {
	// Args are the command's arguments, without the program name.
	Args []string
	// ExitCode is dpkg's exit status.
	ExitCode int
	// Output is what dpkg wrote to stdout and stderr, trimmed, with the
	// values of the agent's credentials replaced by "[redacted]".
	Output string
}

func (e *Error) Error() string {
	out := e.Output
	if len(out) > 2000 { // the end says what went wrong
		out = "..." + out[len(out)-2000:]
	}
	return fmt.Sprintf("dpkg %s: exit status %d: %s", strings.Join(e.Args, " "), e.ExitCode, out)
}

// Install installs the .deb at path with `dpkg -i`, noninteractively and
// keeping locally changed conffiles (--force-confold). A failure of the
// package itself (a maintainer script exiting non-zero, a dependency
// problem) is an *Error; a lock held past LockWait wraps ErrLocked.
//
// Before dpkg runs, Install takes a place in the host-wide queue
// (QueueDir) that every agent process on the host shares, so that their
// dpkg runs happen one at a time and in the order they were asked for;
// then it waits out dpkg's own lock, which apt and people take. Both waits
// together are bounded by LockWait and end with ctx.
//
// Once dpkg has started, Install waits for it to finish even when ctx
// ends (then returning ctx's error), because a dpkg killed midway leaves
// the package half installed; only Timeout kills it.
func (d *Dpkg) Install(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("dpkg install %s: %w", path, err)
	}
	_, err = d.runLocked(ctx, d.dpkgArgs("--force-confold", "--install", abs))
	if err != nil {
		return fmt.Errorf("dpkg install %s: %w", path, err)
	}
	return nil
}

// Configure finishes any interrupted dpkg run (`dpkg --configure -a`),
// which a kill or a power cut in the middle of Install leaves behind.
func (d *Dpkg) Configure(ctx context.Context) error {
	if _, err := d.runLocked(ctx, d.dpkgArgs("--force-confold", "--configure", "-a")); err != nil {
		return fmt.Errorf("dpkg configure pending: %w", err)
	}
	return nil
}

// Architecture returns the host's Debian architecture
// (`dpkg --print-architecture`), e.g. "amd64".
func (d *Dpkg) Architecture(ctx context.Context) (string, error) {
	out, err := d.run(ctx, d.dpkg(), append(d.rootOpt(), "--print-architecture"))
	if err != nil {
		return "", fmt.Errorf("dpkg architecture: %w", err)
	}
	arch := strings.TrimSpace(out)
	if arch == "" {
		return "", errors.New("dpkg architecture: empty answer")
	}
	return arch, nil
}

// Status is what dpkg's database says about one package.
type Status struct {
	// Version is the package's version; "" when dpkg knows nothing of it.
	Version string
	// State is dpkg's package state: "installed", "half-configured",
	// "unpacked", "half-installed", "config-files", "not-installed", ...
	State string
}

// Installed reports whether the package is fully installed.
func (s Status) Installed() bool { return s.State == "installed" }

// Query returns the status of pkg (`dpkg-query -W`). A package dpkg has
// never heard of gives the zero Status and no error.
func (d *Dpkg) Query(ctx context.Context, pkg string) (Status, error) {
	args := append(d.rootOpt(), "--show", "--showformat=${db:Status-Status}\t${Version}", "--", pkg)
	query := d.DpkgQuery
	if query == "" {
		query = "dpkg-query"
	}
	out, err := d.run(ctx, query, args)
	var de *Error
	if errors.As(err, &de) && de.ExitCode == 1 && strings.Contains(de.Output, "no packages found") {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("dpkg query %s: %w", pkg, err)
	}
	state, version, ok := strings.Cut(out, "\t")
	if !ok {
		return Status{}, fmt.Errorf("dpkg query %s: unexpected answer %q", pkg, out)
	}
	return Status{Version: strings.TrimSpace(version), State: strings.TrimSpace(state)}, nil
}

// rootOpt returns the sandbox option for commands that only read.
func (d *Dpkg) rootOpt() []string {
	if d.Root == "" {
		return nil
	}
	return []string{"--root=" + d.Root}
}

func (d *Dpkg) dpkgArgs(op ...string) []string {
	var args []string
	if d.Root != "" {
		args = append(args,
			"--root="+d.Root,
			"--log="+filepath.Join(d.Root, "var/log/dpkg.log"),
			"--force-script-chrootless")
		if os.Geteuid() != 0 {
			// A sandbox root owned by the user (tests, the demo).
			args = append(args, "--force-not-root")
		}
	}
	return append(args, op...)
}

func (d *Dpkg) dpkg() string {
	if d.Dpkg == "" {
		return "dpkg"
	}
	return d.Dpkg
}

// runLocked runs dpkg with args once it is at the head of the host's
// queue, retrying while another process (apt, a person) holds the dpkg
// lock; both waits together last at most LockWait.
func (d *Dpkg) runLocked(ctx context.Context, args []string) (string, error) {
	wait, retry := d.LockWait, d.LockRetry
	if wait == 0 {
		wait = DefaultLockWait
	}
	if retry <= 0 {
		retry = DefaultLockRetry
	}
	start := time.Now()
	deadline := start.Add(max(wait, 0))
	tk, err := d.queue(ctx, deadline)
	if err != nil {
		return "", err
	}
	defer tk.release()
	logged := false
	for {
		out, err := d.run(ctx, d.dpkg(), args)
		if err == nil || !isLockError(err) {
			return out, err
		}
		waited := time.Since(start)
		if waited+retry > wait {
			return out, fmt.Errorf("%w after %s: %w", ErrLocked, waited.Round(time.Millisecond), err)
		}
		if !logged {
			d.logger().Info("dpkg lock held, waiting", "max_wait", wait, "retry", retry)
			logged = true
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return out, fmt.Errorf("waiting for the dpkg lock: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// isLockError tells dpkg's "another process holds the lock" failure (exit
// status 2 and a message naming the frontend or database lock) from a
// package's own failure.
func isLockError(err error) bool {
	var de *Error
	if !errors.As(err, &de) || de.ExitCode != 2 {
		return false
	}
	return strings.Contains(de.Output, "locked by another process") ||
		strings.Contains(de.Output, "status database is locked")
}

// run runs one command with a clean, noninteractive environment and no
// stdin, so nothing can stop to ask a question. The environment holds none
// of the agent's credentials, and their values are redacted from the
// output it returns.
//
// Once started, a command is not interrupted when ctx ends: killing dpkg
// midway is exactly what leaves a host half installed. It runs in its own
// process group (a Ctrl-C or a supervisor's signal to the agent's group
// does not reach it) and is killed, with its maintainer scripts, only
// after Timeout. When ctx ended meanwhile, run reports ctx's error after
// the command finished, so the caller stops; a later Configure or Install
// converges.
func (d *Dpkg) run(ctx context.Context, name string, args []string) (string, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, name, args...)
	cmd.Env = env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	// A maintainer script can still read the credentials file and print
	// it; the output goes into errors, and from there into status objects.
	out := childenv.Redact(buf.String())
	if runCtx.Err() != nil {
		return out, fmt.Errorf("%s %s: killed after %s: %w", name, strings.Join(args, " "), timeout, runCtx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = &Error{Args: args, ExitCode: ee.ExitCode(), Output: strings.TrimSpace(out)}
	} else if err != nil {
		err = fmt.Errorf("run %s: %w", name, err)
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s %s finished (%v), then stopping: %w", name, strings.Join(args, " "), errOrOK(err), ctx.Err())
	}
	return out, err
}

func errOrOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

// env is the agent's environment without its credentials
// (childenv.Environ), made noninteractive, with sbin in PATH.
func env() []string {
	var e []string
	for _, kv := range childenv.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DEBIAN_FRONTEND", "DPKG_FRONTEND_LOCKED", "DPKG_ROOT", "DPKG_ADMINDIR":
			// DPKG_FRONTEND_LOCKED would make dpkg skip the frontend lock
			// it must take; the others are set by dpkg itself or by us.
			continue
		}
		e = append(e, kv)
	}
	e = append(e, "DEBIAN_FRONTEND=noninteractive")
	if !strings.Contains(os.Getenv("PATH"), "sbin") {
		// dpkg needs ldconfig and start-stop-daemon, which live in sbin.
		e = append(e, "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	}
	return e
}

func (d *Dpkg) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}
