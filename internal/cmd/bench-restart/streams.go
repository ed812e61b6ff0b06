package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// streamKind is one kind of long-lived client load: what it runs against,
// and how it loads it.
type streamKind struct {
	name string
	pkg  string // the service's package
	load func(ctx context.Context, addr string, c config) streamCounts
}

// streamCounts is what one run's clients saw.
type streamCounts struct {
	done                       int64 // messages answered, events read, calls or requests made
	failures, lost, reconnects int64
	errors                     map[string]int
}

const (
	helloPkg     = "github.com/debfleet/debfleet/examples/hello"
	helloGRPCPkg = "github.com/debfleet/debfleet/examples/hellogrpc"
)

func streamKinds() []streamKind {
	fromStreams := func(r *realparts.StreamResult) streamCounts {
		return streamCounts{r.Messages, r.Failures, r.Lost + r.Duplicates, r.Reconnects, r.Errors}
	}
	fromLoad := func(r *realparts.LoadResult) streamCounts {
		return streamCounts{done: r.Requests - r.Failures, failures: r.Failures, errors: r.Errors}
	}
	return []streamKind{
		{"websocket", helloPkg, func(ctx context.Context, addr string, c config) streamCounts {
			return fromStreams(realparts.WebSockets(ctx, realparts.StreamOptions{URL: "ws://" + addr + "/ws", Clients: c.workers, Duration: c.duration}))
		}},
		{"events", helloPkg, func(ctx context.Context, addr string, c config) streamCounts {
			return fromStreams(realparts.Events(ctx, realparts.StreamOptions{URL: "http://" + addr + "/events?every=10ms", Clients: c.workers, Duration: c.duration}))
		}},
		{"grpc", helloGRPCPkg, func(ctx context.Context, addr string, c config) streamCounts {
			r, err := realparts.GRPCLoad(ctx, realparts.LoadOptions{Addr: addr, Workers: c.workers, Duration: c.duration, MaxRequests: 4_000_000})
			if err != nil {
				return streamCounts{failures: 1, errors: map[string]int{err.Error(): 1}}
			}
			return fromLoad(r)
		}},
		{"h2c", helloPkg, func(ctx context.Context, addr string, c config) streamCounts {
			var p http.Protocols
			p.SetUnencryptedHTTP2(true)
			client := &http.Client{Transport: &http.Transport{Protocols: &p}}
			return fromLoad(realparts.Load(ctx, realparts.LoadOptions{HTTPClient: client, URL: "http://" + addr + "/", Workers: c.workers, Duration: c.duration, MaxRequests: 4_000_000}))
		}},
	}
}

// runStreams measures each kind in kinds with restart's upgrade (SIGHUP)
// and with a naive stop-and-start of the same binary, in the same run:
// tableflip's README example has no websocket, event or gRPC handler to
// compare, and without restart's drain a tableflip service ends them as
// the naive restart does, or worse.
func runStreams(ctx context.Context, c config, kinds []string, dir string, stdout, stderr io.Writer) error {
	if len(kinds) == 0 {
		return nil
	}
	fmt.Fprintf(stdout, "\nlong-lived clients: %d per run, %s per run, a restart every %s\n", c.workers, c.duration, c.every)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\ttarget\trestarts\tdone\tper second\tfailures\tlost\treconnects\t")
	bins := make(map[string]string)
	for _, k := range streamKinds() {
		if !slices.Contains(kinds, k.name) {
			continue
		}
		if bins[k.pkg] == "" {
			bin, err := realparts.BuildGo(ctx, dir, filepath.Base(k.pkg), k.pkg, "")
			if err != nil {
				return err
			}
			bins[k.pkg] = bin
		}
		for _, t := range []target{{"restart", k.pkg, signalUpgrade}, {"naive", k.pkg, naiveRestart}} {
			n, counts, err := measureStream(ctx, c, k, t, bins[k.pkg], dir)
			if err != nil {
				return fmt.Errorf("%s %s: %w", k.name, t.name, err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%d\t%d\t%d\t\n", k.name, t.name, n, counts.done,
				float64(counts.done)/c.duration.Seconds(), counts.failures, counts.lost, counts.reconnects)
			if len(counts.errors) > 0 {
				fmt.Fprintf(stderr, "%s %s failures: %v\n", k.name, t.name, counts.errors)
			}
		}
	}
	return tw.Flush()
}

// measureStream runs k's clients against bin for c.duration, restarting
// it t's way every c.every, and returns the number of restarts and what
// the clients saw.
func measureStream(ctx context.Context, c config, k streamKind, t target, bin, dir string) (int, streamCounts, error) {
	addr, err := realparts.FreeAddr()
	if err != nil {
		return 0, streamCounts{}, err
	}
	logf, err := os.Create(filepath.Join(dir, k.name+"-"+t.name+".log"))
	if err != nil {
		return 0, streamCounts{}, err
	}
	defer logf.Close()
	p := &process{bin: bin, addr: addr, pidFile: filepath.Join(dir, k.name+"-"+t.name+".pid"), log: logf}
	if err := p.start(); err != nil {
		return 0, streamCounts{}, err
	}
	defer stopAll(p)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := realparts.WaitFor(wctx, "the PID file", func() bool { _, err := restart.ReadPIDFile(p.pidFile); return err == nil }); err != nil {
		return 0, streamCounts{}, err
	}
	done := make(chan streamCounts, 1)
	go func() { done <- k.load(ctx, addr, c) }()
	restarts := 0
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for end := time.Now().Add(c.duration - c.every/2); ; restarts++ {
		<-tick.C
		if time.Now().After(end) {
			break
		}
		if err := t.upgrade(p); err != nil {
			return 0, streamCounts{}, fmt.Errorf("restart: %w", err)
		}
	}
	return restarts, <-done, nil
}
