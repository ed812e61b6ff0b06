//go:build linux

package restart_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/restart"
)

// holdReadyEnv names a directory. When it is set, this test binary runs as
// a hello-like service whose Ready holds in that directory (see
// restart.NewHoldingReady): TestStopDuringUpgrade installs it as the new
// release.
const holdReadyEnv = "RESTART_TEST_HOLD_READY"

// serveHoldingReady is the test binary's main as a new generation. It takes
// hello's flags, as the previous generation passes them on.
func serveHoldingReady(dir string) int {
	fs := flag.NewFlagSet("held", flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	pidFile := fs.String("pidfile", "", "")
	drain := fs.Duration("drain-timeout", testDrainTimeout, "")
	upgradeTimeout := fs.Duration("upgrade-timeout", testUpgradeTimeout, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("version", "held")
	upg, err := restart.NewHoldingReady(restart.Options{PIDFile: *pidFile, DrainTimeout: *drain, UpgradeTimeout: *upgradeTimeout, Logger: log}, dir)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	defer upg.Stop()
	ln, err := upg.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from held (pid %d)\n", os.Getpid())
	}), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- upg.Serve(context.Background(), srv, ln) }()
	if err := upg.Ready(); err != nil {
		log.Error("ready", "err", err)
		return 1
	}
	if err := <-errc; err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// TestStopDuringUpgrade: a stop that reaches the service while the new
// generation is Ready (PID file written, systemd told) but the old one has
// not heard it yet ends both cleanly: nothing is killed, every process
// exits 0, and the PID file is gone. tableflip used to abort the upgrade
// ("terminating") and SIGKILL the new process, and a supervisor then
// exited 137. The new generation is held in that window until the old one
// has logged the stop, so the interleaving is forced, not hoped for.
func TestStopDuringUpgrade(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		supervise bool // stop through the stable-PID supervisor, which signals every process
	}{
		{"SIGTERM to the old process", false},
		{"SIGTERM to the supervisor", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hold := t.TempDir()
			env := []string{holdReadyEnv + "=" + hold}
			if tt.supervise {
				env = append(env, restart.SuperviseEnv+"=1")
			}
			s := startService(t, startOptions{env: env, upgradeTimeout: time.Minute})
			old := s.pid()
			s.install(self)
			s.signal(old, syscall.SIGHUP)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := realparts.WaitFor(ctx, "the new generation in Ready", func() bool {
				_, err := os.Stat(filepath.Join(hold, "held"))
				return err == nil
			}); err != nil {
				t.Fatalf("%v\n%s", err, s.log)
			}
			child := s.pid()
			if child == old {
				t.Fatalf("the PID file still names %d while the new generation is in Ready", old)
			}
			target := old
			if tt.supervise {
				target = s.cmd.Process.Pid
			}
			s.signal(target, syscall.SIGTERM)
			s.waitLog(fmt.Sprintf(`msg="stop requested".* pid=%d\b`, old), 1)
			if err := os.WriteFile(filepath.Join(hold, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			checkStoppedCleanly(t, s, []int{old, child}, true)
			s.waitLog(fmt.Sprintf(`msg=drained.* pid=%d\b`, child), 1)
		})
	}
}

// checkStoppedCleanly waits for the service to end and checks that it did
// so cleanly: the process the test started exited 0 (if exit0), none of
// pids is left, nothing was killed and the PID file is gone.
func checkStoppedCleanly(t *testing.T, s *service, pids []int, exit0 bool) {
	t.Helper()
	select {
	case err := <-s.exited:
		if err != nil && exit0 {
			t.Errorf("the service's first process (or its supervisor) exited with %v, want 0", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the service did not end within a minute\n%s", s.log)
	}
	s.waitGone(pids, 30*time.Second)
	for _, bad := range []string{"terminating", "status=137", "killing"} {
		if n := s.count(bad); n > 0 {
			t.Errorf("log says %q %d times", bad, n)
		}
	}
	if _, err := os.Stat(s.pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file left behind: %v", err)
	}
}

// TestPIDFileAfterLateFailure: a new generation that wrote the PID file
// but never told the old one it was Ready is killed at UpgradeTimeout, and
// the PID file names the old process again, the one still serving.
func TestPIDFileAfterLateFailure(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hold := t.TempDir() // no "go" file: the new generation stays held
	s := startService(t, startOptions{env: []string{holdReadyEnv + "=" + hold}, upgradeTimeout: time.Second})
	old := s.pid()
	s.install(self)
	s.signal(old, syscall.SIGHUP)
	child := s.waitNewPID(old)
	s.waitLog(`msg="upgrade failed, still serving"`, 1)
	if got := s.pid(); got != old {
		t.Errorf("after the failed upgrade the PID file names %d, want %d (still serving); the failed process was %d", got, old, child)
	}
	s.waitGone([]int{child}, 30*time.Second)
}
