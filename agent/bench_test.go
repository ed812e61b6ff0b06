package agent

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// countingDoer counts the HTTP requests a release.Client makes.
type countingDoer struct {
	n       atomic.Int64
	wrapped *http.Client
}

func (c *countingDoer) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.wrapped.Do(r)
}

// BenchmarkIdleCheck measures one check of a channel that has not changed
// (the agent's steady state): the time it takes against a local versitygw
// and the S3 requests it makes, which must be exactly one conditional HEAD.
func BenchmarkIdleCheck(b *testing.B) {
	srv := s3env.Server(b)
	doer := &countingDoer{wrapped: &http.Client{}}
	client, err := release.New(b.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials(), HTTPClient: doer})
	if err != nil {
		b.Fatal(err)
	}
	ch := &channel{srv: srv, client: client, addr: release.Address{Bucket: srv.Bucket(b, true), Key: "hello/production.deb"}}
	h := newHost(b)
	h.inst.Service = nil
	p := manifest(b, testenv.BuildAgentDeb(b, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now())
	ch.publish(b, p)
	a, err := New(Config{Channel: ch.addr, Releases: client, Fleet: fleetOf(client), Package: "hello", Host: "bench", Interval: time.Second,
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
	before := doer.n.Load()
	b.ReportAllocs()
	for b.Loop() {
		if out, err := a.Check(b.Context()); out != "" || err != nil {
			b.Fatalf("idle check: %q, %v", out, err)
		}
	}
	b.ReportMetric(float64(doer.n.Load()-before)/float64(b.N), "requests/op")
}
