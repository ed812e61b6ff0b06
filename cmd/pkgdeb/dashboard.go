package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/dashboard"
	"github.com/debfleet/debfleet/release"
)

const dashboardHelp = `Usage: pkgdeb dashboard [flags] s3://BUCKET[/PREFIX]

Serve a web page that shows every release channel under the prefix, live:
the current release (package, version, SHA-256, signer, who published it
and when), its rollout policy with the wave in force and its progress,
the live hosts per version, each host's state, last report, target and
error (stale hosts marked), failures and halts with their reasons, a
timeline of the hosts on the release with the waves and the halt, one
coloured cell per host, and the channel's history (who published or
rolled back what, when). The CLI commands to halt, resume or roll back
are shown next to each channel, ready to copy.

A channel is a key under the prefix whose current version carries a
release manifest, or that has status objects next to it (KEY.status/).
The listing stops after 10000 keys and at most 50 keys without status
objects are HEADed per minute to find releases; --max-channels and
--max-hosts bound what is read (a channel with more hosts than
--max-hosts is shown as an error, found as the listing passes them:
use pkgdeb status for it), so one refresh holds at most --max-hosts hosts
per channel, four channels at a time.

Every channel is read once per --interval however many tabs are open,
and only while a page is open (or was within the last 30 seconds): one
HEAD, one LIST per 1000 hosts and one GET per host, as pkgdeb status;
its history (--history versions) when the release changes or once a
minute. GET /api/status?channel=s3://BUCKET/KEY returns what pkgdeb
status --json prints for a channel the dashboard shows.

The page is read-only: it changes nothing in the bucket, and the server
answers GET and HEAD only. It listens on loopback by default. Anyone who
can reach it sees your fleet (host names, versions, errors), so do not
put it on a network as it is; to see it from elsewhere, either:
  - tunnel it: ssh -L 8080:127.0.0.1:8080 HOST, then open
    http://127.0.0.1:8080/ on your machine; or
  - put it behind a reverse proxy that authenticates (nginx, Caddy with
    basic auth or SSO, over TLS), the dashboard still on loopback, and
    name the proxy's host with --allow-host NAME.
A --listen address that is not loopback is refused unless --allow-remote
is given (a warning is printed). The server answers only requests whose
Host header is loopback, localhost or an --allow-host name (or the
--listen address), so a web page cannot read it through DNS rebinding.

Examples:
  pkgdeb dashboard s3://acme-releases
  pkgdeb dashboard --listen 127.0.0.1:9000 s3://acme-releases/hello/

Flags:
`

// dashboardFlags are dashboard's flags beyond the S3 connection.
type dashboardFlags struct {
	listen                string
	allowRemote           bool
	hosts                 cli.Strings
	interval, stale       time.Duration
	maxChannels, maxHosts int
	history               int
}

func runDashboard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb dashboard", dashboardHelp, stderr)
	var conn s3Flags
	conn.register(fs)
	var f dashboardFlags
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "`address` to serve on (loopback unless --allow-remote)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a --listen address that is not loopback (put an authenticating proxy in front)")
	fs.Var(&f.hosts, "allow-host", "a host `name` the page may be reached by, besides loopback ones (a reverse proxy's name; repeatable)")
	fs.DurationVar(&f.interval, "interval", dashboard.DefaultInterval, "time between two reads of each channel")
	fs.DurationVar(&f.stale, "stale", defaultStale, "a host not heard from for longer than this is stale and does not count")
	fs.IntVar(&f.maxChannels, "max-channels", dashboard.DefaultMaxChannels, "show at most this many channels")
	fs.IntVar(&f.maxHosts, "max-hosts", dashboard.DefaultMaxHosts, "read at most this many status objects per channel")
	fs.IntVar(&f.history, "history", dashboard.DefaultHistory, "show this many versions of each channel's history")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	bucket, prefix, err := parsePrefix(pos)
	if err != nil {
		return err
	}
	if f.interval < 500*time.Millisecond || f.stale <= 0 || f.maxChannels <= 0 || f.maxHosts <= 0 || f.history <= 0 {
		return cli.Usagef("--interval must be at least 500ms; --stale, --max-channels, --max-hosts and --history must be positive")
	}
	listenHost, err := checkListen(f.listen, f.allowRemote)
	if err != nil {
		return err
	}
	if listenHost != "" {
		fmt.Fprintf(stderr, "pkgdeb dashboard: WARNING: listening on %s, not loopback: anyone who can reach it sees the fleet; put an authenticating proxy in front\n", f.listen)
		f.hosts = append(f.hosts, listenHost)
	}
	c, err := conn.client(ctx, stderr)
	if err != nil {
		return err
	}
	dash, err := dashboard.New(dashboard.Options{
		Client: c, Bucket: bucket, Prefix: prefix,
		Status: func(ctx context.Context, ch release.Address, cache *fleet.StatusCache) (*fleet.Summary, error) {
			return fleetStatus(ctx, c, ch, fleet.SummaryOptions{Stale: f.stale, MaxHosts: f.maxHosts, Limit: f.maxHosts, Cache: cache})
		},
		WriteJSON: func(w io.Writer, v any) error { return writeJSON(w, v, true) },
		Interval:  f.interval, Stale: f.stale,
		MaxChannels: f.maxChannels, MaxHosts: f.maxHosts, History: f.history,
		Hosts: f.hosts,
		Log:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	return serveDashboard(ctx, dash, f.listen, stdout)
}

// parsePrefix parses the one s3://bucket[/prefix] argument.
func parsePrefix(pos []string) (bucket, prefix string, err error) {
	if len(pos) != 1 {
		return "", "", cli.Usagef("want exactly one s3://bucket[/prefix], got %d arguments", len(pos))
	}
	rest, ok := strings.CutPrefix(pos[0], "s3://")
	if !ok {
		return "", "", cli.Usagef("%q: want s3://bucket[/prefix]", pos[0])
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", cli.Usagef("%q: no bucket", pos[0])
	}
	return bucket, prefix, nil
}

// checkListen refuses a listen address that is not loopback unless
// allowed; it returns the address's host when it is not loopback.
func checkListen(listen string, allowRemote bool) (remoteHost string, err error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", cli.Usagef("--listen %q: %v", listen, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return "", nil
	}
	if !allowRemote {
		return "", cli.Usagef("--listen %q is not a loopback address: anyone who can reach it would see the fleet; "+
			"use an SSH tunnel or an authenticating reverse proxy (see --help), or pass --allow-remote", listen)
	}
	return host, nil
}

// serveDashboard serves dash on listen until ctx ends, printing the
// page's URL first.
func serveDashboard(ctx context.Context, dash *dashboard.Server, listen string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	srv := &http.Server{
		Handler:           dash.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		// Requests end with ctx, event streams included.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, "dashboard: http://%s/ (read-only; Ctrl-C stops it)\n", ln.Addr())
	go dash.Run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
