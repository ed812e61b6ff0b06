package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// secret stands for the content of a file only root may read: no error
// about a PID file that leads to it may carry it.
const secret = "s3cr3t-d0-n0t-l34k"

// pidFileMaker makes a PID file at path; victim is a live process that is
// not the service's.
type pidFileMaker struct {
	name string
	make func(t *testing.T, path string, victim int) error
}

// hostileFiles are PID files the service's user can make in its own
// directory.
func hostileFiles() []pidFileMaker {
	// write writes a file only root may read (when the test runs as root).
	write := func(t *testing.T, name, content string) string {
		private := filepath.Join(t.TempDir(), "root-only")
		if err := os.Mkdir(private, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(private, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v := func(victim int) string { return strconv.Itoa(victim) + "\n" }
	return []pidFileMaker{
		{"symlink to a root-only file", func(t *testing.T, p string, _ int) error { return os.Symlink(write(t, "token", secret), p) }},
		{"symlink to another PID file", func(t *testing.T, p string, victim int) error {
			return os.Symlink(write(t, "other.pid", v(victim)), p)
		}},
		{"hard link to another PID file", func(t *testing.T, p string, victim int) error {
			return os.Link(write(t, "linked.pid", v(victim)), p)
		}},
		{"fifo", func(t *testing.T, p string, _ int) error { return syscall.Mkfifo(p, 0o644) }},
		{"directory", func(t *testing.T, p string, _ int) error { return os.Mkdir(p, 0o755) }},
		{"socket", func(t *testing.T, p string, _ int) error {
			ln, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { ln.Close() })
			}
			return err
		}},
		{"huge", func(t *testing.T, p string, victim int) error {
			return os.WriteFile(p, []byte(v(victim)+strings.Repeat(" ", 1<<20)), 0o644)
		}},
	}
}

// TestRestartRefusesHostilePIDFile: the agent, as root, neither follows,
// blocks on, reads without bound nor echoes a PID file the service's user
// has made hostile, and signals nothing: Restart fails at once with
// ErrNotService.
func TestRestartRefusesHostilePIDFile(t *testing.T) {
	for _, tt := range hostileFiles() {
		t.Run(tt.name, func(t *testing.T) {
			victim := startVictim(t)
			pidFile := filepath.Join(t.TempDir(), "hello.pid")
			if err := tt.make(t, pidFile, victim.Process.Pid); err != nil {
				t.Fatal(err)
			}
			s, err := New(Input{PIDFile: pidFile, Timeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = restartWithin(t, s, pidFile, 10*time.Second)
			t.Logf("Restart: %v", err)
			if !errors.Is(err, ErrNotService) {
				t.Errorf("Restart: %v, want ErrNotService", err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Restart: the error carries the file's content: %v", err)
			}
			if !restart.Alive(victim.Process.Pid) {
				t.Fatal("the victim process was signalled")
			}
		})
	}
}

// TestWaitRefusesHostilePIDFile: the new PID that proves a restart comes
// from the same PID file and is held to the same rules. A hostile file or a
// PID that is not the service's fails the wait at once (a FIFO must not
// block it past its timeout); a PID file that is merely garbage fails it
// without its content.
func TestWaitRefusesHostilePIDFile(t *testing.T) {
	// SIGHUP would end this test binary: catch it, in case a PID below
	// names it and is signalled.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	defer health.Close()
	files := append(hostileFiles(),
		pidFileMaker{"the agent itself", func(t *testing.T, p string, _ int) error {
			return os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o644)
		}},
		pidFileMaker{"the agent's parent", func(t *testing.T, p string, _ int) error {
			return os.WriteFile(p, []byte(strconv.Itoa(os.Getppid())), 0o644)
		}},
	)
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			victim := startVictim(t)
			pidFile := filepath.Join(t.TempDir(), "hello.pid")
			if err := tt.make(t, pidFile, victim.Process.Pid); err != nil {
				t.Fatal(err)
			}
			s, err := New(Input{PIDFile: pidFile, HealthURL: health.URL, Timeout: 5 * time.Second, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			pid, err := waitWithin(t, s, pidFile, 20*time.Second)
			t.Logf("Wait: %v", err)
			if !errors.Is(err, ErrNotService) {
				t.Fatalf("Wait = %d, %v; want ErrNotService", pid, err)
			}
			if el := time.Since(start); el >= 5*time.Second {
				t.Errorf("Wait took %s: a refusal does not heal, it fails at once", el)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Wait: the error carries the file's content: %v", err)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "hello.pid")
		if err := os.WriteFile(pidFile, []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := New(Input{PIDFile: pidFile, HealthURL: health.URL, Timeout: 300 * time.Millisecond, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = waitWithin(t, s, pidFile, 20*time.Second)
		if !errors.Is(err, ErrUnhealthy) || strings.Contains(err.Error(), secret) {
			t.Errorf("Wait: %v; want ErrUnhealthy without the file's content", err)
		}
	})
}

// startVictim starts a process that is not the service's: it must never
// receive the service's signal.
func startVictim(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// restartWithin runs s.Restart, failing the test if it has not returned
// after d.
func restartWithin(t *testing.T, s *Service, pidFile string, d time.Duration) (int, error) {
	t.Helper()
	return within(t, pidFile, d, func() (int, error) { return s.Restart(t.Context(), "2.0") })
}

// waitWithin runs s.Wait with no old PID, failing the test if it has not
// returned after d.
func waitWithin(t *testing.T, s *Service, pidFile string, d time.Duration) (int, error) {
	t.Helper()
	return within(t, pidFile, d, func() (int, error) { return s.Wait(t.Context(), 0, "2.0") })
}

func within(t *testing.T, pidFile string, d time.Duration, f func() (int, error)) (int, error) {
	t.Helper()
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		pid, err := f()
		done <- result{pid, err}
	}()
	select {
	case r := <-done:
		return r.pid, r.err
	case <-time.After(d):
		// Open a FIFO for writing so that a blocked reader returns.
		if f, err := os.OpenFile(pidFile, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("still blocked after %s", d)
		return 0, nil
	}
}
