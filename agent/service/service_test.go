package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/restart"
)

// The tests run a real service: this test binary in server mode (see
// TestMain), which on SIGHUP hands its listener to a new copy of itself, as
// restart/ does, and writes the new PID once it serves. Files in its
// directory steer it: "version" is what the next generation reports,
// "health" set to "fail" makes the next generation answer 503, "hup" set to
// "ignore" makes it ignore SIGHUP, set to "die" makes the next generation
// exit right after writing its PID.

func TestRestart(t *testing.T) {
	tests := []struct {
		name       string
		next       map[string]string // files written before the restart
		reloadCmd  string            // "" sends SIGHUP; {dir} is the service's directory
		noVersion  bool              // do not configure the version URL
		want       string            // the version asked for
		wantErr    error             // ErrUnhealthy, or nil
		wantErrMsg string            // a substring of the error
		// judgeNew: the failure is the new generation's, so the test
		// starts it and waits for its PID before the health wait (Wait)
		// begins; otherwise a start slower than Timeout on a busy machine
		// would fail for another reason ("still names the old process").
		judgeNew bool
	}{
		{name: "signal, healthy, new version", next: map[string]string{"version": "2.0"}, want: "2.0"},
		{name: "version without epoch and revision", next: map[string]string{"version": "2.0"}, want: "1:2.0-1"},
		{name: "reload command", next: map[string]string{"version": "2.0"}, reloadCmd: `kill -HUP "$(cat "{dir}/pid")"`, want: "2.0"},
		{name: "health only", next: map[string]string{"version": "2.0"}, noVersion: true, want: "9.9"},
		{name: "signal ignored", next: map[string]string{"version": "2.0", "hup": "ignore"}, want: "2.0",
			wantErr: ErrUnhealthy, wantErrMsg: "still names the old process"},
		{name: "new process answers 503", next: map[string]string{"version": "2.0", "health": "fail"}, want: "2.0",
			wantErr: ErrUnhealthy, wantErrMsg: "503", judgeNew: true},
		{name: "new process reports the old version", next: map[string]string{"version": "1.0"}, want: "2.0",
			wantErr: ErrUnhealthy, wantErrMsg: `answers version "1.0", want "2.0"`, judgeNew: true},
		{name: "new process dies after writing its pid", next: map[string]string{"version": "2.0", "hup": "die"}, want: "2.0",
			wantErr: ErrUnhealthy, wantErrMsg: "is not running", judgeNew: true},
		{name: "reload command fails", reloadCmd: "echo no such unit >&2; exit 3", want: "2.0",
			wantErrMsg: "no such unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := startService(t, "1.0")
			for name, content := range tt.next {
				svc.write(t, name, content)
			}
			// A healthy service ends the wait as soon as it proves so:
			// Timeout is only a bound there. A failure waits it out.
			timeout := 30 * time.Second
			if tt.wantErr != nil {
				timeout = 2 * time.Second
			}
			in := Input{
				PIDFile:   svc.pidFile(),
				ReloadCmd: strings.ReplaceAll(tt.reloadCmd, "{dir}", svc.dir),
				HealthURL: svc.url("/healthz"),
				Timeout:   timeout,
				Poll:      20 * time.Millisecond,
				Logger:    slog.New(slog.DiscardHandler),
			}
			if !tt.noVersion {
				in.VersionURL = svc.url("/version")
			}
			s, err := New(in)
			if err != nil {
				t.Fatal(err)
			}
			oldPID := svc.pid(t)
			var pid int
			if tt.judgeNew {
				if err := syscall.Kill(oldPID, syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
				svc.waitNewPID(t, oldPID)
				pid, err = s.Wait(t.Context(), oldPID, tt.want)
			} else {
				pid, err = s.Restart(t.Context(), tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Restart: err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErrMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrMsg) {
					t.Fatalf("Restart: err = %v, want it to contain %q", err, tt.wantErrMsg)
				}
				if tt.wantErr == nil && errors.Is(err, ErrUnhealthy) {
					t.Errorf("a failed reload command reported as unhealthy: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Restart: %v", err)
			}
			if pid == oldPID || pid != svc.pid(t) {
				t.Errorf("Restart = pid %d; old %d, pid file %d", pid, oldPID, svc.pid(t))
			}
		})
	}
}

// TestRestartNothingRunning: with no live service there is nothing to
// signal; Restart says so at once instead of waiting for health.
func TestRestartNothingRunning(t *testing.T) {
	dir := t.TempDir()
	// A PID that is certainly not running: a process we started and reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string // of the PID file; "-" for no file
	}{
		{"no pid file", "-"},
		{"dead pid", strconv.Itoa(cmd.Process.Pid) + "\n"},
		{"garbage", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(dir, tt.name)
			if tt.content != "-" {
				if err := os.WriteFile(pidFile, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := New(Input{PIDFile: pidFile, Timeout: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := s.Restart(t.Context(), "1.0"); !errors.Is(err, ErrNotRunning) {
				t.Fatalf("Restart: %v, want ErrNotRunning", err)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("took %s", el)
			}
		})
	}
}

// TestReloadCmdGetsNoCredentials: the reload command runs without the
// agent's credentials (in its environment, from
// /etc/autoupdate/credentials), and what it prints of them anyway (reading
// the file) is redacted from the error that reaches the agent's status
// object, failure records and log.
func TestReloadCmdGetsNoCredentials(t *testing.T) {
	secrets := testenv.FakeCredentials(t)
	t.Setenv("AWS_REGION", "eu-west-3")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(secrets.File()), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Input{
		ReloadCmd: fmt.Sprintf(`env > %[1]s/reload.env; cat %[1]s/credentials >&2; exit 3`, dir),
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Restart(t.Context(), "2.0")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Restart: %v, want the reload command's failure", err)
	}
	if env := secrets.CheckEnvDump(t, filepath.Join(dir, "reload.env"), "the reload command"); !strings.Contains(env, "PATH=") {
		t.Errorf("the reload command's environment lacks PATH:\n%s", env)
	}
	if leaks := secrets.Leaks(err.Error()); len(leaks) > 0 {
		t.Errorf("the error carries %v:\n%v", leaks, err)
	}
	if !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY=[redacted]") {
		t.Errorf("the error does not show the redacted line the command printed:\n%v", err)
	}
}

func TestRestartHonoursContext(t *testing.T) {
	svc := startService(t, "1.0")
	svc.write(t, "hup", "ignore")
	s, err := New(Input{PIDFile: svc.pidFile(), Timeout: time.Hour, Splay: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Restart(ctx, "1.0"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Restart: %v, want the context's deadline", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("returned after %s", el)
	}
}

// TestWaitSaysWhyItStopped: only Wait's own timeout means unhealthy; a
// caller's context ending first (the agent stopping) is reported as such,
// and every error gives the time really waited, not the configured timeout.
func TestWaitSaysWhyItStopped(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		caller  string // how the caller's context ends: "cancel" once a check has answered, "deadline", or "" (never)
		wantErr error
		wantMsg string
	}{
		{name: "agent stopping", timeout: time.Hour, caller: "cancel", wantErr: context.Canceled, wantMsg: "health check cancelled after "},
		{name: "caller's deadline", timeout: time.Hour, caller: "deadline", wantErr: context.DeadlineExceeded, wantMsg: "by the caller's deadline"},
		{name: "timed out", timeout: 300 * time.Millisecond, wantErr: ErrUnhealthy, wantMsg: "service not healthy: timed out after "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The second request proves the first one's answer arrived:
			// Wait checks one at a time.
			checked := make(chan struct{})
			var requests atomic.Int32
			health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1) == 2 {
					close(checked)
				}
				http.Error(w, "starting", http.StatusServiceUnavailable)
			}))
			defer health.Close()
			s, err := New(Input{ReloadCmd: "true", HealthURL: health.URL, Timeout: tt.timeout, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			switch tt.caller {
			case "cancel":
				go func() {
					<-checked
					cancel()
				}()
			case "deadline":
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			}
			start := time.Now()
			_, err = s.Wait(ctx, 0, "2.0")
			elapsed := time.Since(start)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Wait: %v, want it to wrap %v", err, tt.wantErr)
			}
			if tt.wantErr != ErrUnhealthy && errors.Is(err, ErrUnhealthy) {
				t.Errorf("Wait: %v: a wait cut short reported as unhealthy", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) || !strings.Contains(msg, "503") {
				t.Errorf("Wait: %q, want it to contain %q and the last check (503)", msg, tt.wantMsg)
			}
			m := regexp.MustCompile(`after ([0-9.]+[µa-z]+)`).FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("Wait: %q names no duration", msg)
			}
			said, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			// Rounded to the millisecond, so within 1ms of the truth.
			if said > elapsed+time.Millisecond || said >= time.Hour {
				t.Errorf("Wait says %s; it returned after %s", said, elapsed)
			}
			if tt.wantErr == ErrUnhealthy && said < tt.timeout {
				t.Errorf("Wait says it timed out after %s, before its %s timeout", said, tt.timeout)
			}
		})
	}
}

func TestSplay(t *testing.T) {
	const splay = 10 * time.Second
	s, err := New(Input{ReloadCmd: "true", Splay: splay, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	want := rand.New(rand.NewPCG(1, 2))
	seen := map[time.Duration]bool{}
	for range 100 {
		got := s.splay()
		if got < 0 || got >= splay {
			t.Fatalf("splay %s outside [0, %s)", got, splay)
		}
		if w := time.Duration(want.Int64N(int64(splay))); got != w {
			t.Fatalf("splay %s, want %s from the injected source", got, w)
		}
		seen[got/time.Second] = true
	}
	if len(seen) < 8 {
		t.Errorf("splay not spread: %d distinct seconds in 100 draws", len(seen))
	}
	if s, _ := New(Input{ReloadCmd: "true"}); s.splay() != 0 {
		t.Error("zero Splay delays")
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"nothing to restart", Input{HealthURL: "http://127.0.0.1:1/"}},
		{"negative splay", Input{ReloadCmd: "true", Splay: -time.Second}},
	}
	for _, tt := range tests {
		if _, err := New(tt.in); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}

func TestVersionMatches(t *testing.T) {
	tests := []struct {
		body, version string
		want          bool
	}{
		{"2.0\n", "2.0", true},
		{"  2.0-1 ", "2.0-1", true},
		{"2.0-1", "1:2.0-1", true},
		{"2.0", "1:2.0-1", true},
		{"2.0", "2.0-1", true},
		{"2.0.1", "2.0-1", false},
		{"2.0-1", "2.0", false},
		{"1:2.0", "2.0", false},
		{"", "2.0", false},
		{"2.0", "", false},
		{"hello 2.0", "2.0", false},
		{"1.2.3-rc1", "1.2.3-rc1-2", true},
	}
	for _, tt := range tests {
		if got := VersionMatches(tt.body, tt.version); got != tt.want {
			t.Errorf("VersionMatches(%q, %q) = %v, want %v", tt.body, tt.version, got, tt.want)
		}
	}
}

// testService is a running server-mode copy of this test binary.
type testService struct {
	dir  string
	addr string
}

func startService(t *testing.T, version string) *testService {
	return startServiceIn(t, t.TempDir(), version)
}

func startServiceIn(t *testing.T, dir, version string) *testService {
	s := &testService{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte(version), 0o644); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s.addr = ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SVC_TEST_DIR="+dir)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	f.Close()
	go cmd.Wait() // reap the first generation; later ones are orphans
	t.Cleanup(func() {
		// Stop whichever generation is current, and the first one.
		if pid, err := restart.ReadPIDFile(s.pidFile()); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid, err := restart.ReadPIDFile(s.pidFile()); err == nil && pid == cmd.Process.Pid {
			return s
		}
		if time.Now().After(deadline) {
			panic("test service did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNewPID waits until the PID file names a process other than old.
func (s *testService) waitNewPID(t *testing.T, old int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid, err := restart.ReadPIDFile(s.pidFile()); err == nil && pid != old {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new generation within 30s of SIGHUP to %d", old)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *testService) pidFile() string        { return filepath.Join(s.dir, "pid") }
func (s *testService) url(path string) string { return "http://" + s.addr + path }

func (s *testService) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *testService) pid(t *testing.T) int {
	t.Helper()
	pid, err := restart.ReadPIDFile(s.pidFile())
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("SVC_TEST_DIR"); dir != "" {
		serve(dir)
		return
	}
	os.Exit(m.Run())
}

// serve is the test service: one generation serving the listener on fd 3.
func serve(dir string) {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	version, health, hup := read("version"), read("health"), read("hup")
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "test service:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if health == "fail" {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, version) })
	go http.Serve(ln, mux)

	// Before the PID file names this process: a SIGHUP sent as soon as
	// it does must find the handler, not the default action (exit).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM)
	pidFile := filepath.Join(dir, "pid")
	tmp := pidFile + ".tmp"
	os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	os.Rename(tmp, pidFile)
	if hup == "die" {
		// Not os.Exit: under -race it lingers a second (GORACE
		// atexit_sleep_ms), still serving, which is not what a crash does.
		syscall.Exit(1)
	}

	for s := range sig {
		if s == syscall.SIGTERM {
			os.Exit(0)
		}
		if read("hup") == "ignore" {
			continue
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			continue
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = os.Environ()
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			continue
		}
		// Hand over once the new generation has written its PID (or died).
		for range 500 {
			if pid, err := restart.ReadPIDFile(pidFile); err == nil && pid == cmd.Process.Pid {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		os.Exit(0)
	}
}
