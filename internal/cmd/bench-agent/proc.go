package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// agentProc is one running autoupdate process with its own state
// directory, dpkg sandbox root and log.
type agentProc struct {
	host string
	root string // dpkg sandbox root
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startAgent starts bin with args; its output goes to logPath.
func startAgent(bin, host, root, logPath string, args, env []string) (*agentProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so a Ctrl-C reaches the driver only, which
	// stops the agents in order; Pdeathsig kills the agent should the
	// driver itself be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent %s: %w", host, err)
	}
	a := &agentProc{host: host, root: root, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(a.done)
	}()
	return a, nil
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

func (a *agentProc) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and, after grace, SIGKILL; it returns once the
// process is gone.
func (a *agentProc) stop(grace time.Duration) {
	if a.exited() {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(grace):
		a.cmd.Process.Kill()
		<-a.done
	}
}

// cpuTimes is a process's CPU use.
type cpuTimes struct {
	// self is the time on CPU from /proc/PID/schedstat, in nanoseconds:
	// utime+stime come in 10 ms ticks, too coarse for an agent that
	// wakes for a millisecond every 10 s.
	self time.Duration
	// ticks is utime + stime from /proc/PID/stat, all threads, 10 ms
	// resolution.
	ticks time.Duration
	// children is cutime + cstime from /proc/PID/stat: the waited-for
	// children (dpkg and its scripts), in ticks.
	children time.Duration
}

// readCPU reads the CPU time of pid and of its waited-for children.
func readCPU(pid int) (cpuTimes, error) {
	st, err := restart.ReadProcStat(pid)
	if err != nil {
		return cpuTimes{}, err
	}
	ns, err := threadsOnCPU(pid)
	if err != nil {
		return cpuTimes{}, err
	}
	return cpuTimes{self: ns, ticks: st.UserTime + st.SystemTime, children: st.ChildUserTime + st.ChildSystemTime}, nil
}

// threadsOnCPU sums /proc/PID/task/*/schedstat: the process's own
// schedstat counts its main thread only, and a Go program works on
// others. A thread that has exited drops out of the sum; Go parks its
// threads rather than ending them, and ticks keeps the exact total in
// 10 ms units as a cross-check.
func threadsOnCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("list threads of %d: %v", pid, err)
	}
	var sum time.Duration
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended while we looked
		}
		if err != nil {
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.Fields(string(b) + " x")[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", p, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// memory is a process's resident set from /proc/PID/status, in bytes.
type memory struct {
	rss, peak int64 // VmRSS, VmHWM
	// anon is RssAnon, the part of VmRSS that is the process's own: the
	// rest is the binary's pages, which every agent shares, so anon is
	// what one more agent costs the machine.
	anon int64
}

func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	fields := map[string]*int64{"VmRSS": &m.rss, "VmHWM": &m.peak, "RssAnon": &m.anon}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		field := fields[k]
		if !ok || field == nil {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("parse /proc/%d/status %s: %w", pid, k, err)
		}
		*field = kb * 1024
	}
	if m.peak == 0 {
		return memory{}, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
	}
	return m, nil
}

// installedVersion returns the version of pkg that dpkg in root records as
// installed, or "" when none is.
func installedVersion(root, pkg string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for stanza := range strings.SplitSeq(string(b), "\n\n") {
		var name, version, status string
		for line := range strings.SplitSeq(stanza, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "Package":
				name = v
			case "Version":
				version = v
			case "Status":
				status = v
			}
		}
		if name == pkg && status == "install ok installed" {
			return version, nil
		}
	}
	return "", nil
}

// pidFile appends the PIDs the driver starts to a file, so that the
// calling script can kill what is left should the driver die by SIGKILL.
type pidFile struct{ path string }

func (p pidFile) add(pid int) error {
	if p.path == "" {
		return nil
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, pid)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// dpkgRoot makes an empty dpkg sandbox root under dir.
func dpkgRoot(dir string) (string, error) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		return "", fmt.Errorf("cannot run: dpkg not installed: %w", err)
	}
	root, err := os.MkdirTemp(dir, "root-")
	if err != nil {
		return "", fmt.Errorf("make dpkg root: %w", err)
	}
	return root, realparts.MakeDpkgRoot(root)
}

// agentDeb builds the benchmark's tiny package (one shell script) in dir.
func agentDeb(ctx context.Context, dir, pkg, version string) (string, error) {
	return realparts.BuildAgentDeb(ctx, dir, realparts.AgentDeb{Package: pkg, Version: version})
}
