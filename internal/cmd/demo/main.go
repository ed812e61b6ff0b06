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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	interrupted := ctx.Err() != nil
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil && interrupted {
		fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	hosts         int
	interval      time.Duration
	healthTimeout time.Duration
	workers       int
	bin           string
	limit         time.Duration
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.hosts, "hosts", 3, "number of simulated servers")
	fs.DurationVar(&o.interval, "interval", time.Second, "agent check interval (the agent's default is 10s; short so the demo is quick)")
	fs.DurationVar(&o.healthTimeout, "health-timeout", 10*time.Second, "how long a restarted hello has to prove healthy before the agent rolls back")
	fs.IntVar(&o.workers, "workers", 2, "keep-alive load clients per host")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding pkgdeb and autoupdate (make build)")
	fs.DurationVar(&o.limit, "limit", 4*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: demo [flags]   (run from the repository root; scripts/demo builds first)

Three servers (agents with sandboxed dpkg roots, each running its own hello)
follow one release channel in a local versitygw; publishes 1.0.0, 1.1.0
under load, a broken 1.2.0, then rolls the channel back. Then hello's
environment file goes out on a config channel: a new greeting under load,
and a config that fails hello's health check, which every host rolls back.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.hosts < 1 || o.hosts > 20 {
		return fmt.Errorf("--hosts %d: want 1 to 20", o.hosts)
	}
	ctx, cancel := context.WithTimeout(ctx, o.limit)
	defer cancel()
	d := &driver{o: o, s: &story{w: stdout, start: time.Now()}}
	err := d.run(ctx)
	d.cleanup()
	if err == nil {
		d.summary()
	}
	fmt.Fprintf(stdout, "\nLogs: %s (agent.log and hello.log per host, dpkg's log in each root's var/log/dpkg.log)\n", d.work)
	fmt.Fprintf(stdout, "Remove them with: rm -rf %s\n", d.work)
	return err
}
