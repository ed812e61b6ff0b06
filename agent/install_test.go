package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// helloBins maps a version to an examples/hello binary built with it, set
// up once by TestMain.
type helloBins map[string]string

// TestMain shares one S3 server between the tests and lets the test
// binary act as an agent process that a test kills.
func TestMain(m *testing.M) {
	if os.Getenv("AGENT_TEST_HELPER") == "install" {
		os.Exit(helperInstall())
	}
	code := m.Run()
	s3env.Close()
	os.Exit(code)
}

func buildHello(t *testing.T, versions ...string) helloBins {
	t.Helper()
	dir := t.TempDir()
	bins := helloBins{}
	for _, v := range versions {
		p, err := realparts.BuildGo(t.Context(), dir, "hello-"+v, "github.com/debfleet/debfleet/examples/hello", "-X main.version="+v)
		if err != nil {
			t.Fatal(err)
		}
		bins[v] = p
	}
	return bins
}

// host is one sandboxed server: a dpkg root, a state directory and the
// hello service running from the root.
type host struct {
	root, stateDir, pidFile, addr string
	dir                           *state.Dir
	inst                          *Installer
	// envFile, when set, is passed to hello as --env-file -envFile.
	envFile string
}

func newHost(t testing.TB) *host {
	t.Helper()
	h := &host{root: testenv.DpkgRoot(t), stateDir: t.TempDir()}
	h.pidFile = filepath.Join(t.TempDir(), "hello.pid")
	addr, err := realparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	h.addr = addr
	h.dir, err = state.Open(h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.dir.Close() })
	svc, err := service.New(service.Input{
		PIDFile:    h.pidFile,
		HealthURL:  "http://" + addr + "/healthz",
		VersionURL: "http://" + addr + "/version",
		Timeout:    2 * time.Second,
		Poll:       20 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.inst = &Installer{Dir: h.dir, Dpkg: &dpkg.Dpkg{Root: h.root}, Service: svc, Logger: slog.New(slog.DiscardHandler)}
	return h
}

// keep copies a built .deb into the state directory as a download would.
func (h *host) keep(t *testing.T, path string, p testenv.AgentDeb) *state.Release {
	t.Helper()
	return keepDeb(t, h.dir, path, p)
}

// keepDeb puts the package at path into dir's kept .debs, as a download
// would, and returns its release record.
func keepDeb(t *testing.T, dir *state.Dir, path string, p testenv.AgentDeb) *state.Release {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := dir.CreateTemp()
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, hash), src); err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	name, err := dir.KeepDeb(f, sum)
	if err != nil {
		t.Fatal(err)
	}
	return &state.Release{Package: p.Package, Version: p.Version, SHA256: sum, VersionID: "vid-" + p.Version, Deb: name}
}

// startService runs hello from the sandbox root, as the supervisor would.
func (h *host) startService(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join(h.root, "usr/bin/hello"), "--listen", h.addr, "--pidfile", h.pidFile)
	if h.envFile != "" {
		cmd.Args = append(cmd.Args, "--env-file", "-"+h.envFile)
	}
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reap the first generation when it hands over
	t.Cleanup(func() {
		if pid, err := restart.ReadPIDFile(h.pidFile); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := realparts.WaitHTTP(ctx, "http://"+h.addr+"/healthz"); err != nil {
		t.Fatal(err)
	}
	if err := realparts.WaitFor(ctx, "hello pid file", func() bool { _, err := restart.ReadPIDFile(h.pidFile); return err == nil }); err != nil {
		t.Fatal(err)
	}
}

func (h *host) serving(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + h.addr + "/version")
	if err != nil {
		return "down: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func (h *host) dpkgVersion(t *testing.T) string {
	t.Helper()
	st, err := h.inst.Dpkg.Query(t.Context(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	return st.State + " " + st.Version
}

// TestInstallerSequence drives one host through a deploy history: good
// releases, one whose new process never gets ready, one whose postinst
// fails, and one whose version does not match what it reports. After each
// the service must serve the right version and the state must say so.
func TestInstallerSequence(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	bad := filepath.Join(t.TempDir(), "hello-bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho crashing >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHost(t)

	// Bootstrap: 1.0 installed before the service runs (cloud-init does
	// this with --once before starting the service).
	v1 := testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bins["1.0"]}
	boot := &Installer{Dir: h.dir, Dpkg: h.inst.Dpkg, Logger: slog.New(slog.DiscardHandler)}
	s := &state.State{}
	if out, err := boot.Install(t.Context(), s, h.keep(t, testenv.BuildAgentDeb(t, v1), v1)); out != OK || err != nil {
		t.Fatalf("bootstrap install: %s, %v", out, err)
	}
	h.startService(t)

	steps := []struct {
		name        string
		deb         testenv.AgentDeb
		wantOutcome Outcome
		wantErr     string // substring of the error
		wantServing string
		wantState   string // the installed release's version in the saved state
	}{
		{"upgrade to 2.0", testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bins["2.0"]}, OK, "", "2.0", "2.0"},
		{"3.0 never gets ready", testenv.AgentDeb{Package: "hello", Version: "3.0", Bin: bad}, RolledBack, "still names the old process", "2.0", "2.0"},
		{"4.0 postinst exits 1", testenv.AgentDeb{Package: "hello", Version: "4.0", Bin: bins["2.0"], Postinst: "#!/bin/sh\nexit 1\n"}, RolledBack, "exit status 1", "2.0", "2.0"},
		{"5.0 reports another version", testenv.AgentDeb{Package: "hello", Version: "5.0", Bin: bins["1.0"]}, RolledBack, `answers version "1.0", want "5.0"`, "2.0", "2.0"},
		{"back to 1.0", v1, OK, "", "1.0", "1.0"},
	}
	var badSHAs []string
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rel := h.keep(t, testenv.BuildAgentDeb(t, st.deb), st.deb)
			out, err := h.inst.Install(t.Context(), s, rel)
			if out != st.wantOutcome {
				t.Fatalf("Install = %s (%v), want %s", out, err, st.wantOutcome)
			}
			if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
				t.Fatalf("Install error %v, want %q", err, st.wantErr)
			}
			if got := h.serving(t); got != st.wantServing {
				t.Errorf("serving %q, want %q", got, st.wantServing)
			}
			if got := h.dpkgVersion(t); got != "installed "+st.wantServing {
				t.Errorf("dpkg says %q, want installed %s", got, st.wantServing)
			}
			saved, err := h.dir.Load()
			if err != nil {
				t.Fatal(err)
			}
			if saved.Installed == nil || saved.Installed.Version != st.wantState || saved.Installing != nil {
				t.Errorf("saved state installed=%+v installing=%+v, want %s and no intent", saved.Installed, saved.Installing, st.wantState)
			}
			if st.wantOutcome == RolledBack {
				badSHAs = append(badSHAs, rel.SHA256)
			}
			for _, sha := range badSHAs {
				if !saved.IsBad(sha) {
					t.Errorf("sha256 %s of a failed release not marked bad", sha)
				}
			}
			if saved.IsBad(saved.Installed.SHA256) {
				t.Error("the installed release is marked bad")
			}
			// The installed and the previous .debs stay; failed ones go.
			debs, _ := filepath.Glob(filepath.Join(h.stateDir, "debs", "*.deb"))
			if len(debs) > 2 {
				t.Errorf("%d .debs kept, want at most 2: %q", len(debs), debs)
			}
			if _, err := os.Stat(h.dir.DebPath(saved.Installed.Deb)); err != nil {
				t.Errorf("installed release's .deb not kept: %v", err)
			}
		})
	}
}

// TestInstallFirstReleaseFails: with nothing installed before, a failing
// release cannot be rolled back; the outcome says so and it is marked bad.
func TestInstallFirstReleaseFails(t *testing.T) {
	h := newHost(t)
	p := testenv.AgentDeb{Package: "hello", Version: "1.0", Postinst: "#!/bin/sh\nexit 1\n"}
	s := &state.State{}
	rel := h.keep(t, testenv.BuildAgentDeb(t, p), p)
	out, err := h.inst.Install(t.Context(), s, rel)
	if out != Failed || err == nil || !strings.Contains(err.Error(), "no earlier release") {
		t.Fatalf("Install = %s, %v; want Failed saying there is nothing to roll back to", out, err)
	}
	saved, _ := h.dir.Load()
	if !saved.IsBad(rel.SHA256) || saved.Installing != nil || saved.Installed != nil {
		t.Errorf("saved state %+v, want the release marked bad and nothing installed", saved)
	}
}

// TestKillMidInstall kills an agent process (and its dpkg) with SIGKILL
// while dpkg runs the new release's postinst, then starts over: Recover must
// finish the install and the service must end up on the new release.
func TestKillMidInstall(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	h := newHost(t)
	v1 := testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bins["1.0"]}
	s := &state.State{}
	boot := &Installer{Dir: h.dir, Dpkg: h.inst.Dpkg, Logger: slog.New(slog.DiscardHandler)}
	if out, err := boot.Install(t.Context(), s, h.keep(t, testenv.BuildAgentDeb(t, v1), v1)); out != OK {
		t.Fatalf("bootstrap install: %s, %v", out, err)
	}
	h.startService(t)

	// The postinst stalls while a marker exists, so the kill lands inside
	// dpkg for certain.
	slow := filepath.Join(h.root, "tmp/slow")
	started := filepath.Join(h.root, "tmp/started")
	if err := os.WriteFile(slow, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bins["2.0"],
		Postinst: "#!/bin/sh\nif [ -e \"$DPKG_ROOT/tmp/slow\" ]; then touch \"$DPKG_ROOT/tmp/started\"; sleep 60; fi\n"}
	rel := h.keep(t, testenv.BuildAgentDeb(t, v2), v2)
	h.dir.Close() // the helper agent takes the lock

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AGENT_TEST_HELPER=install", "AGENT_TEST_STATE="+h.stateDir,
		"AGENT_TEST_ROOT="+h.root, "AGENT_TEST_DEB="+rel.Deb, "AGENT_TEST_SHA="+rel.SHA256)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "postinst to start", func() bool { _, err := os.Stat(started); return err == nil }); err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	// A power cut: the agent, dpkg and the maintainer script die at once.
	// dpkg runs in its own process group, so kill the whole tree.
	for _, pid := range append([]int{cmd.Process.Pid}, restart.Descendants(cmd.Process.Pid)...) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	cmd.Wait()
	if err := os.Remove(slow); err != nil {
		t.Fatal(err)
	}

	dir, err := state.Open(h.stateDir)
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	defer dir.Close()
	inst := *h.inst
	inst.Dir = dir
	s, resume, err := inst.Recover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if resume == nil || resume.SHA256 != rel.SHA256 {
		t.Fatalf("Recover resume = %+v, want the interrupted 2.0", resume)
	}
	if out, err := inst.Install(t.Context(), s, resume); out != OK || err != nil {
		t.Fatalf("resumed install: %s, %v", out, err)
	}
	if got := h.serving(t); got != "2.0" {
		t.Errorf("serving %q after recovery, want 2.0", got)
	}
	if got := h.dpkgVersion(t); got != "installed 2.0" {
		t.Errorf("dpkg says %q, want installed 2.0", got)
	}
}

// TestRecover covers the other startup reconciliations without processes.
func TestRecover(t *testing.T) {
	tests := []struct {
		name          string
		prepare       func(t *testing.T, h *host) *state.State // what was saved before the start
		wantResume    bool
		wantInstalled string // version left in state.Installed, "" for none
	}{
		{"nothing saved", func(t *testing.T, h *host) *state.State { return &state.State{ETag: `"e"`} }, false, ""},
		{"intent whose .deb is gone", func(t *testing.T, h *host) *state.State {
			return &state.State{Installing: &state.Release{Package: "hello", Version: "2.0", SHA256: strings.Repeat("a", 64), Deb: strings.Repeat("a", 64) + ".deb"}}
		}, false, ""},
		{"dpkg agrees", func(t *testing.T, h *host) *state.State {
			p := testenv.AgentDeb{Package: "hello", Version: "1.0"}
			rel := h.keep(t, testenv.BuildAgentDeb(t, p), p)
			if err := h.inst.Dpkg.Install(t.Context(), h.dir.DebPath(rel.Deb)); err != nil {
				t.Fatal(err)
			}
			return &state.State{Installed: rel, ETag: `"e"`}
		}, false, "1.0"},
		{"dpkg has another version", func(t *testing.T, h *host) *state.State {
			p := testenv.AgentDeb{Package: "hello", Version: "1.0"}
			rel := h.keep(t, testenv.BuildAgentDeb(t, p), p)
			if err := h.inst.Dpkg.Install(t.Context(), testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "0.9"})); err != nil {
				t.Fatal(err)
			}
			return &state.State{Installed: rel}
		}, false, ""},
		{"package removed by hand", func(t *testing.T, h *host) *state.State {
			p := testenv.AgentDeb{Package: "hello", Version: "1.0"}
			return &state.State{Installed: h.keep(t, testenv.BuildAgentDeb(t, p), p)}
		}, false, ""},
		{"interrupted intent", func(t *testing.T, h *host) *state.State {
			p := testenv.AgentDeb{Package: "hello", Version: "2.0"}
			return &state.State{Installing: h.keep(t, testenv.BuildAgentDeb(t, p), p)}
		}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if err := h.dir.Save(tt.prepare(t, h)); err != nil {
				t.Fatal(err)
			}
			s, resume, err := h.inst.Recover(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if (resume != nil) != tt.wantResume {
				t.Errorf("resume = %+v, want %v", resume, tt.wantResume)
			}
			got := ""
			if s.Installed != nil {
				got = s.Installed.Version
			}
			if got != tt.wantInstalled {
				t.Errorf("installed = %q, want %q", got, tt.wantInstalled)
			}
			if s.ETag != "" {
				t.Errorf("ETag %q kept, want it dropped", s.ETag)
			}
			saved, _ := h.dir.Load()
			if fmt.Sprint(saved.Installed) != fmt.Sprint(s.Installed) || (saved.Installing != nil) != tt.wantResume {
				t.Errorf("saved %+v differs from returned %+v", saved, s)
			}
		})
	}
}

// helperInstall is the agent process TestKillMidInstall kills.
func helperInstall() int {
	dir, err := state.Open(os.Getenv("AGENT_TEST_STATE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := dir.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	inst := &Installer{Dir: dir, Dpkg: &dpkg.Dpkg{Root: os.Getenv("AGENT_TEST_ROOT")}, Logger: slog.New(slog.DiscardHandler)}
	rel := &state.Release{Package: "hello", Version: "2.0", SHA256: os.Getenv("AGENT_TEST_SHA"), Deb: os.Getenv("AGENT_TEST_DEB")}
	out, err := inst.Install(context.Background(), s, rel)
	fmt.Fprintln(os.Stderr, "helper install finished, which the test did not expect:", out, err)
	return 1
}

// TestResumeSkipsFinishedDpkg: killed after dpkg finished but before the
// state said so, the agent must not run the maintainer scripts again (the
// agent's own package restarts the agent in its postinst: that would
// loop).
func TestResumeSkipsFinishedDpkg(t *testing.T) {
	h := newHost(t)
	h.inst.Service = nil
	p := testenv.AgentDeb{Package: "hello", Version: "2.0",
		Postinst: "#!/bin/sh\necho run >> \"$DPKG_ROOT/tmp/postinst-runs\"\n"}
	rel := h.keep(t, testenv.BuildAgentDeb(t, p), p)
	// What a kill right after dpkg leaves: the intent saved, dpkg done.
	if err := h.dir.Save(&state.State{Installing: rel}); err != nil {
		t.Fatal(err)
	}
	if err := h.inst.Dpkg.Install(t.Context(), h.dir.DebPath(rel.Deb)); err != nil {
		t.Fatal(err)
	}
	s, resume, err := h.inst.Recover(t.Context())
	if err != nil || resume == nil {
		t.Fatalf("Recover: %v, %+v", err, resume)
	}
	if out, err := h.inst.Install(t.Context(), s, resume); out != OK || err != nil {
		t.Fatalf("resumed Install: %s, %v", out, err)
	}
	b, err := os.ReadFile(filepath.Join(h.root, "tmp/postinst-runs"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "run"); n != 1 {
		t.Errorf("postinst ran %d times, want once", n)
	}
	if s.Installed == nil || s.Installed.SHA256 != rel.SHA256 || s.Installing != nil {
		t.Errorf("state after resume: %+v", s)
	}
}
