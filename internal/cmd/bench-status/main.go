package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

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

func main() {
	var bins binaries
	flag.Var(&bins, "pkgdeb", "`LABEL=PATH` of a pkgdeb binary to measure (repeatable: e.g. after=bin/pkgdeb before=/tmp/pkgdeb-old)")
	sizes := flag.String("hosts", "10000,100000", "comma-separated fleet sizes")
	cache := flag.String("cache", ".cache/bench", "directory that keeps each seeded bucket (status-N)")
	peers := flag.String("peers", "ls,sync", "peers to run: ls (aws s3 ls --recursive), sync (aws s3 sync); empty for none")
	allHosts := flag.Bool("all-hosts", true, "also run the first binary with --hosts all --json (every host streamed)")
	work := flag.String("work", "", "scratch directory (aws s3 sync's copies, outputs); default a temporary one")
	flag.Parse()
	if len(bins) == 0 {
		fmt.Fprintln(os.Stderr, "bench-status: give at least one -pkgdeb LABEL=PATH")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, bins, *sizes, *cache, *peers, *allHosts, *work); err != nil {
		fmt.Fprintln(os.Stderr, "bench-status:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bins binaries, sizes, cache, peers string, allHosts bool, work string) error {
	if work == "" {
		dir, err := os.MkdirTemp("", "bench-status-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	for f := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-hosts: %q is not a positive count", f)
		}
		dir, err := filepath.Abs(filepath.Join(cache, fmt.Sprintf("status-%d", n)))
		if err != nil {
			return err
		}
		s, err := ensureSeeded(ctx, dir, n)
		if err != nil {
			return err
		}
		if err := measureSize(ctx, dir, s, bins, peers, allHosts, work); err != nil {
			return err
		}
	}
	return nil
}

// measureSize runs every command against the seeded bucket in dir and
// prints the table.
func measureSize(ctx context.Context, dir string, s *seeded, bins binaries, peers string, allHosts bool, work string) error {
	accessLog := filepath.Join(work, fmt.Sprintf("access-%d.log", s.Hosts))
	srv, err := realparts.StartS3In(dir, "--access-log", accessLog)
	if err != nil {
		return err
	}
	defer srv.Close()
	env := append(os.Environ(), srv.Env()...)
	url := "s3://" + s.Bucket + "/" + s.Key
	prefix := "s3://" + s.Bucket + "/" + s.Key + ".status/"
	var cmds []command
	for i, b := range bins {
		// Hosts seeded long ago stay live: staleness is not measured here.
		cmds = append(cmds, command{"pkgdeb status (" + b.label + ")", []string{b.path, "status", "--stale", "876000h", url}})
		if i == 0 && allHosts {
			cmds = append(cmds, command{"pkgdeb status --hosts all --json (" + b.label + ")",
				[]string{b.path, "status", "--stale", "876000h", "--hosts", "all", "--json", url}})
		}
	}
	for p := range strings.SplitSeq(peers, ",") {
		switch strings.TrimSpace(p) {
		case "":
		case "ls":
			cmds = append(cmds, command{"aws s3 ls --recursive", []string{"aws", "s3", "ls", "--recursive", prefix}})
		case "sync":
			cmds = append(cmds, command{"aws s3 sync", []string{"aws", "s3", "sync", "--quiet", "--no-progress", prefix,
				filepath.Join(work, fmt.Sprintf("sync-%d", s.Hosts))}})
		default:
			return fmt.Errorf("-peers: unknown peer %q (want ls, sync)", p)
		}
	}
	fmt.Printf("\n== %d hosts (%d garbage objects), versitygw on 127.0.0.1, seeded %s ==\n", s.Hosts, s.Garbage, s.Seeded.Format("2006-01-02 15:04Z"))
	var results []result
	for _, c := range cmds {
		r, err := measure(ctx, c, env, accessLog, work)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	printResults(os.Stdout, results)
	return nil
}
