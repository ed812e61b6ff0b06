package main

import (
	"fmt"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// cleanup stops every process the demo started, even after a failure.
func (d *driver) cleanup() {
	for _, h := range d.hosts {
		if h.agent != nil && demo.Stop(h.agent.Process.Pid, 10*time.Second) {
			d.s.say("%s: agent ignored SIGTERM for 10s; killed", h.name)
		}
		if h.agent != nil {
			<-h.agentDone
			d.stopped++
		}
	}
	// The PID file names hello's current generation; the process the demo
	// started may have been replaced long ago. Each drains for about a
	// second, so they stop together.
	var wg sync.WaitGroup
	for _, h := range d.hosts {
		if pid := readPID(h.pidFile); pid > 0 && restart.Alive(pid) {
			d.stopped++
			wg.Add(1)
			go func() {
				defer wg.Done()
				demo.Stop(pid, 10*time.Second)
			}()
		}
	}
	wg.Wait()
	for _, h := range d.hosts {
		if h.hello != nil {
			demo.Stop(h.hello.Process.Pid, 5*time.Second)
			<-h.helloDone
		}
	}
	// Anything else still running that the demo started or adopted.
	for _, pid := range realparts.Children(os.Getpid()) {
		if d.srv != nil && pid == d.srv.PID() {
			continue
		}
		demo.Stop(pid, 5*time.Second)
		d.stopped++
	}
	if d.srv != nil {
		if err := d.srv.Close(); err != nil {
			d.s.say("stop versitygw: %v", err)
		}
		d.stopped++
	}
	demo.Reap()
	if left := realparts.Children(os.Getpid()); len(left) > 0 {
		d.s.say("WARNING: processes still running: %v", left)
	}
	d.s.say("stopped %d processes (agents, hello services, versitygw)", d.stopped)
}

// summary prints one line per host.
func (d *driver) summary() {
	w := tabwriter.NewWriter(d.s.w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(d.s.w)
	fmt.Fprintf(d.s.w, "Summary (%s in all, agents checking every %s):\n", d.total.Round(100*time.Millisecond), d.o.interval)
	fmt.Fprintln(w, "HOST\tADDRESS\tDPKG SAYS\tINSTALL 1.0.0\tSWITCH TO 1.1.0\tPID\tROLL BACK 1.2.0\tCONFIG bonjour\tROLL BACK hola-broken\tREQUESTS\tFAILED")
	for _, h := range d.hosts {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.1fs\t%.1fs\t%d->%d\t%.1fs\t%.1fs\t%.1fs\t%d\t%d\n", h.name, h.addr, dpkgVersion(h.root),
			h.installed.Seconds(), h.switched.Seconds(), h.oldPID, h.newPID, h.rolledBack.Seconds(),
			h.configured.Seconds(), h.configRolledBack.Seconds(), h.requests, h.failures)
	}
	w.Flush()
}
