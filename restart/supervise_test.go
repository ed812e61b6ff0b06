//go:build linux

package restart_test

import (
	"errors"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// upstartJob behaves like upstart with "respawn" for one job: it tracks
// the one PID it started, notices when that PID exits, and starts the job
// again unless it is stopping. "stop" sends SIGTERM to that PID.
type upstartJob struct {
	mu       sync.Mutex
	exits    []error // every exit of a tracked PID, in order
	stopping bool
	respawn  func() *exec.Cmd
	current  *exec.Cmd
	stopped  chan error // receives the exit seen while stopping
}

func (j *upstartJob) watch(cmd *exec.Cmd) {
	err := cmd.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.exits = append(j.exits, err)
	if j.stopping {
		j.stopped <- err
		return
	}
	j.current = j.respawn()
	go j.watch(j.current)
}

func (j *upstartJob) pid() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.current.Process.Pid
}

func (j *upstartJob) exitCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.exits)
}

func (j *upstartJob) stop() {
	j.mu.Lock()
	if j.stopping {
		j.mu.Unlock()
		return
	}
	j.stopping = true
	pid := j.current.Process.Pid
	j.mu.Unlock()
	_ = syscall.Kill(pid, syscall.SIGTERM)
}

// TestSupervisorUnderUpstart runs hello in its stable-PID supervisor mode
// under an upstart-like job: reloads (SIGHUP to the one PID the job knows)
// upgrade the service under load without the job ever seeing an exit; a
// crash of the service ends the supervisor, so the job respawns it; stop
// ends every generation within the drain timeout.
func TestSupervisorUnderUpstart(t *testing.T) {
	s := startService(t, startOptions{env: []string{restart.SuperviseEnv + "=1"}})
	j := &upstartJob{current: s.cmd, stopped: make(chan error, 1)}
	j.respawn = func() *exec.Cmd {
		cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = s.cmd.Env, s.log, s.log
		if err := cmd.Start(); err != nil {
			t.Errorf("respawn: %v", err)
		}
		return cmd
	}
	// startService's own watcher stands in for the job's first watch.
	go func() {
		err := <-s.exited
		j.mu.Lock()
		j.exits = append(j.exits, err)
		stopping := j.stopping
		if !stopping {
			j.current = j.respawn()
			go j.watch(j.current)
		}
		j.mu.Unlock()
		if stopping {
			j.stopped <- err
		}
	}()

	t.Cleanup(j.stop) // runs before startService's cleanup: no respawn after the test
	supervisor := j.pid()
	if p := s.pid(); p == supervisor {
		t.Fatalf("the PID file names the supervisor %d, want the service", p)
	}
	stopLoad := startLoad(s, true)
	pids := []int{s.pid()}
	for range upgrades {
		pids = append(pids, s.upgrade(supervisor)) // reload: SIGHUP to the job's PID
		time.Sleep(100 * time.Millisecond)
	}
	checkLoad(t, stopLoad(), 200)
	if n := j.exitCount(); n != 0 {
		t.Fatalf("the job saw %d exits during upgrades: %v", n, j.exits)
	}
	if p := j.pid(); p != supervisor {
		t.Fatalf("job PID changed from %d to %d", supervisor, p)
	}

	// The service crashes for good: the supervisor exits with its status
	// (128+SIGKILL) and the job respawns a working service.
	killed := s.pid()
	s.signal(killed, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	for j.exitCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	j.mu.Lock()
	exits := slices.Clone(j.exits)
	j.mu.Unlock()
	var ee *exec.ExitError
	if len(exits) != 1 || !errors.As(exits[0], &ee) || ee.ExitCode() != 128+int(syscall.SIGKILL) {
		t.Fatalf("after the service was killed the job saw %v, want one exit with status %d", exits, 128+int(syscall.SIGKILL))
	}
	supervisor = j.pid()
	pids = append(pids, s.waitNewPID(killed)) // the respawned service is up
	pids = append(pids, s.upgrade(supervisor))

	start := time.Now()
	j.stop()
	select {
	case err := <-j.stopped:
		if err != nil {
			t.Errorf("supervisor exited with %v after stop, want status 0", err)
		}
	case <-time.After(testDrainTimeout + 5*time.Second):
		t.Fatal("supervisor did not exit after SIGTERM")
	}
	if d := time.Since(start); d > testDrainTimeout {
		t.Errorf("stop took %s, more than the drain timeout %s", d, testDrainTimeout)
	}
	s.waitGone(append(pids, supervisor), time.Second)
	if n := s.count(`msg=ready`); n != len(pids) {
		t.Errorf("%d generations became ready, want %d: a second copy started?", n, len(pids))
	}
}
