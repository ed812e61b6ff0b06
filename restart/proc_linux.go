package restart

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// BecomeSubreaper makes the calling process adopt its orphaned descendants
// (prctl PR_SET_CHILD_SUBREAPER): a service generation started by the one
// it replaces stays below the caller after the old one exits, so the caller
// can still find it (Descendants), signal it and reap it. On systems other
// than Linux it returns an error wrapping errors.ErrUnsupported.
func BecomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("become child subreaper: prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}

// Alive reports whether pid names a running process: one that exists and
// has not exited. An exited process is a zombie until its parent reaps it,
// and kill(pid, 0) still succeeds on it (a service that crashed right after
// writing its PID file), and then for a moment "dead" (X) while it is being
// reaped. A process owned by another user counts.
//
// When /proc cannot be read (not mounted, or mounted with hidepid), Alive
// falls back on kill(2) alone: a process that exists counts as alive, even
// though it might be a zombie. That is the safe side for every caller: the
// agent then signals a PID file's process and waits for the new one's
// health checks, which catch a dead service; answering "dead" instead would
// make it refuse to restart, or fail the health check of, every service
// on such a host and roll back good releases.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	st, err := ReadProcStat(pid)
	switch {
	case err == nil:
		return !st.Exited()
	case errors.Is(err, fs.ErrNotExist) && procMounted():
		return false // it exited and was reaped since kill
	case errors.Is(syscall.Kill(pid, 0), syscall.ESRCH):
		// Reaped while its /proc entry was being read: the read then
		// fails with something other than "not exist", or finds nothing.
		return false
	default:
		return true // /proc cannot tell: trust kill
	}
}

// procMounted reports whether this process can read its own /proc entry.
func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// ReadProcStat reads /proc/PID/stat. An error wraps the one from reading
// the file, so errors.Is(err, fs.ErrNotExist) tells a process that is
// gone (or a system without /proc). On systems other than Linux it returns
// an error wrapping errors.ErrUnsupported.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, fmt.Errorf("read process %d status: %w", pid, err)
	}
	return parseProcStat(pid, b)
}

// parseProcStat parses the contents b of /proc/PID/stat.
func parseProcStat(pid int, b []byte) (ProcStat, error) {
	// The command name (field 2) is in parentheses and may itself hold
	// spaces and parentheses: the fields after it start past the last ')',
	// at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	// f[k] is field k+3 of proc(5): ppid is 4, utime..cstime 14..17,
	// starttime 22.
	var n [5]uint64
	for k, field := range []int{4, 14, 15, 16, 17} {
		v, err := strconv.ParseUint(f[field-3], 10, 64)
		if err != nil {
			return ProcStat{}, fmt.Errorf("parse /proc/%d/stat field %d: %w", pid, field, err)
		}
		n[k] = v
	}
	start, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat field 22: %w", pid, err)
	}
	tick := func(v uint64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
	return ProcStat{
		State: f[0][0], PPID: int(n[0]),
		UserTime: tick(n[1]), SystemTime: tick(n[2]),
		ChildUserTime: tick(n[3]), ChildSystemTime: tick(n[4]),
		StartTime: start,
	}, nil
}

// Descendants lists the live (not zombie) processes below pid, from /proc,
// parents before their children: the order in which to stop a tree so that
// nothing respawns. Processes that exit during the walk may be missing or
// listed; without /proc the list is empty.
//
// A zombie is left out of the list but not out of the walk: while a
// multi-threaded process (every Go program) exits, its main thread is a
// zombie before its other threads are gone, and its children stay its
// children until the last thread has exited. Skipping such a generation
// would hide the new generation it started, which then misses upgrade and
// stop signals.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]int)
	zombie := make(map[int]bool)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := ReadProcStat(p)
		if err != nil {
			continue // gone
		}
		children[st.PPID] = append(children[st.PPID], p)
		zombie[p] = st.Exited()
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !zombie[c] {
				out = append(out, c)
			}
		}
		queue = append(queue, children[p]...)
	}
	return out
}
