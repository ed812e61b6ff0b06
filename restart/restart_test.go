//go:build linux

package restart_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

const upgrades = 20

func TestUpgradeUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive bool
	}{
		{"keep-alive", true},
		{"connection-per-request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startService(t, startOptions{})
			stopLoad := startLoad(s, tc.keepAlive)
			pids := []int{s.pid()}
			for range upgrades {
				pids = append(pids, s.upgrade(0))
				time.Sleep(150 * time.Millisecond)
			}
			r := stopLoad()
			checkLoad(t, r, 200)
			slices.Sort(pids)
			if n := len(slices.Compact(slices.Clone(pids))); n != upgrades+1 {
				t.Errorf("%d distinct generations, want %d: %v", n, upgrades+1, pids)
			}
			if n := s.count(`upgrade failed`); n != 0 {
				t.Errorf("%d upgrades failed", n)
			}
			// Every generation but the last has drained and exited.
			last := s.pid()
			s.waitGone(slices.DeleteFunc(pids, func(p int) bool { return p == last }), testDrainTimeout+5*time.Second)
		})
	}
}

func TestInFlightRequestsCompleteAcrossUpgrade(t *testing.T) {
	s := startService(t, startOptions{})
	old := s.pid()
	type answer struct {
		body string
		err  error
	}
	const n = 5
	answers := make(chan answer, n)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (string, error) {
		resp, err := client.Get("http://" + s.addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return string(b), err
	}
	for range n {
		go func() {
			body, err := get("/sleep?d=1s")
			answers <- answer{body, err}
		}()
	}
	time.Sleep(300 * time.Millisecond) // the requests are in the old process now
	start := time.Now()
	newPID := s.upgrade(old)
	// The new process writes the PID file when Ready, a moment before the
	// old one hears of it and closes its copy of the shared listener: a
	// connection accepted in that moment is the old one's to answer, and
	// it does. Every answer must succeed; new ones soon come from the new
	// process.
	for deadline := time.Now().Add(5 * time.Second); ; {
		body, err := get("/")
		if err != nil {
			t.Fatalf("after the upgrade, / failed: %v", err)
		}
		if contains(body, fmt.Sprintf("pid %d", newPID)) {
			break
		}
		if !contains(body, fmt.Sprintf("pid %d", old)) || time.Now().After(deadline) {
			t.Fatalf("after the upgrade, / answered %q; want the new process %d", body, newPID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range n {
		a := <-answers
		if a.err != nil || !contains(a.body, fmt.Sprintf("slept 1s (pid %d)", old)) {
			t.Errorf("in-flight request: %q, %v; want an answer from the old process %d", a.body, a.err, old)
		}
	}
	if time.Since(start) > testDrainTimeout {
		t.Errorf("in-flight requests took %s", time.Since(start))
	}
	s.waitGone([]int{old}, testDrainTimeout+5*time.Second)
}

func TestFailedUpgradeKeepsServing(t *testing.T) {
	for _, tc := range []struct {
		fault string
		why   string // in the "upgrade failed" log line
	}{
		{"exit", "exit status 3"},
		{"panic", "exit status 2"},
		{"hang", "timed out"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			s := startService(t, startOptions{})
			stopLoad := startLoad(s, true)
			old := s.pid()
			s.install(bins.faulty[tc.fault])
			s.signal(old, syscall.SIGHUP)
			s.waitLog(`msg="upgrade failed, still serving".*`+tc.why, 1)
			if got := s.pid(); got != old {
				t.Errorf("PID file names %d after a failed upgrade, want %d", got, old)
			}
			if !restart.Alive(old) {
				t.Fatalf("old process %d died", old)
			}
			s.install(bins.hello)
			newPID := s.upgrade(old)
			checkLoad(t, stopLoad(), 50)
			s.waitGone([]int{old}, testDrainTimeout+5*time.Second)
			if !restart.Alive(newPID) {
				t.Errorf("new process %d is not running", newPID)
			}
		})
	}
}

func TestUpgradeRequestsDuringAnUpgrade(t *testing.T) {
	s := startService(t, startOptions{})
	stopLoad := startLoad(s, true)
	p0 := s.pid()
	s.install(bins.faulty["slow"]) // 700 ms to become Ready
	s.signal(p0, syscall.SIGHUP)
	s.waitLog(fmt.Sprintf(`msg="upgrade started".* pid=%d`, p0), 1)
	for range 3 {
		time.Sleep(50 * time.Millisecond)
		s.signal(p0, syscall.SIGHUP)
	}
	// The three requests merge into one more upgrade, run by the new
	// process once it is Ready and its parent has released it.
	s.waitLog(`msg=ready`, 3)
	time.Sleep(1500 * time.Millisecond) // would be enough for a stray fourth one
	checkLoad(t, stopLoad(), 50)
	if n := s.count(`msg=ready`); n != 3 {
		t.Errorf("%d generations became ready, want 3", n)
	}
	if n := s.count(`msg="upgrade started"`); n != 2 {
		t.Errorf("%d upgrades started, want 2", n)
	}
	if n := s.count(`upgrade failed`); n != 0 {
		t.Errorf("%d upgrades failed, want 0 (two at once?)", n)
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hello.sock")
	// A socket file left by a killed process must not stop the service.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	s := startService(t, startOptions{listen: "unix:" + sock})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan *realparts.LoadResult, 1)
	loadCtx, stop := context.WithCancel(ctx)
	go func() {
		done <- realparts.Load(loadCtx, realparts.LoadOptions{Network: "unix", Addr: sock, Workers: 2, KeepAlive: true, Duration: 30 * time.Second})
	}()
	pids := []int{s.pid()}
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		pids = append(pids, s.upgrade(0))
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	checkLoad(t, <-done, 20)
	s.signal(s.pid(), syscall.SIGTERM)
	s.waitGone(pids, testDrainTimeout+5*time.Second)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket %s left behind after stop: %v", sock, err)
	}
	if _, err := os.Stat(s.pidFile); !os.IsNotExist(err) {
		t.Errorf("PID file left behind after stop: %v", err)
	}
}

func TestSignals(t *testing.T) {
	for _, tc := range []struct{ upgrade, stop syscall.Signal }{
		{syscall.SIGHUP, syscall.SIGTERM},
		{syscall.SIGUSR2, syscall.SIGINT},
	} {
		t.Run(tc.upgrade.String()+","+tc.stop.String(), func(t *testing.T) {
			s := startService(t, startOptions{})
			p0 := s.pid()
			s.signal(p0, tc.upgrade)
			p1 := s.waitNewPID(p0)
			s.signal(p1, tc.stop)
			select {
			case <-s.exited: // the first generation, gone after the upgrade
			case <-time.After(testDrainTimeout):
				t.Fatal("first generation did not exit")
			}
			s.waitGone([]int{p1}, testDrainTimeout+2*time.Second)
			if _, err := os.Stat(s.pidFile); !os.IsNotExist(err) {
				t.Errorf("PID file left behind after stop: %v", err)
			}
			if !strings.Contains(s.log.String(), "stop requested") {
				t.Errorf("no stop logged")
			}
		})
	}
}
