//go:build linux

package restart_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// binaries are built once per package run by TestMain: linking is the
// slowest part of these tests on a busy machine.
type binaries struct {
	hello    string
	grpc     string            // examples/hellogrpc
	faulty   map[string]string // by fault: exit, panic, hang, slow
	refusals string            // prints tableflip's refusals (testdata/refusals)
	zombie   string            // a process with a zombie main thread and a child (testdata/zombieleader)
}

// bins is set once by TestMain before any test runs and only read after.
var bins binaries

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdReadyEnv); dir != "" {
		os.Exit(serveHoldingReady(dir)) // this binary as a new generation
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "restart-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins.hello, err = realparts.BuildGo(ctx, dir, "hello", "github.com/debfleet/debfleet/examples/hello", "-X main.version=v1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins.grpc, err = realparts.BuildGo(ctx, dir, "hellogrpc", "github.com/debfleet/debfleet/examples/hellogrpc", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins.refusals, err = realparts.BuildGo(ctx, dir, "refusals", "github.com/debfleet/debfleet/restart/testdata/refusals", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins.zombie, err = realparts.BuildGo(ctx, dir, "zombieleader", "github.com/debfleet/debfleet/restart/testdata/zombieleader", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins.faulty = make(map[string]string)
	for _, f := range []string{"exit", "panic", "hang", "slow"} {
		bins.faulty[f], err = realparts.BuildGo(ctx, dir, "faulty-"+f, "github.com/debfleet/debfleet/restart/testdata/faulty", "-X main.fault="+f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// service is one restart-enabled service under test, installed at its own
// path (so a test can swap the binary, as dpkg does) and its own port.
type service struct {
	t       *testing.T
	dir     string
	bin     string
	addr    string
	pidFile string
	log     *realparts.SyncBuffer
	cmd     *exec.Cmd
	exited  chan error // the first process's (or supervisor's) exit
}

const (
	testDrainTimeout   = 5 * time.Second
	testUpgradeTimeout = 2 * time.Second
)

type startOptions struct {
	env    []string
	listen string   // default a free 127.0.0.1 port
	args   []string // more flags for hello
	bin    string   // default bins.hello
	// drainTimeout and upgradeTimeout default to testDrainTimeout and
	// testUpgradeTimeout.
	drainTimeout, upgradeTimeout time.Duration
}

// startService installs hello and starts it, waiting until it answers.
func startService(t *testing.T, o startOptions) *service {
	t.Helper()
	dir := t.TempDir()
	s := &service{t: t, dir: dir, bin: filepath.Join(dir, "hello"), pidFile: filepath.Join(dir, "hello.pid"), log: &realparts.SyncBuffer{}, exited: make(chan error, 1)}
	s.install(cmp.Or(o.bin, bins.hello))
	listen := o.listen
	if listen == "" {
		addr, err := realparts.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		s.addr, listen = addr, addr
	}
	s.cmd = exec.Command(s.bin, append([]string{"--listen", listen, "--pidfile", s.pidFile,
		"--drain-timeout", cmp.Or(o.drainTimeout, testDrainTimeout).String(),
		"--upgrade-timeout", cmp.Or(o.upgradeTimeout, testUpgradeTimeout).String()}, o.args...)...)
	s.cmd.Env = append(os.Environ(), o.env...)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(s.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "PID file", func() bool { _, err := restart.ReadPIDFile(s.pidFile); return err == nil }); err != nil {
		t.Fatalf("%v\n%s", err, s.log)
	}
	return s
}

// install replaces the service's binary the way a package manager does: a
// new file renamed over the old path.
func (s *service) install(src string) {
	s.t.Helper()
	in, err := os.Open(src)
	if err != nil {
		s.t.Fatal(err)
	}
	defer in.Close()
	tmp := s.bin + ".new"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		s.t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, s.bin); err != nil {
		s.t.Fatal(err)
	}
}

func (s *service) pid() int {
	s.t.Helper()
	pid, err := restart.ReadPIDFile(s.pidFile)
	if err != nil {
		s.t.Fatalf("%v\n%s", err, s.log)
	}
	return pid
}

func (s *service) signal(pid int, sig syscall.Signal) {
	s.t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		s.t.Fatalf("signal %d: %v", pid, err)
	}
}

// upgrade sends SIGHUP to target (the PID file's process if 0) and waits
// until the PID file names a new process, which it returns.
func (s *service) upgrade(target int) int {
	s.t.Helper()
	old := s.pid()
	if target == 0 {
		target = old
	}
	s.signal(target, syscall.SIGHUP)
	return s.waitNewPID(old)
}

func (s *service) waitNewPID(old int) int {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var pid int
	err := realparts.WaitFor(ctx, "a new PID", func() bool {
		p, err := restart.ReadPIDFile(s.pidFile)
		pid = p
		return err == nil && p != old
	})
	if err != nil {
		s.t.Fatalf("after SIGHUP to %d: %v\n%s", old, err, s.log)
	}
	return pid
}

// count returns how many log lines match re.
func (s *service) count(re string) int {
	return len(regexp.MustCompile(re).FindAllStringIndex(s.log.String(), -1))
}

// waitLog waits until at least n log lines match re.
func (s *service) waitLog(re string, n int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, re, func() bool { return s.count(re) >= n }); err != nil {
		s.t.Fatalf("%v\n%s", err, s.log)
	}
}

// pids returns every PID the service logged.
func (s *service) pids() []int {
	var out []int
	seen := make(map[int]bool)
	for _, m := range regexp.MustCompile(`\bpid=(\d+)`).FindAllStringSubmatch(s.log.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		if !seen[pid] {
			seen[pid] = true
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits until none of pids is alive, failing after d.
func (s *service) waitGone(pids []int, d time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := realparts.WaitFor(ctx, "processes to exit", func() bool {
		for _, p := range pids {
			if restart.Alive(p) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var alive []int
		for _, p := range pids {
			if restart.Alive(p) {
				alive = append(alive, p)
			}
		}
		s.t.Fatalf("still alive after %s: %v\n%s", d, alive, s.log)
	}
}

// cleanup stops whatever the test left running: SIGTERM, then SIGKILL.
func (s *service) cleanup() {
	pids := append(s.pids(), s.cmd.Process.Pid)
	for _, p := range pids {
		if restart.Alive(p) {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(testDrainTimeout + 2*time.Second)
	for _, p := range pids {
		for restart.Alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if restart.Alive(p) {
			s.t.Errorf("process %d still alive at cleanup, killing it", p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if s.t.Failed() {
		s.t.Logf("service log:\n%s", s.log)
	}
}

// startLoad runs realparts.Load against the service until the returned
// function is called, which returns the result.
func startLoad(s *service, keepAlive bool) func() *realparts.LoadResult {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *realparts.LoadResult, 1)
	go func() {
		done <- realparts.Load(ctx, realparts.LoadOptions{
			Addr: s.addr, Workers: 4, KeepAlive: keepAlive,
			Duration: 90 * time.Second, MaxRequests: 2_000_000,
		})
	}()
	time.Sleep(100 * time.Millisecond)
	return func() *realparts.LoadResult {
		time.Sleep(100 * time.Millisecond) // let the last generation serve too
		cancel()
		return <-done
	}
}

func checkLoad(t *testing.T, r *realparts.LoadResult, min int64) {
	t.Helper()
	t.Logf("load: %d requests, %d failures", r.Requests, r.Failures)
	if r.Failures != 0 {
		t.Errorf("%d of %d requests failed: %v", r.Failures, r.Requests, r.Errors)
	}
	if r.Requests < min {
		t.Errorf("only %d requests sent, want at least %d: the load did not run", r.Requests, min)
	}
}

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }
