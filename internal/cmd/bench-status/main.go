package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
)

// binaries is the repeatable -pkgdeb flag: LABEL=PATH.
type binaries []binary

type binary struct{ label, path string }

func (b *binaries) String() string { return fmt.Sprint(*b) }

func (b *binaries) Set(v string) error {
	label, path, ok := strings.Cut(v, "=")
	if !ok || label == "" || path == "" {
		return fmt.Errorf("want LABEL=PATH, got %q", v)
	}
	*b = append(*b, binary{label, path})
	return nil
}

// config is the driver's flags.
type config struct {
	bins              binaries
	sizes, cache      string
	peers, work       string
	allHosts, keepAlv bool
	syncMax, runs     int
}

func main() {
	var c config
	flag.Var(&c.bins, "pkgdeb", "`LABEL=PATH` of a pkgdeb binary to measure (repeatable: e.g. after=bin/pkgdeb before=/tmp/pkgdeb-old)")
	flag.StringVar(&c.sizes, "hosts", "10000,100000", "comma-separated fleet sizes")
	flag.StringVar(&c.cache, "cache", ".cache/bench", "directory that keeps each seeded bucket (status-N)")
	flag.StringVar(&c.peers, "peers", "ls,sync", "peers to run: ls (aws s3 ls --recursive), sync (aws s3 sync); empty for none")
	flag.IntVar(&c.syncMax, "sync-max", 10000, "run aws s3 sync only for fleets of at most this many hosts (minutes at 100,000)")
	flag.IntVar(&c.runs, "runs", 1, "rounds of every command, interleaved; the table gives medians (peak RSS: the largest)")
	flag.BoolVar(&c.allHosts, "all-hosts", true, "also run the first binary with --hosts all --json (every host streamed)")
	flag.BoolVar(&c.keepAlv, "keep-alive", true, "run versitygw with --keep-alive, as S3 keeps connections open (without it every request opens one)")
	flag.StringVar(&c.work, "work", "", "scratch directory (aws s3 sync's copies, the access logs); default a temporary one")
	flag.Parse()
	if len(c.bins) == 0 {
		fmt.Fprintln(os.Stderr, "bench-status: give at least one -pkgdeb LABEL=PATH")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench-status:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	if c.work == "" {
		dir, err := os.MkdirTemp("", "bench-status-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.work = dir
	}
	for f := range strings.SplitSeq(c.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-hosts: %q is not a positive count", f)
		}
		dir, err := filepath.Abs(filepath.Join(c.cache, fmt.Sprintf("status-%d", n)))
		if err != nil {
			return err
		}
		s, err := ensureSeeded(ctx, dir, n)
		if err != nil {
			return err
		}
		if err := measureSize(ctx, c, dir, s); err != nil {
			return err
		}
	}
	return nil
}

// commands are what c measures on the seeded fleet s.
func commands(c config, s *seeded) ([]command, error) {
	url := "s3://" + s.Bucket + "/" + s.Key
	prefix := url + ".status/"
	var cmds []command
	for i, b := range c.bins {
		// Hosts seeded long ago stay live: staleness is not measured here.
		cmds = append(cmds, command{"pkgdeb status (" + b.label + ")", []string{b.path, "status", "--stale", "876000h", url}, ""})
		if i == 0 && c.allHosts {
			cmds = append(cmds, command{"pkgdeb status --hosts all --json (" + b.label + ")",
				[]string{b.path, "status", "--stale", "876000h", "--hosts", "all", "--json", url}, ""})
		}
	}
	for p := range strings.SplitSeq(c.peers, ",") {
		switch strings.TrimSpace(p) {
		case "":
		case "ls":
			cmds = append(cmds, command{"aws s3 ls --recursive", []string{"aws", "s3", "ls", "--recursive", prefix}, ""})
		case "sync":
			if s.Hosts > c.syncMax {
				fmt.Printf("(aws s3 sync left out above -sync-max %d hosts)\n", c.syncMax)
				continue
			}
			dest := filepath.Join(c.work, fmt.Sprintf("sync-%d", s.Hosts))
			cmds = append(cmds, command{"aws s3 sync", []string{"aws", "s3", "sync", "--quiet", "--no-progress", prefix, dest}, dest})
		default:
			return nil, fmt.Errorf("-peers: unknown peer %q (want ls, sync)", p)
		}
	}
	return cmds, nil
}

// measureSize runs every command against the seeded bucket in dir and
// prints the table.
func measureSize(ctx context.Context, c config, dir string, s *seeded) error {
	fmt.Printf("\n== %d hosts (%d garbage objects), versitygw on 127.0.0.1 (keep-alive %v), seeded %s ==\n",
		s.Hosts, s.Garbage, c.keepAlv, s.Seeded.Format("2006-01-02 15:04Z"))
	cmds, err := commands(c, s)
	if err != nil {
		return err
	}
	accessLog := filepath.Join(c.work, fmt.Sprintf("access-%d.log", s.Hosts))
	args := []string{"--access-log", accessLog}
	if c.keepAlv {
		args = append(args, "--keep-alive")
	}
	srv, err := realparts.StartS3In(dir, args...)
	if err != nil {
		return err
	}
	defer srv.Close()
	env := append(os.Environ(), srv.Env()...)
	if err := warmUp(ctx, cmds[0], env, accessLog, c.work, srv.PID()); err != nil {
		return err
	}
	rounds := make([][]result, len(cmds))
	for range max(c.runs, 1) {
		for i, cmd := range cmds {
			r, err := measure(ctx, cmd, env, accessLog, c.work, srv.PID())
			if err != nil {
				return err
			}
			rounds[i] = append(rounds[i], r)
		}
	}
	var results []result
	for _, rs := range rounds {
		results = append(results, median(rs))
	}
	if c.runs > 1 {
		fmt.Printf("medians of %d interleaved runs\n", c.runs)
	}
	printResults(os.Stdout, results)
	printTargets(results[0], s.Hosts)
	return nil
}

// warmUp runs cmd once, unmeasured, and prints what it took. The first
// reading of a bucket after a while finds versitygw's small files out of
// the page cache (this machine's kernel hands unused cache back, and a
// make bench run writes gigabytes before this), and then times the disk
// under the stand-in server rather than the command: 36.7 s where the
// same reading takes 21 s warm. Warm, every command meets the server as
// the others do.
func warmUp(ctx context.Context, cmd command, env []string, accessLog, work string, serverPID int) error {
	r, err := measure(ctx, cmd, env, accessLog, work, serverPID)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fmt.Printf("warm-up, not measured below: %s took %.2f s (%.2f CPU s, versitygw %.2f CPU s)\n",
		cmd.label, r.wall.Seconds(), r.cpu.Seconds(), r.server.Seconds())
	return nil
}

// printTargets says whether the first command met issue 18's targets
// (100,000 hosts in at most 30 s and under 128 MiB), and, since a local
// server shares the machine, how much of the time the CPU explains.
func printTargets(r result, hosts int) {
	if hosts != 100000 {
		return
	}
	verdict := func(ok bool) string { return map[bool]string{true: "met", false: "MISSED"}[ok] }
	fmt.Printf("targets at 100,000 hosts: wall %.1f s <= 30 s %s; peak RSS %.1f MiB < 128 MiB %s; "+
		"pkgdeb and versitygw used %.1f CPU s on %d cores (load average %s)\n",
		r.wall.Seconds(), verdict(r.wall <= 30*time.Second), float64(r.rssKiB)/1024, verdict(r.rssKiB < 128<<10),
		(r.cpu + r.server).Seconds(), runtime.NumCPU(), loadAverage())
}

// loadAverage is the machine's 1-minute load average, "?" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
