package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// TestSupervise runs hello (which does not supervise itself here) under
// "autoupdate supervise", the way an upstart job would: reloads sent to the
// supervisor's PID upgrade the service under load with no failed request
// while the supervisor's PID stays; stop ends every process of the service
// within its drain timeout, with status 0.
func TestSupervise(t *testing.T) {
	dir := t.TempDir()
	au, err := realparts.BuildGo(t.Context(), dir, "autoupdate", ".", "")
	if err != nil {
		t.Fatal(err)
	}
	hello, err := realparts.BuildGo(t.Context(), dir, "hello", "../../examples/hello", "")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := realparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "hello.pid")
	cmd := exec.Command(au, "supervise", "--pidfile", pidFile, "--stop-timeout", "10s", "--",
		hello, "--listen", addr, "--pidfile", pidFile, "--drain-timeout", "2s")
	var logs realparts.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	supervisor := cmd.Process.Pid
	t.Cleanup(func() {
		for _, pid := range append(restart.Descendants(supervisor), supervisor) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := realparts.WaitHTTP(ctx, "http://"+addr+"/"); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	readPID := func() int {
		b, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	if pid := readPID(); pid == 0 || pid == supervisor {
		t.Fatalf("PID file names %d, want the service, not the supervisor %d", pid, supervisor)
	}

	load := make(chan *realparts.LoadResult, 1)
	go func() {
		load <- realparts.Load(ctx, realparts.LoadOptions{Addr: addr, Workers: 8, KeepAlive: true, Duration: 4 * time.Second})
	}()
	pids := []int{readPID()}
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		old := pids[len(pids)-1]
		if err := syscall.Kill(supervisor, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if err := realparts.WaitFor(ctx, "a new generation", func() bool { p := readPID(); return p != 0 && p != old }); err != nil {
			t.Fatalf("%v\n%s", err, logs.String())
		}
		pids = append(pids, readPID())
	}
	res := <-load
	if res.Requests < 100 || res.Failures != 0 {
		t.Errorf("load across 3 upgrades: %d requests, %d failed (%v)", res.Requests, res.Failures, res.Errors)
	}
	select {
	case err := <-exited:
		t.Fatalf("supervisor exited during upgrades: %v\n%s", err, logs.String())
	default:
	}

	start := time.Now()
	if err := syscall.Kill(supervisor, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("supervisor exited with %v after SIGTERM, want status 0\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("supervisor still running 15s after SIGTERM\n%s", logs.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %s, want about the 2 s drain timeout", d)
	}
	for _, pid := range pids {
		if restart.Alive(pid) {
			t.Errorf("generation %d still alive after stop", pid)
		}
	}

	// The supervisor exits with the service's status, and the flags after
	// PROGRAM are PROGRAM's.
	err = exec.Command(au, "supervise", "sh", "-c", "exit 7", "--pidfile", "x").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("supervise sh -c 'exit 7' --pidfile x: %v, want exit status 7", err)
	}
}

// Usage errors, checked in-process: none of these cases gets as far as
// Supervise, which would make the test binary a subreaper of its children.
func TestSuperviseUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "no PROGRAM to supervise"},
		{[]string{"--stop-timeout", "0s", "true"}, 2, "--stop-timeout must be positive"},
		{[]string{"--bogus", "true"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--help"}, 0, "Run PROGRAM as the child of a process whose PID never changes"},
		{[]string{"/nonexistent/program"}, 1, "supervise /nonexistent/program"},
	} {
		var stderr bytes.Buffer
		code := run(t.Context(), append([]string{"supervise"}, tt.args...), &bytes.Buffer{}, &stderr, func(string) string { return "" })
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("supervise %q: status %d, %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}
