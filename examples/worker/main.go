package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// maxWork bounds --work: a simulated job should not outlive a test.
const maxWork = time.Minute

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// options are the worker's settings, from its flags.
type options struct {
	spool, pidFile string
	work, poll     time.Duration
	drain, upgrade time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.spool, "spool", "", "the job queue: a `directory` with new/, claimed/ and done/ (required)")
	fs.StringVar(&o.pidFile, "pidfile", "", "write the current generation's PID to `file`")
	fs.DurationVar(&o.work, "work", 100*time.Millisecond, "simulated work per job, at most "+maxWork.String())
	fs.DurationVar(&o.poll, "poll", 200*time.Millisecond, "how often to look for jobs when none waits")
	fs.DurationVar(&o.drain, "drain-timeout", restart.DefaultDrainTimeout, "how long an old generation may take to finish its job; past it the job is put back")
	fs.DurationVar(&o.upgrade, "upgrade-timeout", restart.DefaultUpgradeTimeout, "how long a new generation may take to become ready before the upgrade is abandoned")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: worker --spool DIR [flags]

A job loop with no listener, upgraded in place like a server: on SIGHUP a
new generation starts taking jobs, and the old one finishes the job it is
running and exits. A job is a file renamed into DIR/new/ (a unique name;
names starting with "." are ignored); its result (the SHA-256 of its
bytes, after --work) appears in DIR/done/ under the same name.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.spool == "":
		return o, errors.New("--spool is required")
	case o.work < 0 || o.work > maxWork:
		return o, fmt.Errorf("--work: want a duration up to %s", maxWork)
	case o.poll <= 0:
		return o, errors.New("--poll: want a positive duration")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("pid", os.Getpid())
	upg, err := restart.New(restart.Options{PIDFile: o.pidFile, DrainTimeout: o.drain, UpgradeTimeout: o.upgrade, Logger: log})
	if err != nil {
		return err
	}
	defer upg.Stop()
	sp, err := openSpool(o.spool, os.Getpid())
	if err != nil {
		return err
	}
	if err := sp.recover(log); err != nil {
		return err
	}
	// No listener: Ready is what tells the previous generation to stop
	// taking jobs.
	if err := upg.Ready(); err != nil {
		return err
	}
	if err := work(ctx, upg.Exit(), sp, o, log); err != nil {
		return err
	}
	return sp.close()
}

// work runs jobs one at a time until exit is closed (an upgrade has
// succeeded, or the worker is told to stop), then returns once the job it
// was running is finished: the next generation is already taking jobs. A
// job still running drain after exit is cut short and put back.
func work(ctx context.Context, exit <-chan struct{}, sp *spool, o options, log *slog.Logger) error {
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-exit:
		case <-jobCtx.Done():
			return
		}
		t := time.NewTimer(o.drain)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-jobCtx.Done():
		}
	}()
	for {
		select {
		case <-exit:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		name, err := sp.claim()
		if err != nil {
			return err
		}
		if name == "" {
			select {
			case <-exit:
			case <-ctx.Done():
			case <-time.After(o.poll):
			}
			continue
		}
		if err := runJob(jobCtx, sp, name, o.work, log); err != nil {
			return err
		}
	}
}

// runJob runs one claimed job and records its result, or puts it back if
// ctx ends first.
func runJob(ctx context.Context, sp *spool, name string, work time.Duration, log *slog.Logger) error {
	start := time.Now()
	log.Info("job started", "job", name)
	sum, err := process(ctx, sp.claimed(name), work)
	if ctx.Err() != nil {
		log.Warn("job cut short by the drain timeout, put back", "job", name, "duration", time.Since(start))
		return sp.requeue(name)
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", name, err)
	}
	result := fmt.Sprintf("%x %d\n", sum, os.Getpid())
	if err := sp.finish(name, []byte(result)); err != nil {
		return err
	}
	log.Info("job done", "job", name, "sha256", fmt.Sprintf("%x", sum), "duration", time.Since(start))
	return nil
}

// process stands for the real work (a computer-vision model, say): it
// hashes the job's bytes, streaming, and takes work to do it.
func process(ctx context.Context, path string, work time.Duration) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	t := time.NewTimer(work)
	defer t.Stop()
	select {
	case <-t.C:
		return h.Sum(nil), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
