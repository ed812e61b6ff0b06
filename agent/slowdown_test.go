package agent

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestSlowDownBacksOff: while S3 throttles the channel's prefix (503
// SlowDown to every request), each host waits longer than a healthy
// check's interval from its first failed check on, twice as long after
// each further one, and draws that wait at random with the production
// default (Config.Rand nil): hosts throttled together must not all come
// back in the same instant. Once the throttling ends, the host is back on
// its interval. The waits are what cycle returns; nothing sleeps.
func TestSlowDownBacksOff(t *testing.T) {
	const (
		interval = 10 * time.Second
		hosts    = 8
		failures = 3
		attempts = 2 // the client's MaxAttempts: the SDK retries a 503
	)
	ch := newChannel(t)
	h := newHost(t)
	h.inst.Service = nil
	p := testenv.StartS3Proxy(t, ch.srv.Endpoint)
	client, err := release.New(t.Context(), release.Options{Endpoint: p.URL, Region: ch.srv.Region,
		Credentials: ch.srv.Credentials(), MaxAttempts: attempts, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Published straight to the server: the first host to get through
	// installs it, the others find it installed.
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
	first := map[time.Duration]bool{}
	for i := range hosts {
		a, err := New(Config{
			Channel: ch.addr, Releases: client, Fleet: fleetOf(client), Package: "hello", AllowUnsigned: true,
			Host: fmt.Sprintf("web-%d", i), Interval: interval, Installer: h.inst, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.start(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.SetFault(realparts.Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown"})
		before := len(p.Requests())
		for k := range failures {
			d := a.cycle(t.Context())
			// Strictly above: exactly lo is one draw in 10^10.
			if lo := interval << k; d <= lo || d > 2*lo {
				t.Errorf("%s: wait after failed check %d under SlowDown = %v, want within (%v, %v]", a.cfg.Host, k+1, d, lo, 2*lo)
			}
			if k == 0 {
				first[d] = true
			}
		}
		if n := len(p.Requests()) - before; n != failures*attempts {
			t.Errorf("%s: %d requests for %d throttled checks, want %d (one HEAD per attempt)", a.cfg.Host, n, failures, failures*attempts)
		}
		p.SetFault(realparts.Fault{})
		if d := a.cycle(t.Context()); d < interval*4/5 || d > interval*6/5 {
			t.Errorf("%s: wait after the throttling ended = %v, want the interval %v +/- 20%%", a.cfg.Host, d, interval)
		}
	}
	if len(first) < hosts/2 {
		t.Errorf("%d hosts drew only %d distinct waits after their first throttled check: a fleet throttled together would retry together", hosts, len(first))
	}
}
