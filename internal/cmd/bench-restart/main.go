package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench-restart:", err)
		os.Exit(1)
	}
}

type config struct {
	duration, every, window time.Duration
	workers                 int
	targets, modes          []string
}

// target is one way of running and restarting the service.
type target struct {
	name string
	pkg  string
	// upgrade restarts the service the target's way; it returns when the
	// signal has been sent (or, for naive, the old process has exited).
	upgrade func(p *process) error
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "load duration per run")
	fs.DurationVar(&c.every, "every", 2*time.Second, "time between restarts")
	fs.DurationVar(&c.window, "window", 500*time.Millisecond, "a request overlapping [signal, signal+window) counts as during a restart")
	fs.IntVar(&c.workers, "connections", 50, "concurrent clients")
	targets := fs.String("targets", "restart,tableflip-readme,naive", "comma-separated targets to run")
	modes := fs.String("modes", "keep-alive,new-connection", "comma-separated load modes")
	streams := fs.String("streams", "websocket,events,grpc,h2c", "comma-separated long-lived client loads (streams.go); empty for none")
	drains := addDrainFlags(fs) // drains.go
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: bench-restart [flags]

Measures restarts under HTTP load on 127.0.0.1 against examples/hello
(restart), tableflip's README example and a naive stop-and-start.

Example:
  scripts/bench-restart --duration 20s --every 2s

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.targets, c.modes = strings.Split(*targets, ","), strings.Split(*modes, ",")

	all := []target{
		{"restart", "github.com/debfleet/debfleet/examples/hello", signalUpgrade},
		{"tableflip-readme", "github.com/debfleet/debfleet/internal/cmd/bench-restart/peers/tableflipreadme", signalUpgrade},
		{"naive", "github.com/debfleet/debfleet/internal/cmd/bench-restart/peers/naive", naiveRestart},
	}
	dir, err := os.MkdirTemp("", "bench-restart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(stdout, "load: %d connections, %s per run, a restart every %s; 'during' = requests overlapping [signal, signal+%s)\n",
		c.workers, c.duration, c.every, c.window)
	fmt.Fprintln(tw, "target\tmode\trestarts\trequests\tfailures\tp50\tp99 without\tp99 during\tready p50\tready max\t")
	for _, t := range all {
		if !slices.Contains(c.targets, t.name) {
			continue
		}
		bin, err := realparts.BuildGo(ctx, dir, t.name, t.pkg, "")
		if err != nil {
			return err
		}
		for _, mode := range c.modes {
			r, err := measure(ctx, c, t, bin, dir, mode == "keep-alive", stderr)
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.name, mode, err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", t.name, mode, len(r.ready), r.load.Requests, r.load.Failures,
				ms(realparts.Percentile(r.load.Samples, 50, nil)), ms(r.p99Without), ms(r.p99During), ms(median(r.ready)), ms(slices.Max(append(r.ready, 0))))
			if len(r.load.Errors) > 0 {
				fmt.Fprintf(stderr, "%s %s failures: %v\n", t.name, mode, r.load.Errors)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := runStreams(ctx, c, strings.FieldsFunc(*streams, func(r rune) bool { return r == ',' }), dir, stdout, stderr); err != nil {
		return err
	}
	return runDrains(ctx, drains, dir, stdout)
}

type result struct {
	load                  *realparts.LoadResult
	ready                 []time.Duration
	p99During, p99Without time.Duration
}

// process is the running service of one run.
type process struct {
	bin, addr, pidFile string
	log                io.Writer
	cmd                *exec.Cmd // the process this program started last
}

func (p *process) start() error {
	p.cmd = exec.Command(p.bin, "--listen", p.addr, "--pidfile", p.pidFile)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func(cmd *exec.Cmd) { _ = cmd.Wait() }(p.cmd)
	return nil
}

func signalUpgrade(p *process) error {
	pid, err := restart.ReadPIDFile(p.pidFile)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGHUP)
}

func naiveRestart(p *process) error {
	pid, err := restart.ReadPIDFile(p.pidFile)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for restart.Alive(pid) {
		time.Sleep(time.Millisecond)
	}
	return p.start()
}

func measure(ctx context.Context, c config, t target, bin, dir string, keepAlive bool, stderr io.Writer) (*result, error) {
	addr, err := realparts.FreeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, t.name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p := &process{bin: bin, addr: addr, pidFile: filepath.Join(dir, t.name+".pid"), log: logf}
	_ = os.Remove(p.pidFile)
	if err := p.start(); err != nil {
		return nil, err
	}
	defer stopAll(p)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := realparts.WaitHTTP(wctx, "http://"+addr+"/"); err != nil {
		return nil, err
	}

	loadDone := make(chan *realparts.LoadResult, 1)
	go func() {
		loadDone <- realparts.Load(ctx, realparts.LoadOptions{Addr: addr, Workers: c.workers, KeepAlive: keepAlive, Duration: c.duration, Timeout: 10 * time.Second, MaxRequests: 4_000_000})
	}()
	res := &result{}
	var signals []time.Time
	end := time.Now().Add(c.duration - c.every/2)
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		<-tick.C
		if time.Now().After(end) {
			break
		}
		old, err := restart.ReadPIDFile(p.pidFile)
		if err != nil {
			return nil, err
		}
		sent := time.Now()
		if err := t.upgrade(p); err != nil {
			return nil, fmt.Errorf("restart: %w", err)
		}
		signals = append(signals, sent)
		deadline := time.Now().Add(c.every)
		for time.Now().Before(deadline) {
			if pid, err := restart.ReadPIDFile(p.pidFile); err == nil && pid != old && restart.Alive(pid) {
				res.ready = append(res.ready, time.Since(sent))
				break
			}
			time.Sleep(500 * time.Microsecond)
		}
	}
	res.load = <-loadDone
	during := func(s realparts.Sample) bool {
		for _, sig := range signals {
			if s.Start.Before(sig.Add(c.window)) && s.Start.Add(s.Latency).After(sig) {
				return true
			}
		}
		return false
	}
	res.p99During = realparts.Percentile(res.load.Samples, 99, during)
	res.p99Without = realparts.Percentile(res.load.Samples, 99, func(s realparts.Sample) bool { return !during(s) })
	if len(res.ready) < len(signals) {
		fmt.Fprintf(stderr, "%s: %d of %d restarts did not finish within %s\n", t.name, len(signals)-len(res.ready), len(signals), c.every)
	}
	return res, nil
}

// stopAll ends the service: SIGTERM to the PID file's process, then SIGKILL.
func stopAll(p *process) {
	pid, err := restart.ReadPIDFile(p.pidFile)
	if err != nil {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for restart.Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
