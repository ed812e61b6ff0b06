//go:build linux

package restart_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// longRequest is a GET /sleep held by one generation.
type longRequest struct {
	pid  int // the generation that answers it
	d    time.Duration
	done chan longResult
}

type longResult struct {
	body string
	err  error
}

var helloPID = regexp.MustCompile(`\(pid (\d+)\)`)

// startLong sends GET /sleep?d=d to the generation pid, on a connection it
// has already answered (see realparts.DialServedBy).
func startLong(t *testing.T, addr string, pid int, d time.Duration) *longRequest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := realparts.DialServedBy(ctx, addr, fmt.Sprintf("(pid %d)", pid), d+time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r := &longRequest{pid: pid, d: d, done: make(chan longResult, 1)}
	go func() {
		defer conn.Close()
		body, _, err := conn.Get("/sleep?d=" + d.String())
		r.done <- longResult{body, err}
	}()
	return r
}

// inFlight reports whether r has not been answered yet.
func (r *longRequest) inFlight() bool { return len(r.done) == 0 }

// watchPIDs records every PID the PID file names, in order, until the test
// ends; the returned function gives the record so far.
func watchPIDs(t *testing.T, s *service) func() []int {
	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan []int, 1)
	go func() {
		var pids []int
		for ctx.Err() == nil {
			if p, err := restart.ReadPIDFile(s.pidFile); err == nil && (len(pids) == 0 || pids[len(pids)-1] != p) {
				pids = append(pids, p)
			}
			time.Sleep(time.Millisecond)
		}
		seen <- pids
	}()
	var got []int
	stopped := false
	t.Cleanup(cancel)
	return func() []int {
		if !stopped {
			cancel()
			got, stopped = <-seen, true
		}
		return got
	}
}

// TestOverlappingDrains: three generations, each with a long request in
// flight, drain side by side while a fourth serves. Each upgrade ends while
// every older long request is still in flight (no upgrade waits for a
// drain); the PID file names each new generation in turn and never an
// older one; new connections reach the newest; every long request
// completes, or is cut at its generation's DrainTimeout and that is logged;
// a stop (to every process, as systemd's control-group kill does, or to
// the stable-PID supervisor) ends every generation.
func TestOverlappingDrains(t *testing.T) {
	const drainTimeout = 12 * time.Second
	for _, tt := range []struct {
		name      string
		supervise bool
		first     time.Duration // the first generation's long request
	}{
		{"under systemd", false, 8 * time.Second},
		{"first drain cut at DrainTimeout", false, 45 * time.Second},
		{"under the supervisor", true, 8 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.supervise {
				env = []string{restart.SuperviseEnv + "=1"}
			}
			s := startService(t, startOptions{env: env, drainTimeout: drainTimeout})
			pidSeq := watchPIDs(t, s)
			gens := []int{s.pid()}
			var longs []*longRequest
			for i, d := range []time.Duration{tt.first, 8 * time.Second, 8 * time.Second} {
				longs = append(longs, startLong(t, s.addr, gens[i], d))
				target := 0 // the PID file's process, as the agent signals it
				if tt.supervise {
					target = s.cmd.Process.Pid
				}
				sent := time.Now()
				gens = append(gens, s.upgrade(target))
				t.Logf("generation %d ready %s after SIGHUP, %d draining", i+2, time.Since(sent), i+1)
				for _, r := range longs {
					if !r.inFlight() {
						t.Fatalf("the long request on %d ended before %d was ready: the upgrade waited for a drain\n%s", r.pid, gens[i+1], s.log)
					}
				}
			}
			newest := gens[len(gens)-1]
			checkNewestServes(t, s, newest)
			if tt.supervise {
				s.signal(s.cmd.Process.Pid, syscall.SIGTERM)
			} else {
				for _, p := range gens {
					s.signal(p, syscall.SIGTERM)
				}
			}
			checkLongRequests(t, s, longs, tt.first > drainTimeout)
			checkStoppedCleanly(t, s, gens, tt.first <= drainTimeout)
			if got := pidSeq(); !slices.Equal(got, gens) {
				t.Errorf("PID file named %v in turn, want %v", got, gens)
			}
		})
	}
}

// checkNewestServes checks that new connections reach only the newest
// generation once the older ones have stopped accepting: 20 in a row,
// which two processes accepting from the same socket would hardly manage.
// (The previous generation may answer one just after the PID file changed:
// it serves until it hears that the new one is Ready.)
func checkNewestServes(t *testing.T, s *service, newest int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for run := 0; run < 20; {
		if time.Now().After(deadline) {
			t.Fatalf("20 new connections in a row not all served by %d within 20s", newest)
		}
		resp, err := client.Get("http://" + s.addr + "/")
		if err != nil {
			t.Fatalf("new request: %v", err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if err != nil {
			t.Fatalf("new request: %v", err)
		}
		if m := helloPID.FindStringSubmatch(string(b)); m != nil && m[1] == strconv.Itoa(newest) {
			run++
		} else {
			run = 0
		}
	}
}

// checkLongRequests waits for every long request: each must be answered by
// its generation, except the first if cutFirst, which must fail, its cut
// logged.
func checkLongRequests(t *testing.T, s *service, longs []*longRequest, cutFirst bool) {
	t.Helper()
	for i, r := range longs {
		var res longResult
		select {
		case res = <-r.done:
		case <-time.After(r.d + time.Minute):
			t.Fatalf("long request on %d not answered or cut after %s", r.pid, r.d+time.Minute)
		}
		want := fmt.Sprintf("slept %s (pid %d)", r.d, r.pid)
		switch {
		case i == 0 && cutFirst:
			if res.err == nil {
				t.Errorf("long request on %d answered %q, want it cut at DrainTimeout", r.pid, res.body)
			}
			s.waitLog(`drain .*still open after`, 1)
		case res.err != nil || !contains(res.body, want):
			t.Errorf("long request on %d: %q, %v; want %q", r.pid, res.body, res.err, want)
		}
	}
}
