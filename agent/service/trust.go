package service

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/debfleet/debfleet/restart"
)

// ErrNotService is returned (wrapped) by Restart and Wait when the PID file
// cannot be trusted: it is not a plain PID file (it wraps
// restart.ErrNotPIDFile too), or it names a live process that is not the
// service's by the rules in the package documentation. Nothing was
// signalled. It does not heal by waiting: the PID file's writer, or the
// configuration, is wrong.
var ErrNotService = errors.New("untrusted PID file")

// process is what the agent knows of the process a PID file names when it
// decides whether to trust it.
type process struct {
	PID int
	// FileOwner is the user ID that owns the PID file: who wrote it. -1
	// when unknown.
	FileOwner int
	// UIDs are the process's real and saved user IDs (those kill(2)
	// compares with the sender's); nil when /proc cannot tell.
	UIDs []int
	// Cgroup is the process's cgroup in systemd's hierarchy, e.g.
	// /system.slice/hello.service; "" when /proc cannot tell.
	Cgroup string
}

// trust is what a process named by the PID file must match to be the
// service's.
type trust struct {
	// Self is the agent's PID and Ancestors those of its parent, its
	// parent's parent, ... up to PID 1 (the agent's supervisors).
	Self      int
	Ancestors []int
	// Unit, when set, is the systemd unit the service runs in.
	Unit string
	// Cgroup, when Unit is not set, is the cgroup of the first process
	// trusted; "" until then.
	Cgroup string
}

// check returns why p is not the service's, wrapping ErrNotService, or nil.
func (tr trust) check(p process) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: pid %d %s", ErrNotService, p.PID, fmt.Sprintf(format, a...))
	}
	switch {
	case p.PID <= 1:
		return refuse("is init or not a process")
	case p.PID == tr.Self:
		return refuse("is the agent itself")
	case slices.Contains(tr.Ancestors, p.PID):
		return refuse("is an ancestor of the agent")
	}
	// Whoever wrote the file must have been able to send the signal
	// itself: the agent lends no privilege. Root could anyway.
	if p.FileOwner != 0 {
		switch {
		case p.FileOwner < 0:
			return refuse("is named by a PID file whose owner is unknown")
		case p.UIDs == nil:
			return refuse("runs as a user /proc does not show; only a root-owned PID file is trusted without it")
		case !slices.Contains(p.UIDs, p.FileOwner):
			return refuse("runs as uid %d, but the PID file belongs to uid %d, who could not signal it", p.UIDs[0], p.FileOwner)
		}
	}
	switch {
	case tr.Unit != "" && !inUnit(p.Cgroup, tr.Unit):
		return refuse("runs in cgroup %q, not in unit %s", p.Cgroup, tr.Unit)
	case tr.Unit == "" && tr.Cgroup != "" && p.Cgroup != tr.Cgroup:
		return refuse("runs in cgroup %q, the service in %q", p.Cgroup, tr.Cgroup)
	}
	return nil
}

// inUnit reports whether cgroup, a path in systemd's hierarchy, is unit's
// or below it: systemd places a unit's processes in
// /<slice>/.../<unit>[/<sub-cgroup>...], so the first component that is
// not a slice must be the unit. A unit of the same name under a user's
// manager (/user.slice/user-1000.slice/user@1000.service/...) is not it.
func inUnit(cgroup, unit string) bool {
	for _, c := range strings.Split(strings.Trim(cgroup, "/"), "/") {
		if !strings.HasSuffix(c, ".slice") {
			return c == unit
		}
	}
	return false
}

// CheckUnit returns an error unless unit is a systemd service or scope name
// as Input.Unit takes it, e.g. "hello.service".
func CheckUnit(unit string) error {
	name, ok := strings.CutSuffix(unit, ".service")
	if !ok {
		name, ok = strings.CutSuffix(unit, ".scope")
	}
	if !ok || name == "" || strings.ContainsAny(unit, "/ \t\n") {
		return fmt.Errorf("unit %q: want a systemd service or scope name such as hello.service", unit)
	}
	return nil
}

// inspect gathers what /proc says of pid, named by a PID file owned by
// owner. What /proc cannot tell stays unknown; check decides.
func inspect(pid, owner int) process {
	p := process{PID: pid, FileOwner: owner}
	if b, err := readProc(pid, "status"); err == nil {
		p.UIDs = parseUIDs(b)
	}
	if b, err := readProc(pid, "cgroup"); err == nil {
		p.Cgroup = systemdCgroup(b)
	}
	return p
}

// readProc reads /proc/PID/name, at most 64 KiB.
func readProc(pid int, name string) ([]byte, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

// parseUIDs returns the real and saved user IDs from /proc/PID/status
// ("Uid:\treal\teffective\tsaved\tfilesystem"), or nil.
func parseUIDs(status []byte) []int {
	sc := bufio.NewScanner(strings.NewReader(string(status)))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Uid:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 3 {
			return nil
		}
		real, err1 := strconv.Atoi(f[0])
		saved, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil
		}
		return []int{real, saved}
	}
	return nil
}

// systemdCgroup returns the path of the cgroup systemd tracks a process by,
// from /proc/PID/cgroup (cgroups(7)): the name=systemd hierarchy's on
// legacy and hybrid systems, else the unified hierarchy's ("0::"); "" if
// neither is there.
func systemdCgroup(b []byte) string {
	unified := ""
	for _, line := range strings.Split(string(b), "\n") {
		id, rest, _ := strings.Cut(line, ":")
		controllers, path, ok := strings.Cut(rest, ":")
		switch {
		case !ok:
		case controllers == "name=systemd":
			return path
		case id == "0" && controllers == "":
			unified = path
		}
	}
	return unified
}

// ancestors returns the PIDs of pid's parent, its parent's parent, ... as
// far as /proc tells, PID 1 and 0 excluded.
func ancestors(pid int) []int {
	var out []int
	for range 4096 { // a bound, should /proc ever show a loop
		st, err := restart.ReadProcStat(pid)
		if err != nil || st.PPID <= 1 {
			return out
		}
		pid = st.PPID
		out = append(out, pid)
	}
	return out
}
