package agent

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
