package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestJitter(t *testing.T) {
	tests := []struct {
		name             string
		interval, jitter time.Duration
		wantMin, wantMax time.Duration
	}{
		{"default 20%", 10 * time.Second, 2 * time.Second, 8 * time.Second, 12 * time.Second},
		{"no jitter", 10 * time.Second, 0, 10 * time.Second, 10 * time.Second},
		{"jitter larger than interval is clamped", time.Second, 5 * time.Second, 0, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 7))
			var lo, hi time.Duration = 1 << 62, -1
			var sum time.Duration
			const n = 2000
			for range n {
				d := Jitter(tt.interval, tt.jitter, r)
				if d < tt.wantMin || d > tt.wantMax {
					t.Fatalf("Jitter = %s, outside [%s, %s]", d, tt.wantMin, tt.wantMax)
				}
				lo, hi, sum = min(lo, d), max(hi, d), sum+d
			}
			if tt.jitter == 0 {
				return
			}
			// Uniform: the draws reach both ends of the range and average
			// to its middle.
			span := tt.wantMax - tt.wantMin
			if lo > tt.wantMin+span/20 || hi < tt.wantMax-span/20 {
				t.Errorf("draws span [%s, %s], want close to [%s, %s]", lo, hi, tt.wantMin, tt.wantMax)
			}
			mean := sum / n
			mid := (tt.wantMin + tt.wantMax) / 2
			if mean < mid-span/20 || mean > mid+span/20 {
				t.Errorf("mean %s, want about %s", mean, mid)
			}
		})
	}
	// The same seed gives the same sequence: the source is the only input.
	a, b := rand.New(rand.NewPCG(1, 1)), rand.New(rand.NewPCG(1, 1))
	for range 10 {
		if x, y := Jitter(time.Minute, time.Second, a), Jitter(time.Minute, time.Second, b); x != y {
			t.Fatalf("same seed, different delays %s %s", x, y)
		}
	}
}

func TestBackoffDelays(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		want     []time.Duration
	}{
		{"doubles then caps", time.Second, 10 * time.Second, []time.Duration{1, 2, 4, 8, 10, 10, 10}},
		{"cap below min", 4 * time.Second, 3 * time.Second, []time.Duration{3, 3}},
		{"zero min means one second", 0, 4 * time.Second, []time.Duration{1, 2, 4, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Backoff{Min: tt.min, Max: tt.max}
			now := time.Unix(0, 0)
			for i, w := range tt.want {
				if got := b.Fail(now, "unreachable", errors.New("x")); got != w*time.Second {
					t.Errorf("failure %d: delay %s, want %s", i+1, got, w*time.Second)
				}
			}
			if !b.Succeed(now) || b.Failures() != 0 {
				t.Fatal("Succeed after failures did not reset")
			}
			if got := b.Fail(now, "unreachable", errors.New("x")); got != tt.want[0]*time.Second {
				t.Errorf("after recovery: delay %s, want %s again", got, tt.want[0]*time.Second)
			}
		})
	}
}

// TestBackoffSteady: failures of a steady kind (a channel with nothing
// published yet) are retried at the pace given and logged once, and a
// back-off of another kind afterwards starts again from Min.
func TestBackoffSteady(t *testing.T) {
	var buf bytes.Buffer
	b := &Backoff{Min: time.Second, Max: time.Minute, What: "check release", Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	now := time.Unix(0, 0)
	for range 3 {
		b.Fail(now, "unreachable", errors.New("x"))
	}
	for i := range 20 {
		if d := b.Steady(now, "not-found", errors.New("x"), 7*time.Second); d != 7*time.Second {
			t.Fatalf("steady failure %d: delay %s, want 7s", i+1, d)
		}
	}
	if n := strings.Count(buf.String(), "kind=not-found"); n != 1 {
		t.Errorf("%d log lines for 20 steady failures, want 1:\n%s", n, buf.String())
	}
	if d := b.Fail(now, "unreachable", errors.New("x")); d != time.Second {
		t.Errorf("first failure after steady ones: delay %s, want Min (1s)", d)
	}
}

// TestBackoffManyFailures: the doubling must stop at the cap and not
// overflow however long the outage lasts.
func TestBackoffManyFailures(t *testing.T) {
	b := &Backoff{Min: time.Second, Max: 5 * time.Minute}
	var d time.Duration
	for range 10_000 {
		d = b.Fail(time.Unix(0, 0), "down", nil)
	}
	if d != 5*time.Minute {
		t.Errorf("delay after 10000 failures: %s, want the 5m cap", d)
	}
}

func TestBackoffJitter(t *testing.T) {
	b := &Backoff{Min: 8 * time.Second, Max: 8 * time.Second, Rand: rand.New(rand.NewPCG(3, 4))}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Fail(time.Unix(0, 0), "down", nil)
		if d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("delay %s outside [4s, 8s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays in 200 draws", len(seen))
	}
}

func TestBackoffLogsOncePerStateChange(t *testing.T) {
	var buf bytes.Buffer
	b := &Backoff{Min: time.Second, Max: time.Minute, What: "check release",
		Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		fail bool
		kind string
		logs string // the log line this step must add, "" for none
	}{
		{true, "unreachable", "check release failing"},
		{true, "unreachable", ""},
		{true, "unreachable", ""},
		{true, "forbidden", "kind=forbidden"},
		{true, "forbidden", ""},
		{false, "", "check release recovered"},
		{false, "", ""},
		{true, "unreachable", "kind=unreachable"},
	}
	for i, s := range steps {
		before := buf.Len()
		now := t0.Add(time.Duration(i) * time.Second)
		if s.fail {
			b.Fail(now, s.kind, errors.New("dial tcp: connection refused"))
		} else {
			b.Succeed(now)
		}
		added := buf.String()[before:]
		if s.logs == "" && added != "" {
			t.Errorf("step %d logged %q, want nothing", i, added)
		}
		if s.logs != "" && (strings.Count(added, "\n") != 1 || !strings.Contains(added, s.logs)) {
			t.Errorf("step %d logged %q, want one line with %q", i, added, s.logs)
		}
	}
	if !strings.Contains(buf.String(), "failures=5 duration=5s") {
		t.Errorf("recovery line lacks the failure count and outage duration:\n%s", buf.String())
	}
}
