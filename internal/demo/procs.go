package demo

import (
	"syscall"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// Stop sends SIGTERM to pid, waits up to grace for it to end, then sends
// SIGKILL. It reports whether SIGKILL was needed. A zombie counts as
// ended; callers that are its parent reap it (Reap).
func Stop(pid int, grace time.Duration) (killed bool) {
	if pid <= 0 || !restart.Alive(pid) {
		return false
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !restart.Alive(pid) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for range 100 {
		if !restart.Alive(pid) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Reap collects every exited child of the calling process that nobody
// waits for (adopted orphans), without blocking.
func Reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
