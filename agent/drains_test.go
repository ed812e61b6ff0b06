package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// TestUpgradeWhileOlderGenerationDrains: a release installed while an
// older generation of the service still drains a long request is installed
// OK within the health timeout, not rolled back; the long request is
// answered by the generation that took it. Before restart/ let a new
// generation upgrade while older ones drain, 3.0 waited for 1.0's drain,
// missed the health timeout and was rolled back.
func TestUpgradeWhileOlderGenerationDrains(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0", "3.0")
	ch := newChannel(t)
	h := newHost(t)
	pubs := map[string]pub{}
	for _, v := range []string{"1.0", "2.0", "3.0"} {
		pubs[v] = manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: v, Bin: bins[v]}), time.Now())
	}
	ch.publish(t, pubs["1.0"])
	a := newAgent(t, h, ch, nil, nil)
	if err := a.Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.startService(t)

	// hello's DrainTimeout is 30 s: the request outlasts both installs.
	const long = 20 * time.Second
	answer := longRequestOn(t, h.addr, "1.0", long)

	for _, v := range []string{"2.0", "3.0"} {
		ch.publish(t, pubs[v])
		if out, err := a.Check(t.Context()); out != OK || err != nil {
			t.Fatalf("install %s while 1.0 drains: %s, %v", v, out, err)
		}
		if got := h.serving(t); got != v {
			t.Fatalf("serving %q after installing %s", got, v)
		}
		select {
		case got := <-answer:
			t.Fatalf("the long request ended (%q) before %s was installed: the test did not overlap", got, v)
		default:
		}
	}
	select {
	case got := <-answer:
		if !strings.HasPrefix(got, "slept "+long.String()) {
			t.Errorf("long request on 1.0: %q, want it answered", got)
		}
	case <-time.After(long + 30*time.Second):
		t.Fatal("long request on 1.0 not answered")
	}
}

// longRequestOn sends GET /sleep?d=d on a connection that the generation
// serving version has already answered, so that the request is that
// generation's to drain, and returns a channel that gets the answer.
func longRequestOn(t *testing.T, addr, version string, d time.Duration) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := realparts.DialServedBy(ctx, addr, "hello from "+version+" ", d+time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	answer := make(chan string, 1)
	go func() {
		body, _, err := conn.Get("/sleep?d=" + d.String())
		if err != nil {
			body = "error: " + err.Error()
		}
		answer <- body
	}()
	return answer
}
