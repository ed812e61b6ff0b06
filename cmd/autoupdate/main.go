package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	// The agent reads maintenance windows in their IANA zones on hosts
	// that may lack tzdata (minimal images): Go's copy is the fallback.
	_ "time/tzdata"

	"github.com/debfleet/debfleet/agent"
	"github.com/debfleet/debfleet/agent/dpkg"
	"github.com/debfleet/debfleet/agent/hold"
	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/notify"
	"github.com/debfleet/debfleet/release"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one autoupdate invocation and returns its exit status: 0 on
// success (or after a clean stop), 2 for a usage error or an endpoint
// refused as insecure (settings to change: systemd does not restart on 2),
// 1 for a failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Fprintln(stdout, "autoupdate", version)
		return 0
	}
	if len(args) > 0 && args[0] == "supervise" {
		return runSupervise(ctx, args[1:], stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	var ue *cli.UsageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "autoupdate: %v\nRun 'autoupdate --help' for usage.\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "autoupdate: %v\n", err)
		return 1
	}
	if err := daemon(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "autoupdate: %v\n", err)
		if errors.Is(err, release.ErrInsecureEndpoint) {
			// A setting to change, as for a usage error: restarting
			// does not help.
			fmt.Fprintln(stderr, "(pass --insecure-endpoint, or set AUTOUPDATE_INSECURE_ENDPOINT=true, if you really mean it)")
			return 2
		}
		return 1
	}
	return 0
}

// daemon wires the agent from cfg and runs it; with a lifecycle hook,
// it completes the hook's action after the --once run, however it ended.
func daemon(ctx context.Context, cfg *config, stderr io.Writer) error {
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	hook, err := startLifecycle(ctx, cfg, log)
	if err != nil {
		return err
	}
	a, err := runAgent(ctx, cfg, log)
	if hook != nil {
		return completeLifecycle(ctx, hook, a, err, log)
	}
	return err
}

// runAgent wires the agent from cfg and runs it (once, with --once). It
// returns the agent once it was made, even with an error.
func runAgent(ctx context.Context, cfg *config, log *slog.Logger) (*agent.Agent, error) {
	var keys []release.PublicKey
	for _, p := range cfg.PublicKeys {
		k, err := release.LoadPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("--public-key: %w", err)
		}
		keys = append(keys, k)
	}
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	defer dir.Close()

	client, err := release.New(ctx, release.Options{Endpoint: cfg.Endpoint, Region: cfg.Region, AllowInsecureEndpoint: cfg.Insecure, Logger: log})
	if err != nil {
		return nil, err
	}
	inst, err := newInstaller(cfg, dir, log)
	if err != nil {
		return nil, err
	}
	notifier, stopNotify, err := startNotifier(cfg, log)
	if err != nil {
		return nil, err
	}
	defer stopNotify()
	var a *agent.Agent
	base := agent.Config{
		Channel:       cfg.Source,
		Releases:      client,
		Fleet:         fleet.New(client.Records(), log),
		Package:       cfg.Package,
		PublicKeys:    keys,
		AllowUnsigned: cfg.AllowUnsigned,
		Host:          cfg.Host,
		Report:        cfg.Report,
		Heartbeat:     cfg.Heartbeat,
		LeaseTTL:      cfg.LeaseTTL,
		Interval:      cfg.Interval,
		Jitter:        cfg.Jitter,
		Installer:     inst,
		Alarms:        &lazyAlarms{cfg: client.AWSConfig()},
		Notifier:      notifier,
		Hold:          holdOf(cfg),
		MaxHold:       cfg.MaxHold,
		Logger:        log,
	}
	conf, closeConf, err := withConfigChannel(cfg, base, &a, log)
	if err != nil {
		return nil, err
	}
	defer closeConf()
	if conf != nil {
		base.ConfigRelease = conf.Installed
	}
	a, err = agent.New(base)
	if err != nil {
		return nil, err
	}
	if cfg.MetricsAddr != "" {
		stop, err := serveMetrics(cfg.MetricsAddr, a, log)
		if err != nil {
			return a, err
		}
		defer stop()
	}
	log.Info("autoupdate starting", "agent_version", version, "source", cfg.Source.String(), "package", cfg.Package,
		"host", cfg.Host, "interval", cfg.Interval, "jitter", cfg.Jitter, "once", cfg.Once, "signed", len(keys) > 0,
		"hold_file", cfg.HoldFile, "hold_url", cfg.HoldURL != "", "max_hold", cfg.MaxHold)
	if conf != nil {
		log.Info("following a config channel", "config_source", cfg.Config.Source.String(), "config_path", cfg.Config.Path,
			"config_mode", fmt.Sprintf("%#o", cfg.Config.Mode), "config_group", cfg.Config.Group)
	}
	return a, runBoth(ctx, cfg, a, conf)
}

// holdOf is how the service holds its updates: nil when it cannot.
func holdOf(cfg *config) agent.Hold {
	if cfg.HoldFile == "" && cfg.HoldURL == "" {
		return nil
	}
	return &hold.Checker{File: cfg.HoldFile, URL: cfg.HoldURL}
}

// newInstaller wires dpkg and, when cfg restarts a service, the service.
func newInstaller(cfg *config, dir *state.Dir, log *slog.Logger) (*agent.Installer, error) {
	inst := &agent.Installer{Dir: dir, Dpkg: &dpkg.Dpkg{Root: cfg.DpkgRoot, Logger: log}, Logger: log}
	if cfg.PIDFile == "" && cfg.ReloadCmd == "" {
		return inst, nil
	}
	var err error
	inst.Service, err = service.New(service.Input{
		PIDFile:    cfg.PIDFile,
		Unit:       cfg.ServiceUnit,
		Signal:     cfg.Signal,
		ReloadCmd:  cfg.ReloadCmd,
		HealthURL:  cfg.HealthURL,
		VersionURL: cfg.ExpectVersion,
		Timeout:    cfg.HealthTimeout,
		Splay:      cfg.Splay,
		Logger:     log,
	})
	return inst, err
}

// startNotifier starts posting to --notify-url, if given; stop waits up
// to 5s for the messages still queued (a --once run that failed exits
// right after its message).
func startNotifier(cfg *config, log *slog.Logger) (n agent.Notifier, stop func(), err error) {
	if cfg.NotifyURL == "" {
		return nil, func() {}, nil
	}
	s, err := notify.New(notify.Options{URLs: []string{cfg.NotifyURL}, AllowInsecure: cfg.Insecure, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return hostNotifier{sender: s, channel: cfg.Source}, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	}, nil
}

// serveMetrics serves the agent's metrics on addr at /metrics.
func serveMetrics(addr string, a *agent.Agent, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
