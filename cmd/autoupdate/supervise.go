package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/restart"
)

const superviseHelp = `Usage: autoupdate supervise [--pidfile FILE] [--stop-timeout D] [--] PROGRAM [ARGS...]

Run PROGRAM as the child of a process whose PID never changes, for init
systems that follow the one PID they started (upstart, runit, supervisord)
while the service's PID changes at every zero-downtime upgrade.

This process stays as a child subreaper: the generation a service starts at
an upgrade becomes its child. It forwards SIGHUP and SIGUSR2 (reload, i.e.
upgrade) to the generation the PID file names, forwards SIGTERM, SIGINT and
SIGQUIT to every process of the service, kills what is left after
--stop-timeout, and exits with the status of the last process of the
service to exit (128+N if signal N killed it), so that respawn works.

A service built on debfleet's restart package can do the same by itself
with RESTART_SUPERVISE=1; this command is for any other service that hands
its sockets to a new process on SIGHUP and writes its PID file when ready.
Flags end at PROGRAM: what follows is PROGRAM's.

Example, in an upstart job:
  exec /usr/bin/autoupdate supervise --pidfile /run/hello/hello.pid -- \
    /usr/bin/hello --pidfile /run/hello/hello.pid

Flags:
`

// runSupervise runs "autoupdate supervise" and returns the exit status:
// the service's, or 2 for a usage error and 1 when it could not start.
func runSupervise(ctx context.Context, args []string, stderr io.Writer) int {
	fs := cli.NewFlagSet("autoupdate supervise", superviseHelp, stderr)
	pidFile := fs.String("pidfile", "", "the service's PID `file`: upgrade signals go to the process it names (without it, to the service's youngest process)")
	stopTimeout := fs.Duration("stop-timeout", restart.DefaultDrainTimeout+5*time.Second, "how long after forwarding a stop signal to wait before killing what is left of the service: above its drain timeout, below the init system's kill timeout")
	// The standard parser stops at the first argument that is not a flag:
	// PROGRAM's own flags are not ours.
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return superviseUsage(stderr, err)
	case fs.NArg() == 0:
		return superviseUsage(stderr, cli.Usagef("no PROGRAM to supervise"))
	case *stopTimeout <= 0:
		return superviseUsage(stderr, cli.Usagef("--stop-timeout must be positive"))
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	code, err := restart.Supervise(ctx, restart.SuperviseOptions{
		Path:        fs.Arg(0),
		Args:        fs.Args()[1:],
		PIDFile:     *pidFile,
		StopTimeout: *stopTimeout,
		Logger:      log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "autoupdate supervise: %v\n", err)
	}
	return code
}

func superviseUsage(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "autoupdate supervise: %v\nRun 'autoupdate supervise --help' for usage.\n", err)
	return 2
}
