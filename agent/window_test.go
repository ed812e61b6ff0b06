package agent

import (
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// testClock is an agent's injected clock, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// clockAgent is a started agent for h on ch whose clock is clk, with
// hold (nil: none) and its logs in logs.
func clockAgent(t *testing.T, ch *channel, h *fleetHost, clk *testClock, hold Hold, logs *realparts.SyncBuffer) *Agent {
	t.Helper()
	a, err := New(Config{
		Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: h.name, Report: true, AllowUnsigned: true,
		Interval: time.Second, Installer: h.inst, Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: clk.Now, Hold: hold,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a
}

func london(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// windowed publishes the .deb at path with a policy whose only rule is
// the maintenance windows specs.
func (c *channel) windowed(t *testing.T, path string, specs ...string) {
	t.Helper()
	ws, err := fleet.ParseWindows(specs)
	if err != nil {
		t.Fatal(err)
	}
	c.staged(t, path, fleet.Policy{Waves: []float64{100}, Windows: ws})
}

// A host outside the release's maintenance window keeps its release and
// says so, at one HEAD per poll; inside it installs, at the cost of the
// halt record's GET a policy brings.
func TestMaintenanceWindow(t *testing.T) {
	ch := newChannel(t)
	agents, proxy := ch.proxied(t)
	h := newFleetHost(t, "web-1")
	// Friday 2026-12-04, 18:00 in London: the window is closed until
	// Monday 09:00 (GMT in December: 09:00Z).
	clk := &testClock{now: london(t, "2026-12-04 18:00")}
	var logs realparts.SyncBuffer
	a := clockAgent(t, agents, h, clk, nil, &logs)
	ch.windowed(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), "Mon-Fri 09:00-17:00 Europe/London")

	for poll := range 3 {
		seen := len(proxy.Requests())
		if out, err := a.Check(t.Context()); out != "" || err != nil {
			t.Fatalf("poll %d outside the window: %q, %v", poll, out, err)
		}
		got := counts(proxy.Requests()[seen:])
		// The first poll reports the wait; later ones only look.
		want := map[string]int{"HEAD release": 1}
		if poll == 0 {
			want["PUT status"] = 1
		}
		if !maps.Equal(got, want) {
			t.Errorf("poll %d outside the window: requests %s, want %s", poll, describe(got), describe(want))
		}
	}
	st := ch.status(t, h.name)
	wantWhy := "outside the maintenance window Mon-Fri 09:00-17:00 Europe/London; next opens 2026-12-07T09:00:00Z"
	if st.State != StateWaiting || st.StateLabel() != "waiting (window)" || st.Rollout == nil || st.Rollout.Waiting != wantWhy ||
		st.Rollout.Window != "Mon-Fri 09:00-17:00 Europe/London" || !st.Rollout.WindowOpens.Equal(london(t, "2026-12-07 09:00")) ||
		st.Version != "" || st.Target == nil || st.Target.Version != "1.0" {
		t.Fatalf("status outside the window: %+v (rollout %+v)", st, st.Rollout)
	}

	clk.Set(london(t, "2026-12-07 09:00"))
	seen := len(proxy.Requests())
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("inside the window: %q, %v\n%s", out, err, logs.String())
	}
	got := counts(proxy.Requests()[seen:])
	want := map[string]int{"HEAD release": 1, "GET release": 1, "GET rollout": 1, "PUT status": 2}
	if !maps.Equal(got, want) {
		t.Errorf("install inside the window: requests %s, want %s", describe(got), describe(want))
	}
	if st := ch.status(t, h.name); st.State != string(OK) || st.Version != "1.0" || st.Rollout != nil {
		t.Fatalf("status after the window opened: %+v", st)
	}
}

// A rollback is not held by the windows the restored release was
// published with, unless it respects them.
func TestRollbackIgnoresWindow(t *testing.T) {
	ch := newChannel(t)
	h := newFleetHost(t, "web-1")
	clk := &testClock{now: london(t, "2026-12-02 10:00")} // Wednesday, inside
	var logs realparts.SyncBuffer
	a := clockAgent(t, ch, h, clk, nil, &logs)
	const window = "Mon-Fri 09:00-17:00 Europe/London"
	v1 := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"})
	v2 := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0"})
	for _, v := range []string{v1, v2} {
		ch.windowed(t, v, window)
		if out, err := a.Check(t.Context()); out != OK || err != nil {
			t.Fatalf("install inside the window: %q, %v\n%s", out, err, logs.String())
		}
	}
	clk.Set(london(t, "2026-12-05 12:00")) // Saturday: outside
	rollback := func(to string, rp fleet.RollbackPolicy) {
		t.Helper()
		if _, err := ch.client.Rollback(t.Context(), ch.addr, release.RollbackInput{To: to, Edit: rp.Edit}); err != nil {
			t.Fatal(err)
		}
	}
	rollback("1.0", fleet.RollbackPolicy{})
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("rollback outside the window: %q, %v\n%s", out, err, logs.String())
	}
	if st := ch.status(t, h.name); st.Version != "1.0" {
		t.Fatalf("after the rollback: %+v", st)
	}
	rollback("2.0", fleet.RollbackPolicy{RespectWindow: true})
	if out, err := a.Check(t.Context()); out != "" || err != nil {
		t.Fatalf("rollback respecting the window, outside it: %q, %v", out, err)
	}
	st := ch.status(t, h.name)
	if st.StateLabel() != "waiting (window)" || st.Version != "1.0" || !strings.Contains(st.Rollout.Waiting, "next opens 2026-12-07T09:00:00Z") {
		t.Fatalf("rollback respecting the window: %+v (rollout %+v)", st, st.Rollout)
	}
}
