//go:build !linux

package restart

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// BecomeSubreaper needs prctl PR_SET_CHILD_SUBREAPER, which only Linux
// has.
func BecomeSubreaper() error {
	return fmt.Errorf("become child subreaper on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Alive reports whether pid names a process that exists. Without /proc it
// cannot tell a zombie from a running process, and counts both as alive,
// as the Linux version does when /proc cannot be read. On Windows, where
// there is no signal 0, a process that can be opened counts.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return true
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ReadProcStat needs /proc/PID/stat, which only Linux has.
func ReadProcStat(pid int) (ProcStat, error) {
	return ProcStat{}, fmt.Errorf("read process %d status on %s: %w", pid, runtime.GOOS, errors.ErrUnsupported)
}

// Descendants needs /proc; elsewhere the list is empty.
func Descendants(int) []int { return nil }
