package dpkg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/restart"
)

func TestInstall(t *testing.T) {
	tests := []struct {
		name     string
		debs     []testenv.AgentDeb // installed in order, all but the last must succeed
		wantErr  bool
		want     Status
		wantFile string // a file the last package installs, relative to the root
	}{
		{
			name:     "fresh install",
			debs:     []testenv.AgentDeb{{Package: "hello", Version: "1.0"}},
			want:     Status{Version: "1.0", State: "installed"},
			wantFile: "usr/bin/hello",
		},
		{
			name:     "upgrade",
			debs:     []testenv.AgentDeb{{Package: "hello", Version: "1.0"}, {Package: "hello", Version: "1.1"}},
			want:     Status{Version: "1.1", State: "installed"},
			wantFile: "usr/bin/hello",
		},
		{
			name:     "downgrade, as a local rollback does",
			debs:     []testenv.AgentDeb{{Package: "hello", Version: "2.0"}, {Package: "hello", Version: "1.0"}},
			want:     Status{Version: "1.0", State: "installed"},
			wantFile: "usr/bin/hello",
		},
		{
			name:    "postinst exits 1",
			debs:    []testenv.AgentDeb{{Package: "hello", Version: "1.0", Postinst: "#!/bin/sh\necho broken >&2\nexit 1\n"}},
			wantErr: true,
			want:    Status{Version: "1.0", State: "half-configured"},
		},
		{
			name: "rollback over a failed postinst",
			debs: []testenv.AgentDeb{
				{Package: "hello", Version: "1.0"},
				{Package: "hello", Version: "2.0", Postinst: "#!/bin/sh\nexit 1\n"},
				{Package: "hello", Version: "1.0"},
			},
			want:     Status{Version: "1.0", State: "installed"},
			wantFile: "usr/bin/hello",
		},
		{
			name: "changed conffile is kept",
			debs: []testenv.AgentDeb{
				{Package: "hello", Version: "1.0", Conffile: "a=1\n"},
				{Package: "hello", Version: "1.1", Conffile: "a=2\n", EditConffile: "a=local\n"},
			},
			want:     Status{Version: "1.1", State: "installed"},
			wantFile: "etc/hello.conf",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			root := testenv.DpkgRoot(t)
			d := &Dpkg{Root: root}
			var err error
			for i, spec := range tt.debs {
				if spec.EditConffile != "" {
					if err := os.WriteFile(filepath.Join(root, "etc/hello.conf"), []byte(spec.EditConffile), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				err = d.Install(ctx, testenv.BuildAgentDeb(t, spec))
				if i < len(tt.debs)-1 && err != nil && spec.Postinst == "" {
					t.Fatalf("install %s: %v", spec.Version, err)
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("last Install: err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				var de *Error
				if !errors.As(err, &de) || de.ExitCode != 1 {
					t.Errorf("err = %#v, want a *dpkg.Error with exit code 1", err)
				}
			}
			got, err := d.Query(ctx, "hello")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Query = %+v, want %+v", got, tt.want)
			}
			if tt.wantFile != "" {
				if _, err := os.Stat(filepath.Join(root, tt.wantFile)); err != nil {
					t.Errorf("installed file: %v", err)
				}
			}
			last := tt.debs[len(tt.debs)-1]
			if last.EditConffile != "" {
				b, err := os.ReadFile(filepath.Join(root, "etc/hello.conf"))
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != last.EditConffile {
					t.Errorf("conffile = %q, want the local edit %q kept", b, last.EditConffile)
				}
			}
		})
	}
}

func TestQueryUnknown(t *testing.T) {
	d := &Dpkg{Root: testenv.DpkgRoot(t)}
	got, err := d.Query(t.Context(), "nothing-like-this")
	if err != nil {
		t.Fatal(err)
	}
	if got != (Status{}) || got.Installed() {
		t.Errorf("Query(unknown) = %+v, want the zero Status", got)
	}
}

func TestArchitecture(t *testing.T) {
	d := &Dpkg{Root: testenv.DpkgRoot(t)}
	got, err := d.Architecture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got == "" || strings.ContainsAny(got, " \n") {
		t.Errorf("Architecture = %q", got)
	}
}

// TestConfigureFinishesInterruptedRun leaves a package unpacked but not
// configured, as a kill between dpkg's two phases does, and checks that
// Configure finishes it.
func TestConfigureFinishesInterruptedRun(t *testing.T) {
	ctx := t.Context()
	root := testenv.DpkgRoot(t)
	d := &Dpkg{Root: root}
	deb := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"})
	if _, err := d.run(ctx, "dpkg", d.dpkgArgs("--unpack", deb)); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Query(ctx, "hello"); got.State != "unpacked" {
		t.Fatalf("after --unpack: %+v, want unpacked", got)
	}
	if err := d.Configure(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Query(ctx, "hello"); !got.Installed() || got.Version != "1.0" {
		t.Errorf("after Configure: %+v, want 1.0 installed", got)
	}
	// Nothing pending: still succeeds.
	if err := d.Configure(ctx); err != nil {
		t.Errorf("Configure with nothing pending: %v", err)
	}
}

// waitLog is a log that says when the dpkg lock wait was logged.
type waitLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	logged chan struct{}
}

func (w *waitLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(b, []byte("dpkg lock held")) && !bytes.Contains(w.buf.Bytes(), []byte("dpkg lock held")) {
		close(w.logged)
	}
	return w.buf.Write(b)
}

func (w *waitLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestLockHeld really holds dpkg's locks with fcntl, as apt and
// unattended-upgrades do.
func TestLockHeld(t *testing.T) {
	for _, lock := range []string{"lock-frontend", "lock"} {
		t.Run(lock, func(t *testing.T) {
			tests := []struct {
				name string
				// releaseOnWait: the lock is released once the wait is
				// logged (else held to the end).
				releaseOnWait bool
				lockWait      time.Duration
				wantErr       error
			}{
				{"released while waiting", true, 10 * time.Second, nil},
				{"held past LockWait", false, 400 * time.Millisecond, ErrLocked},
				{"no waiting", false, -1, ErrLocked},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := t.Context()
					root := testenv.DpkgRoot(t)
					pkg := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"})
					logs := &waitLog{logged: make(chan struct{})}
					d := &Dpkg{Root: root, LockWait: tt.lockWait, LockRetry: 100 * time.Millisecond,
						Logger: slog.New(slog.NewTextHandler(logs, nil))}
					release := holdLock(t, filepath.Join(root, "var/lib/dpkg", lock))
					defer release()
					if tt.releaseOnWait {
						go func() {
							select {
							case <-logs.logged:
								release()
							case <-ctx.Done():
							}
						}()
					}
					start := time.Now()
					err := d.Install(ctx, pkg)
					if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
						t.Fatalf("Install: err = %v, want %v", err, tt.wantErr)
					}
					if tt.wantErr != nil {
						if el := time.Since(start); tt.lockWait > 0 && el > tt.lockWait+2*time.Second {
							t.Errorf("gave up after %s, LockWait %s", el, tt.lockWait)
						}
						return
					}
					if got, _ := d.Query(ctx, "hello"); !got.Installed() {
						t.Errorf("after the lock was released: %+v, want installed", got)
					}
					if n := strings.Count(logs.String(), "dpkg lock held"); n != 1 {
						t.Errorf("logged the wait %d times, want once:\n%s", n, logs.String())
					}
				})
			}
		})
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	root := testenv.DpkgRoot(t)
	defer holdLock(t, filepath.Join(root, "var/lib/dpkg/lock-frontend"))()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	d := &Dpkg{Root: root, LockWait: time.Hour, LockRetry: 50 * time.Millisecond}
	start := time.Now()
	err := d.Configure(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Configure: err = %v, want the context's deadline", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("returned after %s", el)
	}
}

// holdLock takes an fcntl write lock on path the way dpkg does. Locks
// are per process, so the dpkg child sees it held. It returns a release
// function that is safe to call twice.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }
}

// TestRunNotInterrupted: a dpkg run that has started finishes even when the
// caller's context ends, since a dpkg killed midway leaves the package half
// installed; only Timeout kills it, maintainer scripts included.
func TestRunNotInterrupted(t *testing.T) {
	slow := "#!/bin/sh\necho $$ > \"$DPKG_ROOT/tmp/postinst.pid\"\nsleep 1\n"
	tests := []struct {
		name     string
		postinst string
		// cancelMidRun: the caller's context ends once the postinst runs.
		cancelMidRun bool
		// timeout must end while the postinst sleeps: dpkg reaches it in
		// well under a second even on a busy machine, and the test lasts
		// as long as the timeout.
		timeout    time.Duration
		wantErr    string
		wantStatus Status
	}{
		{"context ends mid-run", slow, true, time.Minute, "then stopping", Status{Version: "1.0", State: "installed"}},
		{"timeout kills the run", "#!/bin/sh\necho $$ > \"$DPKG_ROOT/tmp/postinst.pid\"\nsleep 60\n", false, 5 * time.Second, "killed after", Status{Version: "1.0", State: "half-configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := testenv.DpkgRoot(t)
			d := &Dpkg{Root: root, Timeout: tt.timeout}
			deb := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Postinst: tt.postinst})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelMidRun {
				go func() {
					pidFile := filepath.Join(root, "tmp/postinst.pid")
					for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
						if _, err := os.Stat(pidFile); err == nil {
							break
						}
					}
					cancel()
				}()
			}
			start := time.Now()
			err := d.Install(ctx, deb)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Install: %v, want %q", err, tt.wantErr)
			}
			if el := time.Since(start); el > tt.timeout+10*time.Second {
				t.Errorf("Install took %s", el)
			}
			if got, _ := d.Query(t.Context(), "hello"); got != tt.wantStatus {
				t.Errorf("status %+v, want %+v", got, tt.wantStatus)
			}
			b, err := os.ReadFile(filepath.Join(root, "tmp/postinst.pid"))
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid <= 0 || running(pid) {
				t.Errorf("postinst (pid %d) still running", pid)
			}
		})
	}
}

// running reports whether pid is a live process; a zombie (killed, not yet
// reaped by whoever inherited it) is not.
func running(pid int) bool {
	st, err := restart.ReadProcStat(pid)
	return err == nil && !st.Exited()
}

// TestCredentialsStayOut: the agent's credentials (in its environment, from
// /etc/autoupdate/credentials) never reach a maintainer script, and what a
// script prints of them anyway (reading the file, as root can) is redacted
// from the error that the agent puts into its status object, its failure
// records and its log.
func TestCredentialsStayOut(t *testing.T) {
	secrets := testenv.FakeCredentials(t)
	t.Setenv("AWS_REGION", "eu-west-3")
	root := testenv.DpkgRoot(t)
	if err := os.WriteFile(filepath.Join(root, "etc/credentials"), []byte(secrets.File()), 0o600); err != nil {
		t.Fatal(err)
	}
	postinst := "#!/bin/sh\nenv > \"$DPKG_ROOT/tmp/postinst.env\"\nenv >&2\ncat \"$DPKG_ROOT/etc/credentials\" >&2\nexit 1\n"
	d := &Dpkg{Root: root}
	err := d.Install(t.Context(), testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Postinst: postinst}))
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("Install: %v, want a *dpkg.Error", err)
	}
	env := secrets.CheckEnvDump(t, filepath.Join(root, "tmp/postinst.env"), "the postinst")
	for _, want := range []string{"DEBIAN_FRONTEND=noninteractive\n", "DPKG_ROOT=" + root + "\n", "PATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("the postinst's environment lacks %q:\n%s", want, env)
		}
	}
	for what, text := range map[string]string{"Error()": err.Error(), "Output": de.Output} {
		if leaks := secrets.Leaks(text); len(leaks) > 0 {
			t.Errorf("%s carries %v:\n%s", what, leaks, text)
		}
	}
	if !strings.Contains(de.Output, "AWS_SECRET_ACCESS_KEY=[redacted]") {
		t.Errorf("Output does not show the redacted line the script printed:\n%s", de.Output)
	}
}
