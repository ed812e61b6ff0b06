package agent

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// kindCounts counts S3 requests by the kind S3 bills them as.
type kindCounts struct{ head, get, put, list, del int64 }

// billed counts the requests the S3 proxy recorded by billing kind.
func billed(reqs []realparts.S3Request) kindCounts {
	var c kindCounts
	for _, q := range reqs {
		switch {
		case q.Method == http.MethodHead:
			c.head++
		case q.Method == http.MethodPut || q.Method == http.MethodPost:
			c.put++
		case q.Method == http.MethodDelete:
			c.del++
		case q.Kind == realparts.KindList:
			c.list++
		default:
			c.get++
		}
	}
	return c
}

func (a kindCounts) String() string {
	return fmt.Sprintf("HEAD %d, GET %d, PUT %d, LIST %d, DELETE %d", a.head, a.get, a.put, a.list, a.del)
}

// BenchmarkStagedRollout runs in-process agents (sandboxed dpkg, no
// service) through one staged rollout (10%,50%,100%, a wave every 3 s,
// --max-updating 4 --halt-after 5) against a local versitygw, counting
// every S3 request the agents make by billing kind at the S3 proxy, then
// an idle period.
// It reports, per agent: requests per poll while idle (the one HEAD),
// and the requests the rollout cost beyond the polls; and the most hosts
// seen updating at once. Run it once:
//
//	go test -run '^$' -bench BenchmarkStagedRollout -benchtime 1x ./agent/
func BenchmarkStagedRollout(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchStagedRollout(b, n)
			}
		})
	}
}

func benchStagedRollout(b *testing.B, n int) {
	const (
		pollInterval = time.Second
		waveInterval = 3 * time.Second
		idleFor      = 5 * time.Second
	)
	srv := s3env.Server(b)
	plain, err := release.New(b.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		b.Fatal(err)
	}
	addr := release.Address{Bucket: srv.Bucket(b, true), Key: "hello/production.deb"}
	observer := &channel{srv: srv, client: plain, addr: addr}
	agents, proxy := observer.proxied(b)
	hosts := newFleet(b, "bench", n)
	for _, h := range hosts {
		h.interval = pollInterval
	}
	observer.publish(b, manifest(b, testenv.BuildAgentDeb(b, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
	installAll(b, agents, hosts)

	policy := fleet.Policy{Waves: []float64{10, 50, 100}, WaveInterval: waveInterval, MaxUpdating: 4, HaltAfter: 5}
	r := observer.staged(b, testenv.BuildAgentDeb(b, testenv.AgentDeb{Package: "hello", Version: "2.0"}), policy)
	before := len(proxy.Requests())
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range hosts {
		a := h.agent(b, agents, 10*time.Second, nil)
		wg.Go(func() { a.Run(ctx) })
	}
	// Sample the updating slots while the rollout runs.
	maxUpdating := 0
	var done time.Time
	deadline := time.Now().Add(2*waveInterval + time.Duration(n)*time.Second)
	for time.Now().Before(deadline) {
		leases, err := fleetOf(plain).ReadLeases(b.Context(), addr, policy.MaxUpdating)
		if err != nil {
			b.Fatal(err)
		}
		held := 0
		for _, l := range leases {
			if l.Held(time.Now()) {
				held++
			}
		}
		maxUpdating = max(maxUpdating, held)
		if len(observer.onVersion(b, hosts, "2.0")) == n {
			done = time.Now()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if done.IsZero() {
		b.Fatalf("rollout not done by %s: %d of %d on 2.0", deadline, len(observer.onVersion(b, hosts, "2.0")), n)
	}
	reqs := proxy.Requests()
	rollout := billed(reqs[before:])
	rolloutTime := done.Sub(r.PublishedAt)
	idleStart := len(reqs)
	time.Sleep(idleFor)
	idle := billed(proxy.Requests()[idleStart:])
	cancel()
	wg.Wait()

	polls := float64(rollout.head)
	idlePolls := float64(idle.head)
	per := func(v int64) float64 { return float64(v) / float64(n) }
	b.ReportMetric(rolloutTime.Seconds(), "s-rollout")
	b.ReportMetric(float64(maxUpdating), "max-updating-seen")
	b.ReportMetric(float64(idle.head+idle.get+idle.put+idle.list)/idlePolls, "idle-requests/poll")
	b.ReportMetric(per(rollout.get+rollout.put+rollout.list), "rollout-non-HEAD-requests/agent")
	b.ReportMetric(float64(rollout.get+rollout.put+rollout.list)/polls, "rollout-extra-requests/poll")
	b.Logf("%d agents, polls every %s: rollout %s (waves at +0, +%s, +%s); most updating at once %d (cap %d)",
		n, pollInterval, rolloutTime.Round(100*time.Millisecond), waveInterval, 2*waveInterval, maxUpdating, policy.MaxUpdating)
	b.Logf("rollout requests: %s; per agent: HEAD %.1f, GET %.1f, PUT %.1f, LIST %.1f", rollout, per(rollout.head), per(rollout.get), per(rollout.put), per(rollout.list))
	b.Logf("idle %s: %s (%.2f requests per poll)", idleFor, idle, float64(idle.head+idle.get+idle.put+idle.list)/idlePolls)
	if maxUpdating > policy.MaxUpdating {
		b.Errorf("%d hosts updating at once, cap %d", maxUpdating, policy.MaxUpdating)
	}
}
