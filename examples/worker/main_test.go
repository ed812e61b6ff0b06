//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// workerBin is built once by TestMain before any test runs, and only read
// after.
var workerBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "worker-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	workerBin, err = realparts.BuildGo(ctx, dir, "worker", "github.com/debfleet/debfleet/examples/worker", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// TestUpgradesRunEveryJobOnce: two workers share a spool (so that claims
// race all the time, not only while generations overlap) and each is
// upgraded four times while jobs run; every job is started once and done
// once, with the right result, and every old generation exits.
func TestUpgradesRunEveryJobOnce(t *testing.T) {
	spool := t.TempDir()
	jobs := submit(t, spool, 120)
	workers := []*worker{
		startWorker(t, spool, "--work", "20ms", "--poll", "10ms"),
		startWorker(t, spool, "--work", "20ms", "--poll", "10ms"),
	}
	var old []int
	for i := range 8 {
		w := workers[i%2]
		waitLogs(t, workers, `msg="job done"`, 10*(i+1)) // so that jobs are running
		old = append(old, w.pid())
		w.upgrade()
	}
	waitFor(t, "every job done", func() bool { return count(t, filepath.Join(spool, "done")) == len(jobs) })
	// A worker logs "job done" just after it writes the result.
	waitLogs(t, workers, `msg="job done"`, len(jobs))
	workers[0].waitGone(old)

	logs := workers[0].log.String() + workers[1].log.String()
	byPID := checkDone(t, logs, spool, jobs)
	if n := countLines(logs, `msg="job started"`); n != len(jobs) {
		t.Errorf("%d jobs started, want %d: each once", n, len(jobs))
	}
	if len(byPID) < 4 {
		t.Errorf("jobs were done by %d generations, want more: %v", len(byPID), byPID)
	}
	for _, re := range []string{"cut short", "put back", "level=ERROR"} {
		if n := countLines(logs, re); n != 0 {
			t.Errorf("%d log lines match %q", n, re)
		}
	}
	if n := count(t, filepath.Join(spool, "new")); n != 0 {
		t.Errorf("%d jobs still waiting", n)
	}
	// Only the current generations' (empty) directories are left.
	for _, w := range workers {
		if n := count(t, filepath.Join(spool, "claimed", strconv.Itoa(w.pid()))); n != 0 {
			t.Errorf("generation %d still claims %d jobs", w.pid(), n)
		}
	}
	if n := count(t, filepath.Join(spool, "claimed")); n != len(workers) {
		t.Errorf("claimed/ holds %d directories, want the current generations' only", n)
	}
}

// TestDrainTimeoutPutsJobBack: a job longer than the drain timeout is cut
// short in the old generation and done by the new one, once.
func TestDrainTimeoutPutsJobBack(t *testing.T) {
	spool := t.TempDir()
	jobs := submit(t, spool, 1)
	w := startWorker(t, spool, "--work", "2s", "--poll", "10ms", "--drain-timeout", "200ms")
	old := w.pid()
	w.waitLog(`msg="job started"`, 1)
	w.upgrade()
	w.waitLog(`msg="job cut short by the drain timeout, put back"`, 1)
	w.waitGone([]int{old})
	w.waitLog(`msg="job done"`, 1)
	if n := w.count(`msg="job started"`); n != 2 {
		t.Errorf("job started %d times, want twice (cut short, then done)", n)
	}
	checkDone(t, w.log.String(), spool, jobs)
}

// TestKilledGenerationsJobIsRecovered: a generation killed in the middle
// of a job leaves it claimed; the next start puts it back and runs it.
func TestKilledGenerationsJobIsRecovered(t *testing.T) {
	spool := t.TempDir()
	jobs := submit(t, spool, 1)
	w := startWorker(t, spool, "--work", "30s", "--poll", "10ms")
	w.waitLog(`msg="job started"`, 1)
	killed := w.pid()
	w.signal(killed, syscall.SIGKILL)
	w.waitGone([]int{killed})

	w2 := startWorker(t, spool, "--work", "10ms", "--poll", "10ms")
	w2.waitLog(`msg="job done"`, 1)
	if n := w2.count(`msg="put back a dead generation's job"`); n != 1 {
		t.Errorf("%d jobs put back, want 1", n)
	}
	checkDone(t, w2.log.String(), spool, jobs)
}

// submit writes n jobs into spool/new/ as a producer must (a dot file
// renamed into place), and returns their payloads by name.
func submit(t *testing.T, spool string, n int) map[string][]byte {
	t.Helper()
	dir := filepath.Join(spool, "new")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	jobs := make(map[string][]byte, n)
	for i := range n {
		name := fmt.Sprintf("job-%03d", i)
		jobs[name] = fmt.Appendf(nil, "image %d of %d", i, n)
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, jobs[name], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return jobs
}

// checkDone checks that every job was started once to completion and done
// once with its result, and returns how many each PID did.
func checkDone(t *testing.T, logs, spool string, jobs map[string][]byte) map[int]int {
	t.Helper()
	byPID := make(map[int]int)
	for name, payload := range jobs {
		if n := countLines(logs, `msg="job done"[^\n]* job=`+name+` `); n != 1 {
			t.Errorf("%s done %d times, want once", name, n)
		}
		got, err := os.ReadFile(filepath.Join(spool, "done", name))
		if err != nil {
			t.Error(err)
			continue
		}
		var sum string
		var pid int
		if _, err := fmt.Sscanf(string(got), "%s %d\n", &sum, &pid); err != nil || sum != fmt.Sprintf("%x", sha256.Sum256(payload)) {
			t.Errorf("%s: result %q, want the SHA-256 of %q", name, got, payload)
		}
		byPID[pid]++
	}
	return byPID
}

// count returns the number of entries in dir.
func count(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// worker is one worker process and the generations it upgrades into,
// all logging to log.
type worker struct {
	t       *testing.T
	pidFile string
	log     *realparts.SyncBuffer
	cmd     *exec.Cmd
}

func startWorker(t *testing.T, spool string, args ...string) *worker {
	t.Helper()
	w := &worker{t: t, pidFile: filepath.Join(t.TempDir(), "worker.pid"), log: &realparts.SyncBuffer{}}
	w.cmd = exec.Command(workerBin, append([]string{"--spool", spool, "--pidfile", w.pidFile}, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.cmd.Wait() }() // reap the first generation
	t.Cleanup(w.cleanup)
	w.waitFor("PID file", func() bool { _, err := restart.ReadPIDFile(w.pidFile); return err == nil })
	return w
}

func (w *worker) pid() int {
	w.t.Helper()
	pid, err := restart.ReadPIDFile(w.pidFile)
	if err != nil {
		w.t.Fatalf("%v\n%s", err, w.log)
	}
	return pid
}

func (w *worker) signal(pid int, sig syscall.Signal) {
	w.t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		w.t.Fatalf("signal %d: %v", pid, err)
	}
}

// upgrade sends SIGHUP to the current generation and returns the next
// one's PID once the PID file names it.
func (w *worker) upgrade() int {
	w.t.Helper()
	old := w.pid()
	w.signal(old, syscall.SIGHUP)
	var pid int
	w.waitFor("a new PID", func() bool {
		p, err := restart.ReadPIDFile(w.pidFile)
		pid = p
		return err == nil && p != old
	})
	return pid
}

// waitFor waits for cond, failing the test after 30 s.
func (w *worker) waitFor(what string, cond func() bool) {
	w.t.Helper()
	waitFor(w.t, what, cond)
}

// waitFor waits for cond, failing the test after 30 s (the workers' logs
// are printed by their cleanup).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, what, cond); err != nil {
		t.Fatal(err)
	}
}

func (w *worker) count(re string) int { return countLines(w.log.String(), re) }

// countLines returns how many matches of re logs holds.
func countLines(logs, re string) int {
	return len(regexp.MustCompile(re).FindAllStringIndex(logs, -1))
}

// waitLogs waits until the workers' logs together hold n matches of re.
func waitLogs(t *testing.T, workers []*worker, re string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d lines matching %s", n, re), func() bool {
		total := 0
		for _, w := range workers {
			total += w.count(re)
		}
		return total >= n
	})
}

func (w *worker) waitLog(re string, n int) {
	w.t.Helper()
	w.waitFor(fmt.Sprintf("%d lines matching %s", n, re), func() bool { return w.count(re) >= n })
}

func (w *worker) waitGone(pids []int) {
	w.t.Helper()
	w.waitFor(fmt.Sprintf("processes %v to exit", pids), func() bool {
		for _, p := range pids {
			if restart.Alive(p) {
				return false
			}
		}
		return true
	})
}

// pids returns every PID the worker's generations logged.
func (w *worker) pids() []int {
	var out []int
	for _, m := range regexp.MustCompile(`\bpid=(\d+)`).FindAllStringSubmatch(w.log.String(), -1) {
		if pid, err := strconv.Atoi(m[1]); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// cleanup stops whatever the test left running: SIGTERM, then SIGKILL.
func (w *worker) cleanup() {
	pids := append(w.pids(), w.cmd.Process.Pid)
	for _, p := range pids {
		if restart.Alive(p) {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pids {
		for restart.Alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if restart.Alive(p) {
			w.t.Errorf("process %d still alive at cleanup, killing it", p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if w.t.Failed() {
		w.t.Logf("worker log:\n%s", w.log)
	}
}
