package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/debfleet/debfleet/restart"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "hellogrpc:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hellogrpc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":50051", "`address` (host:port) to serve gRPC on")
	var opts restart.Options
	fs.StringVar(&opts.PIDFile, "pidfile", "", "write the serving process's PID to `file`")
	fs.DurationVar(&opts.DrainTimeout, "drain-timeout", restart.DefaultDrainTimeout, "how long an old process may take to finish its calls")
	fs.DurationVar(&opts.UpgradeTimeout, "upgrade-timeout", restart.DefaultUpgradeTimeout, "how long a new process may take to become ready before the upgrade is abandoned")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("version", version)
	upg, err := restart.New(opts)
	if err != nil {
		return err
	}
	defer upg.Stop()
	ln, err := upg.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	// The health service answers SERVING until the process exits: a
	// draining process still serves the calls it has.
	healthpb.RegisterHealthServer(srv, health.NewServer())
	errc := make(chan error, 1)
	go func() { errc <- upg.Serve(ctx, srv, ln) }()
	if err := upg.Ready(); err != nil {
		return err
	}
	return <-errc
}
