package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue *cli.UsageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "bench-agent: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "bench-agent: %v\n", err)
		os.Exit(1)
	}
}

// options are the driver's flags.
type options struct {
	mode        string
	bin         string
	work        string
	pids        string
	duration    time.Duration
	agents      int
	interval    time.Duration
	idleWindow  time.Duration
	phaseLimit  time.Duration
	packageName string
	// policy is release 2's rollout policy in fleet mode.
	policy fleet.Policy
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.mode, "mode", "idle", "what to measure: idle (one agent) or fleet (many agents, one rollout)")
	fs.StringVar(&o.bin, "autoupdate", "", "the autoupdate `binary` to run (required)")
	fs.StringVar(&o.work, "work", "", "scratch `directory` for state dirs, dpkg roots and logs (required; the caller removes it)")
	fs.StringVar(&o.pids, "pid-file", "", "append the PID of every process started to this `file`")
	fs.DurationVar(&o.duration, "idle-duration", 10*time.Minute, "idle mode: how long to measure the idle agent")
	fs.IntVar(&o.agents, "agents", 200, "fleet mode: number of agent processes")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "the agents' --interval (jitter stays at the agent's default, 20%)")
	fs.DurationVar(&o.idleWindow, "fleet-idle", 30*time.Second, "fleet mode: how long to measure the idle request rate before the rollout")
	fs.DurationVar(&o.phaseLimit, "phase-timeout", 5*time.Minute, "fail when the fleet takes longer than this to install a release")
	fs.StringVar(&o.packageName, "package", "benchpkg", "name of the tiny package published")
	rollout := fs.String("rollout", "100%", "fleet mode: release 2's waves, e.g. 10%,50%,100% (see pkgdeb publish --rollout)")
	fs.DurationVar(&o.policy.WaveInterval, "wave-interval", 0, "fleet mode: time between two waves of release 2")
	fs.IntVar(&o.policy.MaxUpdating, "max-updating", 0, "fleet mode: at most this many hosts installing release 2 at once (0: no cap)")
	fs.IntVar(&o.policy.HaltAfter, "halt-after", 0, "fleet mode: halt release 2 after this many failed hosts (0: never)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: bench-agent -mode idle|fleet -autoupdate BIN -work DIR [flags]

Runs real autoupdate processes against a local versitygw behind a counting
proxy and prints what they cost. Normally run by scripts/bench-agent.

Example:
  bench-agent -mode fleet -agents 50 -autoupdate /tmp/x/autoupdate -work /tmp/x

Flags:
`)
		fs.PrintDefaults()
	}
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return cli.Usagef("unexpected argument %q", rest[0])
	case o.bin == "" || o.work == "":
		return cli.Usagef("-autoupdate and -work are required")
	case o.interval <= 0 || o.duration <= 0 || o.idleWindow <= 0 || o.phaseLimit <= 0:
		return cli.Usagef("durations must be positive")
	case o.agents < 1 || o.agents > 1000:
		return cli.Usagef("-agents must be between 1 and 1000")
	}
	if o.policy.Waves, err = fleet.ParseWaves(*rollout); err != nil {
		return cli.Usagef("-rollout: %v", err)
	}
	if err := o.policy.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	b, err := setup(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	switch o.mode {
	case "idle":
		return b.idle(ctx, stdout)
	case "fleet":
		return b.fleet(ctx, stdout)
	default:
		return cli.Usagef("-mode must be idle or fleet, not %q", o.mode)
	}
}
