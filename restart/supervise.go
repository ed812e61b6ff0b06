package restart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SuperviseEnv names the environment variable that turns a service built on
// this package into its own stable-PID supervisor: with SuperviseEnv=1, New
// runs Supervise on a copy of the binary (same path, arguments and
// environment without SuperviseEnv) and exits with its status. This is how
// an upstart job, a runit run script or a supervisord program runs a
// restart-enabled service today (see upstart/service.conf.template).
const SuperviseEnv = "RESTART_SUPERVISE"

// SuperviseOptions describe the service a stable-PID supervisor runs.
type SuperviseOptions struct {
	// Path is the service binary. It is looked up in PATH if it has no
	// slash.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env is the service's environment; nil means this process's
	// environment without SuperviseEnv.
	Env []string
	// PIDFile is the service's PID file (its --pidfile): upgrade signals go
	// to the process it names. Without it they go to the youngest process of
	// the service, which queues the upgrade until it is Ready itself.
	PIDFile string
	// StopTimeout is how long after forwarding SIGTERM or SIGINT the
	// supervisor waits before it kills what is left of the service with
	// SIGKILL. Default DefaultDrainTimeout plus 5 s: keep it above the
	// service's DrainTimeout and below the init system's own kill timeout.
	StopTimeout time.Duration
	// Logger receives one line per event. Default slog.Default().
	Logger *slog.Logger
}

// Supervise runs the service as the child of a process whose PID never
// changes, for init systems that follow one PID (upstart, runit,
// supervisord) and cannot see the service's PID change at each upgrade.
//
// The calling process becomes a child subreaper (prctl
// PR_SET_CHILD_SUBREAPER), so when a generation exits after an upgrade the
// next one becomes its child instead of init's. It starts the service in a
// process group of its own (so a signal to the supervisor's group reaches
// the service once, through the supervisor), forwards SIGHUP and SIGUSR2 to
// the current generation (the PID file's), forwards SIGTERM, SIGINT and
// SIGQUIT to every process of the service, reaps every child, and returns
// once no process of the service is left, with the exit status of the last
// one to exit (128+signal if it was killed), which the caller passes to
// os.Exit. Ending ctx stops the service as SIGTERM does.
//
// Supervise reaps every child of the calling process: run no other child
// processes beside it. It needs Linux (for the child subreaper); elsewhere
// it returns an error that wraps errors.ErrUnsupported.
func Supervise(ctx context.Context, opts SuperviseOptions) (int, error) {
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultDrainTimeout + 5*time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Env == nil {
		opts.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, SuperviseEnv+"=")
		})
	}
	if opts.PIDFile != "" {
		abs, err := filepath.Abs(opts.PIDFile)
		if err != nil {
			return 1, fmt.Errorf("supervise: resolve PID file: %w", err)
		}
		opts.PIDFile = abs
	}
	path, err := exec.LookPath(opts.Path)
	if err != nil {
		return 1, fmt.Errorf("supervise %s: %w", opts.Path, err)
	}
	return supervise(ctx, opts, path)
}

// superviseSelf runs this binary under Supervise (SuperviseEnv=1 mode) and
// exits with its status. Where supervision is unsupported it logs why and
// returns, and the process serves unsupervised: a developer's machine runs
// the same command line as a server.
func superviseSelf(opts Options) {
	code, err := Supervise(context.Background(), SuperviseOptions{
		Path:        os.Args[0],
		Args:        os.Args[1:],
		PIDFile:     opts.PIDFile,
		StopTimeout: opts.DrainTimeout + 5*time.Second,
		Logger:      opts.Logger,
	})
	if errors.Is(err, errors.ErrUnsupported) {
		opts.Logger.Warn("serving unsupervised", "err", err)
		return
	}
	if err != nil {
		opts.Logger.Error("supervise", "err", err)
	}
	os.Exit(code)
}
