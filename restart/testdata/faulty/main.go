// Command faulty stands in for a bad (or slow) new release of a service
// built on restart, in restart's tests. It takes hello's flags, so the
// previous generation's arguments fit, and misbehaves as chosen at build
// time with -ldflags "-X main.fault=...":
//
//	exit   exits with status 3 before anything else
//	panic  inherits the sockets, then panics before Ready
//	hang   inherits the sockets and never becomes Ready
//	slow   works, but takes 700 ms to become Ready
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/debfleet/debfleet/restart"
)

var fault = "exit"

func main() {
	if fault == "exit" {
		fmt.Fprintln(os.Stderr, "faulty: exiting at start")
		os.Exit(3)
	}
	listen := flag.String("listen", ":8080", "")
	pidFile := flag.String("pidfile", "", "")
	drain := flag.Duration("drain-timeout", restart.DefaultDrainTimeout, "")
	upgradeTimeout := flag.Duration("upgrade-timeout", restart.DefaultUpgradeTimeout, "")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("version", "faulty-"+fault)
	upg, err := restart.New(restart.Options{PIDFile: *pidFile, DrainTimeout: *drain, UpgradeTimeout: *upgradeTimeout, Logger: log})
	if err != nil {
		panic(err)
	}
	ln, err := upg.Listen("tcp", *listen)
	if err != nil {
		panic(err)
	}
	switch fault {
	case "panic":
		panic("faulty: panic before Ready")
	case "hang":
		select {}
	case "slow":
		time.Sleep(700 * time.Millisecond)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "faulty %s (pid %d)\n", fault, os.Getpid())
	})}
	errc := make(chan error, 1)
	go func() { errc <- upg.Serve(context.Background(), srv, ln) }()
	if err := upg.Ready(); err != nil {
		panic(err)
	}
	if err := <-errc; err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
