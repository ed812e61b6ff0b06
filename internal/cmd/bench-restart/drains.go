package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// drainConfig is the upgrade-latency benchmark's part of the flags.
type drainConfig struct {
	draining []int         // how many older generations drain a long request
	long     time.Duration // each long request
	runs     int           // measurements per target and count
}

// addDrainFlags defines the benchmark's flags on fs.
func addDrainFlags(fs *flag.FlagSet) *drainConfig {
	dc := &drainConfig{draining: []int{0, 1, 2, 3}}
	fs.Func("draining", "comma-separated counts of older generations draining a long request when the upgrade latency is measured (default 0,1,2,3; \"none\" skips it)", func(s string) error {
		dc.draining = nil
		if s == "none" {
			return nil
		}
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 10 {
				return fmt.Errorf("want counts from 0 to 10, got %q", f)
			}
			dc.draining = append(dc.draining, n)
		}
		return nil
	})
	fs.DurationVar(&dc.long, "long-request", 5*time.Second, "how long each draining generation's request lasts")
	fs.IntVar(&dc.runs, "drain-runs", 3, "upgrade-latency measurements per target and count")
	return dc
}

// drainTarget is a service whose upgrade latency is measured.
type drainTarget struct {
	name, pkg string
	// maxDraining is the most older generations it can have draining: past
	// it, setting up the measurement would itself wait for a drain.
	maxDraining int
	// resend, if not 0, is how often SIGHUP is sent again while the
	// upgrade has not happened: the target drops a refused request.
	resend time.Duration
}

// runDrains measures the time from SIGHUP to the new generation's PID in
// the PID file (it is written once Ready) while 0 to 3 older generations
// each drain a long request, for restart/ and for tableflip's graceful
// shutdown example. tableflip refuses an upgrade until the previous process
// has exited (and its example drops the refused SIGHUP), so it is signalled
// again every 100 ms, as a patient operator would; it can have at most one
// generation draining. tableflip's README example is not measured: it does
// not drain at all (it exits at Exit, cutting long requests).
func runDrains(ctx context.Context, dc *drainConfig, dir string, stdout io.Writer) error {
	if len(dc.draining) == 0 {
		return nil
	}
	targets := []drainTarget{
		{"restart", "github.com/debfleet/debfleet/examples/hello", 10, 0},
		{"tableflip-shutdown", "github.com/debfleet/debfleet/internal/cmd/bench-restart/peers/tableflipshutdown", 1, 100 * time.Millisecond},
	}
	bins := make(map[string]string)
	for _, t := range targets {
		bin, err := realparts.BuildGo(ctx, dir, "drains-"+t.name, t.pkg, "")
		if err != nil {
			return err
		}
		bins[t.name] = bin
	}
	fmt.Fprintf(stdout, "\nupgrade latency (SIGHUP to new generation Ready) with older generations each draining a %s request; %d runs each\n", dc.long, dc.runs)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "draining\ttarget\tp50\tmax\ttableflip/restart (p50)\t")
	for _, n := range dc.draining {
		p50 := make(map[string]time.Duration)
		for _, t := range targets {
			if n > t.maxDraining {
				fmt.Fprintf(tw, "%d\t%s\t-\t-\t\t\n", n, t.name)
				continue
			}
			lat, err := measureDrains(ctx, dc, t, bins[t.name], dir, n)
			if err != nil {
				return fmt.Errorf("%s with %d draining: %w", t.name, n, err)
			}
			p50[t.name] = median(lat)
			ratio := ""
			if r, ok := p50["restart"]; ok && t.name != "restart" && r > 0 {
				ratio = fmt.Sprintf("%.2fx", float64(p50[t.name])/float64(r))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t\n", n, t.name, ms(p50[t.name]), ms(slices.Max(lat)), ratio)
		}
	}
	return tw.Flush()
}

// measureDrains runs dc.runs measurements with n generations draining.
func measureDrains(ctx context.Context, dc *drainConfig, t drainTarget, bin, dir string, n int) ([]time.Duration, error) {
	var lat []time.Duration
	for range dc.runs {
		d, err := measureDrain(ctx, t, bin, dir, n, dc.long)
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	return lat, nil
}

// measureDrain starts the service, gives each of n generations a long
// request and upgrades past it, then measures one more upgrade. Every
// generation is killed afterwards: their drains are not measured.
func measureDrain(ctx context.Context, t drainTarget, bin, dir string, n int, long time.Duration) (time.Duration, error) {
	addr, err := realparts.FreeAddr()
	if err != nil {
		return 0, err
	}
	logf, err := os.CreateTemp(dir, "drains-*.log")
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	p := &process{bin: bin, addr: addr, pidFile: filepath.Join(dir, "drains.pid"), log: logf}
	_ = os.Remove(p.pidFile)
	if err := p.start(); err != nil {
		return 0, err
	}
	var gens []int
	defer func() { killAll(append(gens, p.cmd.Process.Pid)) }()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := realparts.WaitFor(wctx, "PID file", func() bool { _, err := restart.ReadPIDFile(p.pidFile); return err == nil }); err != nil {
		return 0, err
	}
	pid, _ := restart.ReadPIDFile(p.pidFile)
	gens = append(gens, pid)
	for i := range n {
		conn, err := holdLong(ctx, addr, gens[i], long)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		next, _, err := upgradeUntilReady(p.pidFile, gens[i], t.resend, long+time.Minute)
		if err != nil {
			return 0, err
		}
		gens = append(gens, next)
	}
	next, d, err := upgradeUntilReady(p.pidFile, gens[n], t.resend, long+time.Minute)
	gens = append(gens, next)
	return d, err
}

// holdLong sends GET /sleep?d=long to the generation pid, on a connection
// it has already answered, and leaves the request in flight.
func holdLong(ctx context.Context, addr string, pid int, long time.Duration) (io.Closer, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := realparts.DialServedBy(ctx, addr, fmt.Sprintf("(pid %d)", pid), long+2*time.Minute)
	if err != nil {
		return nil, err
	}
	if err := conn.Send("/sleep?d=" + long.String()); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// upgradeUntilReady sends SIGHUP to pid (again every resend, if not 0,
// while the PID file still names it) and returns the new PID and the time
// since the first signal, or an error after limit.
func upgradeUntilReady(pidFile string, pid int, resend, limit time.Duration) (int, time.Duration, error) {
	start := time.Now()
	next := start
	for time.Since(start) < limit {
		if now := time.Now(); !now.Before(next) {
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
				return 0, 0, fmt.Errorf("signal %d: %w", pid, err)
			}
			next = now.Add(resend)
			if resend == 0 {
				next = start.Add(limit)
			}
		}
		if p, err := restart.ReadPIDFile(pidFile); err == nil && p != pid {
			return p, time.Since(start), nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, 0, errors.New("no new generation within " + limit.String())
}

// killAll ends every process of a measurement at once.
func killAll(pids []int) {
	for _, p := range pids {
		if p > 0 {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}
