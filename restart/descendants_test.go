//go:build linux

package restart_test

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// TestDescendantsThroughExitingProcess: a generation that is exiting has a
// zombie main thread while its other threads tear down, and the generation
// it started is still its child. The supervisor must still find that child
// (it once did not, and dropped the upgrade signal meant for it).
func TestDescendantsThroughExitingProcess(t *testing.T) {
	cmd := exec.Command(bins.zombie)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	child, perr := strconv.Atoi(strings.TrimSpace(line))
	t.Cleanup(func() {
		if perr == nil {
			syscall.Kill(child, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	if err != nil || perr != nil {
		t.Fatalf("zombieleader printed %q: %v %v", line, err, perr)
	}
	waitState(t, cmd.Process.Pid, "Z")

	pids := restart.Descendants(os.Getpid())
	if !slices.Contains(pids, child) {
		t.Errorf("descendants %v miss %d, the child of the exiting process %d", pids, child, cmd.Process.Pid)
	}
	if slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("descendants %v include %d, whose main thread has exited", pids, cmd.Process.Pid)
	}
}

// waitState waits until /proc/PID/stat shows state.
func waitState(t *testing.T, pid int, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 0 && f[0] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d: state %v, want %s after 10s", pid, f[:1], state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
