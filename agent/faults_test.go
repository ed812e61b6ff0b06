package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/internal/testenv/tcpfault"
	"github.com/debfleet/debfleet/release"
)

// faultProxy forwards HTTP requests to the S3 server. With a fault set it
// answers every request itself: "cut" drops the connection without an
// answer (a network outage; toxiproxy resets it), a number answers with that HTTP status (403
// for a policy or credential problem, 503 for an overloaded endpoint), and
// "truncate" cuts every download after 100 bytes.
type faultProxy struct {
	*tcpfault.Proxy // "cut"
	s3              *realparts.S3Proxy
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	s3 := testenv.StartS3Proxy(t, target)
	return &faultProxy{Proxy: tcpfault.Start(t, s3.URL), s3: s3}
}

// set replaces the fault; "" is none.
func (p *faultProxy) set(t *testing.T, fault string) {
	p.Heal()
	switch fault {
	case "":
		p.s3.SetFault(realparts.Fault{})
	case "cut":
		p.Cut(t)
	case "truncate":
		p.s3.SetFault(realparts.Fault{CutBodyAfter: 100})
	default:
		code, _ := strconv.Atoi(fault)
		p.s3.SetFault(realparts.Fault{Status: code})
	}
}

// TestAgentFaults: a channel that is unreachable or refuses our
// credentials for a while never stops the agent nor touches the host; the
// agent logs the outage once, backs off, and installs the release by
// itself once the fault is gone.
func TestAgentFaults(t *testing.T) {
	tests := []struct {
		fault    string
		wantKind string
		// reportFails: the fault also breaks status writes (logged once).
		reportFails bool
	}{
		{"cut", "kind=unreachable", true},
		{"403", "kind=access-denied", true},
		{"503", "kind=s3-error", true},
		{"500", "kind=s3-error", true},
		{"truncate", "kind=download-cut", false},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			ch := newChannel(t)
			h := newHost(t)
			h.inst.Service = nil
			proxy := newFaultProxy(t, ch.srv.Endpoint)
			client, err := release.New(t.Context(), release.Options{Endpoint: proxy.URL, Region: ch.srv.Region,
				Credentials: ch.srv.Credentials(), MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			proxy.set(t, tt.fault)
			// Published straight to the server, not through the fault.
			ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))

			run := runUntilFailing(t, ch, h, client)
			if got := h.dpkgVersion(t); got != " " {
				t.Fatalf("dpkg says %q while the channel is broken, want nothing installed", got)
			}
			if debs, _ := filepath.Glob(filepath.Join(h.stateDir, "debs", "*")); len(debs) > 1 {
				// At most the download in progress.
				t.Errorf("files left from failed downloads: %q", debs)
			}
			proxy.set(t, "")
			out := run.recover(t, ch, tt.wantKind)
			if n, want := strings.Count(out, "status report failed"), map[bool]int{true: 1}[tt.reportFails]; n != want {
				t.Errorf("logged the failed status report %d times, want %d:\n%s", n, want, out)
			}
			if got := h.dpkgVersion(t); got != "installed 1.0" {
				t.Errorf("dpkg says %q after recovery", got)
			}
		})
	}
}

// failingRun is an agent running against a channel that fails it.
type failingRun struct {
	ctx  context.Context
	logs realparts.SyncBuffer
	stop func() error // ends the run and returns Run's error
}

// fastConfig is the configuration of an agent for host h ("web-3",
// package hello, unsigned, reporting) on ch through client, checking
// every 20 ms and backing off at most 100 ms.
func fastConfig(ch *channel, h *host, client *release.Client, log *slog.Logger) Config {
	return Config{
		Channel: ch.addr, Releases: client, Fleet: fleetOf(client), Package: "hello", Host: "web-3", Report: true, AllowUnsigned: true,
		Interval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Installer: h.inst, Logger: log,
	}
}

// runUntilFailing starts an agent (fastConfig) and returns once 5 checks
// have failed.
func runUntilFailing(t *testing.T, ch *channel, h *host, client *release.Client) *failingRun {
	t.Helper()
	r := &failingRun{}
	a, err := New(fastConfig(ch, h, client, slog.New(slog.NewTextHandler(&r.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	r.ctx, r.stop = ctx, func() error { cancel(); return <-done }
	if err := realparts.WaitFor(ctx, "failures", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.metrics.checkFailures >= 5 }); err != nil {
		t.Fatal(err)
	}
	return r
}

// recover waits, once the fault is gone, for the host to report release
// 1.0 installed, stops the agent, checks that it logged the failure
// once, with kind (as "kind=..."), and the recovery once, and returns
// the log.
func (r *failingRun) recover(t *testing.T, ch *channel, kind string) string {
	t.Helper()
	if err := realparts.WaitFor(r.ctx, "install after the fault", func() bool {
		st := ch.tryStatus(t, "web-3")
		return st != nil && st.State == "ok" && st.Version == "1.0"
	}); err != nil {
		t.Fatalf("%v\n%s", err, r.logs.String())
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	out := r.logs.String()
	if n := strings.Count(out, "release check failing"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, kind) {
		t.Errorf("failure log lacks %q:\n%s", kind, out)
	}
	if n := strings.Count(out, "release check recovered"); n != 1 {
		t.Errorf("logged the recovery %d times, want once:\n%s", n, out)
	}
	return out
}

// TestReleaseReplacedDuringDownload: the download is pinned to the
// VersionId the HEAD saw, so a publish in between cannot mix two releases;
// the agent installs the one it saw, then the new one at the next check.
func TestReleaseReplacedDuringDownload(t *testing.T) {
	ch := newChannel(t)
	h := newHost(t)
	h.inst.Service = nil
	v1 := manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now())
	v2 := manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0"}), time.Now())
	ch.publish(t, v1)
	agents, proxy := ch.proxied(t)
	// The agent's first GET of the release, its download, waits at the
	// proxy while 2.0 is published: after the HEAD that found 1.0, before
	// any of 1.0's bytes.
	var replaced atomic.Bool
	proxy.SetFault(realparts.Fault{Times: 1, Match: func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+ch.addr.Key)
	}, Before: func(*http.Request) {
		if _, err := ch.client.Publish(t.Context(), ch.addr, release.PublishInput{Body: bytes.NewReader(v2.body), Manifest: v2.m, Force: true}); err != nil {
			t.Errorf("publish 2.0: %v", err)
		}
		replaced.Store(true)
	}})
	var logs bytes.Buffer
	a, err := New(Config{Channel: ch.addr, AllowUnsigned: true, Releases: agents.client, Fleet: fleetOf(agents.client), Package: "hello", Host: "web-4", Interval: time.Second,
		Installer: h.inst, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"installed 1.0", "installed 2.0"} {
		if out, err := a.Check(t.Context()); out != OK || err != nil {
			t.Fatalf("check %d: %s, %v\n%s", i+1, out, err, logs.String())
		}
		if got := h.dpkgVersion(t); got != want {
			t.Errorf("after check %d: dpkg says %q, want %q", i+1, got, want)
		}
	}
	if !replaced.Load() {
		t.Fatal("the release was never replaced during a download")
	}
}

// TestHeartbeat: with nothing happening, the status object is rewritten
// every Heartbeat (Time moves, Since does not), so `pkgdeb status` can
// tell a quiet host from a dead one.
func TestHeartbeat(t *testing.T) {
	ch := newChannel(t)
	h := newHost(t)
	h.inst.Service = nil
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
	a, err := New(Config{Channel: ch.addr, AllowUnsigned: true, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: "web-5", Report: true,
		Interval: 20 * time.Millisecond, Heartbeat: 300 * time.Millisecond, Installer: h.inst, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var first *Status
	if err := realparts.WaitFor(ctx, "the release installed", func() bool {
		first = ch.tryStatus(t, "web-5")
		return first != nil && first.State == "ok"
	}); err != nil {
		t.Fatal(err)
	}
	var later *Status
	if err := realparts.WaitFor(ctx, "a heartbeat", func() bool {
		later = ch.tryStatus(t, "web-5")
		return later.Time.After(first.Time)
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if gap := later.Time.Sub(first.Time); gap < 300*time.Millisecond {
		t.Errorf("heartbeat after %s, want at least the 300ms Heartbeat", gap)
	}
	if !later.Since.Equal(first.Since) || later.State != "ok" || later.Version != "1.0" {
		t.Errorf("heartbeat changed the state: %+v then %+v", first, later)
	}
}
