package restart

import "time"

// This file and proc_linux.go hold the process helpers that the rest of the
// module shares with restart: the agent, the demo, the benchmarks and the
// tests read PID files, ask whether a process runs and walk a process tree
// through them, so that there is one /proc parser and one answer to "is it
// alive?". They live here because services import restart, which must not
// import the module's other packages; the others may import restart.

// ProcStat is the part of /proc/PID/stat (proc(5)) that this module reads.
type ProcStat struct {
	// State is the one-letter process state: R, S, D, Z (zombie), T, ...
	State byte
	// PPID is the parent's PID.
	PPID int
	// UserTime and SystemTime are the CPU time of all the process's
	// threads, in the 10 ms resolution of clock ticks.
	UserTime, SystemTime time.Duration
	// ChildUserTime and ChildSystemTime are the CPU time of the children
	// the process has waited for.
	ChildUserTime, ChildSystemTime time.Duration
	// StartTime is when the process started, in clock ticks since boot:
	// comparable between processes, not a wall-clock time.
	StartTime uint64
}

// Exited reports whether the process has exited and waits to be reaped:
// a zombie (Z), or one its parent is reaping at this moment (X, dead).
func (s ProcStat) Exited() bool { return s.State == 'Z' || s.State == 'X' }

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100
