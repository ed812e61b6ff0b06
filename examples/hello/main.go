package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// maxSleep bounds /sleep so a client cannot hold a drain open for long.
const maxSleep = time.Minute

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8080", "`address` to serve on: host:port, or unix:/path for a unix socket")
	pidFile := fs.String("pidfile", "", "write the serving process's PID to `file`")
	drain := fs.Duration("drain-timeout", restart.DefaultDrainTimeout, "how long an old process may take to finish its requests")
	upgradeTimeout := fs.Duration("upgrade-timeout", restart.DefaultUpgradeTimeout, "how long a new process may take to become ready before the upgrade is abandoned")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2) with this PEM certificate `file` (with --tls-key); each generation reads it again")
	tlsKey := fs.String("tls-key", "", "the PEM private key `file` of --tls-cert")
	envFile := fs.String("env-file", "", "read KEY=VALUE settings (such as HELLO_GREETING) from `file` at start and at each upgrade; a leading - makes it optional")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: hello [flags]

A small HTTP service with zero-downtime restarts: SIGHUP or SIGUSR2 starts
the binary again on the same socket, SIGTERM drains and exits. Set %s=1
to run it under its own stable-PID supervisor (upstart, runit, supervisord).

The greeting at / is HELLO_GREETING (default "hello"); with --env-file,
each upgrade reads it again from the file. HELLO_FAIL_HEALTH=1 makes
/healthz answer 500 (a bad config, for tests of its rollback).

Example:
  hello --listen 127.0.0.1:8080 --pidfile /run/hello/hello.pid --env-file -/etc/default/hello

Flags:
`, restart.SuperviseEnv)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("version", version)

	upg, err := restart.New(restart.Options{
		PIDFile:        *pidFile,
		DrainTimeout:   *drain,
		UpgradeTimeout: *upgradeTimeout,
		Logger:         log,
		EnvFiles:       nonEmpty(*envFile),
	})
	if err != nil {
		return err
	}
	defer upg.Stop()

	network, addr := "tcp", *listen
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
	}
	ln, err := upg.Listen(network, addr)
	if err != nil {
		return err
	}
	srv, ln, err := httpServer(ln, *tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- upg.Serve(ctx, srv, ln) }()
	if err := upg.Ready(); err != nil {
		return err
	}
	return <-errc
}

// httpServer is hello's server on ln: HTTP/1.1 and HTTP/2 without TLS
// (h2c) for clients that speak it from the start, or, with a certificate,
// HTTP/1.1 and HTTP/2 over TLS. restart drains them all alike.
func httpServer(ln net.Listener, certFile, keyFile string) (*http.Server, net.Listener, error) {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second, Protocols: &protocols}
	if certFile == "" && keyFile == "" {
		protocols.SetUnencryptedHTTP2(true)
		return srv, ln, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	protocols.SetHTTP2(true)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	return srv, tls.NewListener(ln, srv.TLSConfig), nil
}

// nonEmpty is s as a list, empty if s is.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// handler reads HELLO_GREETING once: run calls it after restart.New, which
// has set the env file's variables.
func handler() http.Handler {
	greeting := cmp.Or(os.Getenv("HELLO_GREETING"), "hello")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from %s (pid %d)\n", greeting, version, os.Getpid())
	})
	// HELLO_FAIL_HEALTH=1 is a config that makes this generation
	// unhealthy: the tests of a bad config's rollback set it.
	failHealth := os.Getenv("HELLO_FAIL_HEALTH") == "1"
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if failHealth {
			http.Error(w, "unhealthy: HELLO_FAIL_HEALTH=1", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, version)
	})
	mux.HandleFunc("GET /sleep", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 || d > maxSleep {
			http.Error(w, fmt.Sprintf("d: want a duration up to %s", maxSleep), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprintf(w, "slept %s (pid %d)\n", d, os.Getpid())
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /ws", serveWS)
	mux.HandleFunc("GET /events", serveEvents)
	return mux
}
