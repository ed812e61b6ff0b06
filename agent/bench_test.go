package agent

import (
	"log/slog"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// BenchmarkIdleCheck measures one check of a channel that has not changed
// (the agent's steady state): the time it takes against a local versitygw
// and the S3 requests it makes, which must be exactly one HEAD.
// The requests are counted at the S3 proxy, on another host's checks
// outside the timed loop: the proxy runs in this process, and its time
// and allocations would count as the check's.
func BenchmarkIdleCheck(b *testing.B) {
	srv := s3env.Server(b)
	client, err := release.New(b.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		b.Fatal(err)
	}
	ch := &channel{srv: srv, client: client, addr: release.Address{Bucket: srv.Bucket(b, true), Key: "hello/production.deb"}}
	ch.publish(b, manifest(b, testenv.BuildAgentDeb(b, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
	// installed returns the agent of a new host, the release installed.
	installed := func(name string, ch *channel) *Agent {
		h := newHost(b)
		h.inst.Service = nil
		a, err := New(Config{Channel: ch.addr, AllowUnsigned: true, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: name, Interval: time.Second,
			Installer: h.inst, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.start(b.Context()); err != nil {
			b.Fatal(err)
		}
		if out, err := a.Check(b.Context()); out != OK || err != nil {
			b.Fatalf("first check: %s, %v", out, err)
		}
		return a
	}
	idleCheck := func(a *Agent) {
		if out, err := a.Check(b.Context()); out != "" || err != nil {
			b.Fatalf("idle check: %q, %v", out, err)
		}
	}
	agents, proxy := ch.proxied(b)
	counted := installed("counted", agents)
	const countedChecks = 10
	before := len(proxy.Requests())
	for range countedChecks {
		idleCheck(counted)
	}
	requests := float64(len(proxy.Requests())-before) / countedChecks

	a := installed("bench", ch)
	b.ReportAllocs()
	for b.Loop() {
		idleCheck(a)
	}
	b.ReportMetric(requests, "requests/op")
}
