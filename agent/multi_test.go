package agent

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent/dpkg"
	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/restart"
)

// svc is one service on a host shared with others: its own package,
// address, PID file, state directory and agent, on a shared dpkg root.
type svc struct {
	pkg, root, pidFile, addr string
	dir                      *state.Dir
	inst                     *Installer
	ch                       *channel
}

func newSvc(t *testing.T, root, pkg string, healthTimeout time.Duration, logs *realparts.SyncBuffer) *svc {
	t.Helper()
	s := &svc{pkg: pkg, root: root, pidFile: filepath.Join(t.TempDir(), pkg+".pid"), ch: newChannel(t)}
	s.ch.addr.Key = pkg + "/production.deb"
	var err error
	if s.addr, err = realparts.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	if s.dir, err = state.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.dir.Close() })
	log := slog.New(slog.NewTextHandler(logs, nil)).With("service", pkg)
	sv, err := service.New(service.Input{
		PIDFile: s.pidFile, HealthURL: "http://" + s.addr + "/healthz", VersionURL: "http://" + s.addr + "/version",
		Timeout: healthTimeout, Poll: 20 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each agent its own Dpkg, as separate processes have: only the root,
	// and so the queue, is shared.
	s.inst = &Installer{Dir: s.dir, Dpkg: &dpkg.Dpkg{Root: root, Logger: log}, Service: sv, Logger: log}
	return s
}

func (s *svc) agent(t *testing.T, logs *realparts.SyncBuffer) *Agent {
	t.Helper()
	a, err := New(Config{
		Channel: s.ch.addr, Releases: s.ch.client, Fleet: fleetOf(s.ch.client), Package: s.pkg, AllowUnsigned: true,
		Host: "web-1", Report: true, Interval: 50 * time.Millisecond, Installer: s.inst,
		Logger: slog.New(slog.NewTextHandler(logs, nil)).With("agent", s.pkg),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *svc) publish(t *testing.T, version, bin string) {
	t.Helper()
	s.ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: s.pkg, Version: version, Bin: bin}), time.Now()))
}

// start runs the service from the shared root, as its supervisor would.
func (s *svc) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.root, "usr/bin", s.pkg), "--listen", s.addr, "--pidfile", s.pidFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() {
		if pid, err := restart.ReadPIDFile(s.pidFile); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := realparts.WaitHTTP(ctx, "http://"+s.addr+"/healthz"); err != nil {
		t.Fatal(err)
	}
}

func (s *svc) serving(t *testing.T) string {
	t.Helper()
	return (&host{addr: s.addr}).serving(t)
}

func (s *svc) dpkgHas(t *testing.T, version string) bool {
	t.Helper()
	st, err := s.inst.Dpkg.Query(t.Context(), s.pkg)
	return err == nil && st.Installed() && st.Version == version
}

func (s *svc) state(t *testing.T) string {
	t.Helper()
	if st := s.ch.tryStatus(t, "web-1"); st != nil {
		return st.State + " " + st.Version
	}
	return "no status"
}

// TestServicesIndependent: two services on one host (one dpkg root), each
// followed by its own agent on its own channel. Service A's release never
// gets healthy and is rolled back after its 20 s health timeout; service
// B's release, published while A's health check runs, is installed and
// proved healthy while A is still checking, and A's rollback leaves B on
// its release, on the same process.
func TestServicesIndependent(t *testing.T) {
	const aTimeout = 20 * time.Second
	bins := buildHello(t, "1.0", "2.0")
	bad := filepath.Join(t.TempDir(), "hello-bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho never ready >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &realparts.SyncBuffer{}
	defer func() {
		if t.Failed() {
			t.Logf("agents' logs:\n%s", logs.String())
		}
	}()
	root := testenv.DpkgRoot(t)
	a := newSvc(t, root, "hello", aTimeout, logs)
	b := newSvc(t, root, "hello-b", 10*time.Second, logs)
	a.publish(t, "1.0", bins["1.0"])
	b.publish(t, "1.0", bins["1.0"])
	agentA, agentB := a.agent(t, logs), b.agent(t, logs)
	for _, ag := range []*Agent{agentA, agentB} {
		if err := ag.Once(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	a.start(t)
	b.start(t)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{}, 2)
	for _, ag := range []*Agent{agentA, agentB} {
		go func() {
			ag.Run(ctx)
			done <- struct{}{}
		}()
	}
	defer func() {
		cancel()
		<-done
		<-done
	}()
	wait := func(what string, max time.Duration, cond func() bool) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, max)
		defer cancel()
		if err := realparts.WaitFor(wctx, what, cond); err != nil {
			t.Fatalf("%v (A: %s, serving %q; B: %s, serving %q)", err, a.state(t), a.serving(t), b.state(t), b.serving(t))
		}
	}

	a.publish(t, "2.0", bad)
	wait("A's 2.0 installed by dpkg, its health check running", time.Minute, func() bool { return a.dpkgHas(t, "2.0") })
	b.publish(t, "2.0", bins["2.0"])
	wait("B ok on 2.0", time.Minute, func() bool { return b.state(t) == "ok 2.0" })
	// The causality the test is about: B finished while A still checks.
	if got := a.state(t); got != "installing 1.0" || !a.dpkgHas(t, "2.0") {
		t.Fatalf("when B was ok on 2.0, A was %q (dpkg has 2.0: %v), want still installing 2.0 over 1.0: B waited for A", got, a.dpkgHas(t, "2.0"))
	}
	if got := b.serving(t); got != "2.0" {
		t.Fatalf("B serves %q, want 2.0", got)
	}
	bPID, err := restart.ReadPIDFile(b.pidFile)
	if err != nil {
		t.Fatal(err)
	}

	wait("A rolled back", aTimeout+time.Minute, func() bool { return a.state(t) == "rolled-back 1.0" })
	if got := a.serving(t); got != "1.0" {
		t.Errorf("A serves %q after its rollback, want 1.0", got)
	}
	if got := b.serving(t); got != "2.0" || !b.dpkgHas(t, "2.0") || b.state(t) != "ok 2.0" {
		t.Errorf("after A's rollback B serves %q (dpkg has 2.0: %v, status %q), want 2.0 untouched", got, b.dpkgHas(t, "2.0"), b.state(t))
	}
	if pid, err := restart.ReadPIDFile(b.pidFile); err != nil || pid != bPID {
		t.Errorf("B's process changed during A's rollback: pid %d (%v), was %d", pid, err, bPID)
	}
	s, err := b.dir.Load()
	if err != nil || s.Installed == nil || s.Installed.Version != "2.0" || len(s.Bad) != 0 {
		t.Errorf("B's state after A's rollback: %+v (%v), want 2.0 installed and nothing bad", s, err)
	}
}
