package agent

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
	ch, h, p, client := behindProxy(t, attempts)
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

// TestThrottledStatusRewritten: the status PUT saying "ok" is throttled
// (503 SlowDown on every attempt, as S3 answers a rollout's burst of
// status writes on one prefix); the next check that reaches the channel
// writes it again, rather than leaving the host shown installing until
// its heartbeat, ten minutes on. A status write denied for good is not
// repeated at every check.
func TestThrottledStatusRewritten(t *testing.T) {
	const attempts = 2
	for _, tt := range []struct {
		name       string
		status     int
		code       string
		want       string // the host's state after one more check
		wantVer    string // and its installed version
		wantWrites int    // status PUTs in that check
	}{
		{"SlowDown", http.StatusServiceUnavailable, "SlowDown", string(OK), "1.0", 1},
		{"AccessDenied", http.StatusForbidden, "AccessDenied", StateInstalling, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch, h, p, client := behindProxy(t, attempts)
			ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
			a, err := New(Config{
				Channel: ch.addr, Releases: client, Fleet: fleetOf(client), Package: "hello", AllowUnsigned: true, Report: true,
				Host: "web-1", Interval: 10 * time.Second, Installer: h.inst, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.start(t.Context()); err != nil {
				t.Fatal(err)
			}
			// The status PUTs after start's: "installing", then "ok",
			// whose every attempt is refused.
			puts := 0
			p.SetFault(realparts.Fault{Status: tt.status, Code: tt.code, Times: attempts, Match: func(r *http.Request) bool {
				if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, ".status/") {
					return false
				}
				puts++
				return puts >= 2
			}})
			a.cycle(t.Context())
			if st := ch.status(t, "web-1"); st.State != StateInstalling {
				t.Fatalf("after the refused write the status says %q, want %q still", st.State, StateInstalling)
			}
			before := statusPuts(p.Requests())
			a.cycle(t.Context())
			if n := statusPuts(p.Requests()) - before; n != tt.wantWrites {
				t.Errorf("the next check wrote the status %d times, want %d", n, tt.wantWrites)
			}
			if st := ch.status(t, "web-1"); st.State != tt.want || st.Version != tt.wantVer {
				t.Errorf("after the next check the status says %q %q, want %q %q", st.State, st.Version, tt.want, tt.wantVer)
			}
		})
	}
}

// statusPuts counts the status writes among reqs.
func statusPuts(reqs []realparts.S3Request) int {
	n := 0
	for _, q := range reqs {
		if q.Kind == realparts.KindStatus && q.Method == http.MethodPut {
			n++
		}
	}
	return n
}

// behindProxy is a channel and a host without a service, whose agent
// reaches S3 through a proxy that can answer in S3's place, with a client
// making at most attempts tries per request and retrying at once.
func behindProxy(t *testing.T, attempts int) (*channel, *host, *realparts.S3Proxy, *release.Client) {
	t.Helper()
	ch := newChannel(t)
	h := newHost(t)
	h.inst.Service = nil
	p := testenv.StartS3Proxy(t, ch.srv.Endpoint)
	client, err := release.New(t.Context(), release.Options{Endpoint: p.URL, Region: ch.srv.Region,
		Credentials: ch.srv.Credentials(), MaxAttempts: attempts, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return ch, h, p, client
}
