package agent

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent/hold"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// A service that holds its update keeps the host on its release, reported
// held with the service's reason, at one HEAD per poll (and a status PUT
// when the reason changes): no update slot is taken, nothing is read of
// the rollout and nothing downloaded. Once the hold is lifted the host
// installs.
func TestServiceHoldFile(t *testing.T) {
	ch := newChannel(t)
	agents, proxy := ch.proxied(t)
	h := newFleetHost(t, "web-1")
	clk := &testClock{now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "hold")
	writeHold := func(reason string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(reason+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeHold("draining 3 jobs")
	var logs realparts.SyncBuffer
	a := clockAgent(t, agents, h, clk, &hold.Checker{File: path}, &logs)
	// Update slots: a held host must not take one.
	ch.staged(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), fleet.Policy{Waves: []float64{100}, MaxUpdating: 1})

	poll := func(reason string, wantPut bool) {
		t.Helper()
		seen := len(proxy.Requests())
		if out, err := a.Check(t.Context()); out != "" || err != nil {
			t.Fatalf("held: %q, %v", out, err)
		}
		got := counts(proxy.Requests()[seen:])
		want := map[string]int{"HEAD release": 1}
		if wantPut {
			want["PUT status"] = 1
		}
		if !maps.Equal(got, want) {
			t.Errorf("poll while held (%s): requests %s, want %s", reason, describe(got), describe(want))
		}
		st := ch.status(t, h.name)
		if st.State != StateHeld || st.Hold == nil || st.Hold.Reason != reason || st.Hold.Expired ||
			!st.Hold.Until.Equal(time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)) || st.Target == nil || st.Target.Version != "1.0" {
			t.Fatalf("status while held: %+v (hold %+v)", st, st.Hold)
		}
	}
	poll("draining 3 jobs", true)
	clk.Set(clk.Now().Add(time.Minute))
	poll("draining 3 jobs", false)
	writeHold("draining 1 job")
	poll("draining 1 job", true)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("hold lifted: %q, %v\n%s", out, err, logs.String())
	}
	if st := ch.status(t, h.name); st.State != string(OK) || st.Version != "1.0" || st.Hold != nil {
		t.Fatalf("status after the hold: %+v", st)
	}
	if !strings.Contains(logs.String(), "the service lifted its hold") {
		t.Errorf("the log does not say the hold was lifted:\n%s", logs.String())
	}
}

// A hold lasts at most max-hold: then the host updates anyway, and its
// log and status say so. The hold URL is asked the same way as the file.
func TestServiceHoldMaxHold(t *testing.T) {
	ch := newChannel(t)
	h := newFleetHost(t, "web-1")
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clk := &testClock{now: start}
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		w.WriteHeader(http.StatusLocked)
		w.Write([]byte("rebuilding the search index"))
	}))
	defer srv.Close()
	var logs realparts.SyncBuffer
	a := clockAgent(t, ch, h, clk, &hold.Checker{URL: srv.URL + "/hold"}, &logs)
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))

	if out, err := a.Check(t.Context()); out != "" || err != nil {
		t.Fatalf("held: %q, %v", out, err)
	}
	if st := ch.status(t, h.name); st.State != StateHeld || st.Hold.Reason != "rebuilding the search index" || asked.Load() != 1 {
		t.Fatalf("status while held: %+v (hold %+v), asked %d times", st, st.Hold, asked.Load())
	}
	clk.Set(start.Add(DefaultMaxHold - time.Second))
	if out, err := a.Check(t.Context()); out != "" || err != nil {
		t.Fatalf("held, a second before max-hold: %q, %v", out, err)
	}
	clk.Set(start.Add(DefaultMaxHold))
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("max-hold ran out: %q, %v\n%s", out, err, logs.String())
	}
	st := ch.status(t, h.name)
	if st.State != string(OK) || st.Version != "1.0" || st.Hold == nil || !st.Hold.Expired || st.Hold.Reason != "rebuilding the search index" {
		t.Fatalf("status after max-hold: %+v (hold %+v)", st, st.Hold)
	}
	if !strings.Contains(logs.String(), "max-hold ran out") {
		t.Errorf("the log does not say max-hold ran out:\n%s", logs.String())
	}
}

// A fleet of running agents, on one injected clock: all wait outside the
// window; once it opens, the hosts whose service does not hold install,
// a held host installs when its service lifts the hold, and another when
// its max-hold runs out.
func TestWindowAndHoldFleet(t *testing.T) {
	ch := newChannel(t)
	hosts := newFleet(t, "web", 4)
	clk := &testClock{now: london(t, "2026-12-04 18:00")} // Friday evening
	holds := map[string]string{}
	var logs realparts.SyncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i, h := range hosts {
		var hd Hold
		if i >= 2 {
			holds[h.name] = filepath.Join(t.TempDir(), "hold")
			if err := os.WriteFile(holds[h.name], []byte("job "+h.name+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			hd = &hold.Checker{File: holds[h.name]}
		}
		a, err := New(Config{
			Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: h.name, Report: true, AllowUnsigned: true,
			Interval: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Installer: h.inst, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Now: clk.Now, Hold: hd,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				t.Errorf("%s: Run: %v", h.name, err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	ch.windowed(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), "Mon-Fri 09:00-17:00 Europe/London")

	states := func(want map[string]func(*Status) bool) func() bool {
		return func() bool {
			for name, ok := range want {
				st := ch.tryStatus(t, name)
				if st == nil || !ok(st) {
					return false
				}
			}
			return true
		}
	}
	waitUntil := func(what string, want map[string]func(*Status) bool) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer wcancel()
		if err := realparts.WaitFor(wctx, what, states(want)); err != nil {
			t.Fatalf("%v\n%s", err, logs.String())
		}
	}
	inWindowWait := func(st *Status) bool { return st.StateLabel() == "waiting (window)" }
	installed := func(st *Status) bool { return st.State == string(OK) && st.Version == "1.0" }
	isHeld := func(st *Status) bool {
		return st.State == StateHeld && st.Hold != nil && st.Hold.Reason == "job "+st.Host && st.Version == ""
	}
	all := func(f func(*Status) bool) map[string]func(*Status) bool {
		m := map[string]func(*Status) bool{}
		for _, h := range hosts {
			m[h.name] = f
		}
		return m
	}
	waitUntil("every host waiting for the window", all(inWindowWait))

	clk.Set(london(t, "2026-12-07 09:00"))
	waitUntil("free hosts installed, held ones held", map[string]func(*Status) bool{
		hosts[0].name: installed, hosts[1].name: installed, hosts[2].name: isHeld, hosts[3].name: isHeld})

	if err := os.Remove(holds[hosts[2].name]); err != nil {
		t.Fatal(err)
	}
	waitUntil("the host whose hold was lifted installed", map[string]func(*Status) bool{hosts[2].name: installed, hosts[3].name: isHeld})

	clk.Set(london(t, "2026-12-07 09:00").Add(DefaultMaxHold + time.Minute))
	waitUntil("the last host installed after max-hold", map[string]func(*Status) bool{hosts[3].name: func(st *Status) bool {
		return installed(st) && st.Hold != nil && st.Hold.Expired
	}})
}
