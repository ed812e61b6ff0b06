package service

import (
	"errors"
	"log/slog"
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

// TestTrustCheck is the rule that decides whether the agent signals a PID,
// and accepts it as the restarted service, one case a row.
func TestTrustCheck(t *testing.T) {
	const unitCgroup = "/system.slice/hello.service"
	base := trust{Self: 500, Ancestors: []int{400, 300}}
	unit := trust{Self: 500, Ancestors: []int{400}, Unit: "hello.service"}
	learned := trust{Self: 500, Cgroup: unitCgroup}
	svc := func(pid int) process { // the service's process, run as uid 990
		return process{PID: pid, FileOwner: 990, UIDs: []int{990, 990}, Cgroup: unitCgroup}
	}
	with := func(p process, f func(*process)) process { f(&p); return p }
	tests := []struct {
		name    string
		trust   trust
		p       process
		wantErr string // "" when trusted
	}{
		{"the service", base, svc(1234), ""},
		{"the service, unit given", unit, svc(1234), ""},
		{"the service, cgroup learned", learned, svc(1234), ""},
		{"a sub-cgroup of the unit", unit, with(svc(1234), func(p *process) { p.Cgroup += "/worker" }), ""},
		{"root's PID file names a root process", base, process{PID: 1234, FileOwner: 0, UIDs: []int{0, 0}}, ""},
		{"root's PID file, /proc unreadable", base, process{PID: 1234, FileOwner: 0}, ""},
		{"saved uid is the owner's (setuid)", base, with(svc(1234), func(p *process) { p.UIDs = []int{0, 990} }), ""},

		{"init", base, with(svc(1), func(p *process) { p.FileOwner = 0 }), "is init"},
		{"zero", base, with(svc(0), func(p *process) { p.FileOwner = 0 }), "is init or not a process"},
		{"negative", base, with(svc(-1), func(p *process) { p.FileOwner = 0 }), "is init or not a process"},
		{"the agent", base, with(svc(500), func(p *process) { p.FileOwner = 0 }), "is the agent itself"},
		{"the agent's parent", base, with(svc(400), func(p *process) { p.FileOwner = 0 }), "ancestor of the agent"},
		{"the agent's grandparent", base, with(svc(300), func(p *process) { p.FileOwner = 0 }), "ancestor of the agent"},
		{"another user's process", base, with(svc(1234), func(p *process) { p.UIDs = []int{0, 0} }), "runs as uid 0, but the PID file belongs to uid 990"},
		{"effective uid only", base, with(svc(1234), func(p *process) { p.UIDs = []int{1000, 1000} }), "belongs to uid 990"},
		{"/proc unreadable", base, with(svc(1234), func(p *process) { p.UIDs = nil }), "only a root-owned PID file"},
		{"owner unknown", base, with(svc(1234), func(p *process) { p.FileOwner = -1 }), "owner is unknown"},
		{"another unit", unit, with(svc(1234), func(p *process) { p.Cgroup = "/system.slice/ssh.service" }), "not in unit hello.service"},
		{"same name in a user's manager", unit, with(svc(1234), func(p *process) {
			p.Cgroup = "/user.slice/user-990.slice/user@990.service/app.slice/hello.service"
		}), "not in unit"},
		{"unit given, cgroup unknown", unit, with(svc(1234), func(p *process) { p.Cgroup = "" }), "not in unit"},
		{"the root cgroup, unit given", unit, with(svc(1234), func(p *process) { p.Cgroup = "/" }), "not in unit"},
		{"not the cgroup learned", learned, with(svc(1234), func(p *process) { p.Cgroup = "/system.slice/cron.service" }), `the service in "/system.slice/hello.service"`},
		{"a sub-cgroup, cgroup learned", learned, with(svc(1234), func(p *process) { p.Cgroup += "/worker" }), "the service in"},
		{"cgroup learned, now unknown", learned, with(svc(1234), func(p *process) { p.Cgroup = "" }), "the service in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.trust.check(tt.p)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("check: %v, want trusted", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("check: %v, want an error containing %q", err, tt.wantErr)
			case err != nil && !errors.Is(err, ErrNotService):
				t.Errorf("check: %v does not wrap ErrNotService", err)
			}
		})
	}
}

func TestSystemdCgroup(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unified", "0::/system.slice/hello.service\n", "/system.slice/hello.service"},
		{"hybrid", "12:pids:/\n1:name=systemd:/system.slice/hello.service\n0::/system.slice/hello.service\n", "/system.slice/hello.service"},
		{"legacy", "4:memory:/system.slice/hello.service\n1:name=systemd:/system.slice/x.service\n", "/system.slice/x.service"},
		{"a path with a colon", "0::/a:b\n", "/a:b"},
		{"none", "4:memory:/x\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		if got := systemdCgroup([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: systemdCgroup = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseUIDs(t *testing.T) {
	status := "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t0\t990\t0\nGid:\t1\t1\t1\t1\n"
	if got := parseUIDs([]byte(status)); len(got) != 2 || got[0] != 1000 || got[1] != 990 {
		t.Errorf("parseUIDs = %v, want [1000 990]", got)
	}
	for _, bad := range []string{"", "Uid:\t1\n", "Uid:\tx\t0\t0\t0\n"} {
		if got := parseUIDs([]byte(bad)); got != nil {
			t.Errorf("parseUIDs(%q) = %v, want nil", bad, got)
		}
	}
	// And this process's, from /proc.
	if p := inspect(os.Getpid(), os.Getuid()); len(p.UIDs) != 2 || p.UIDs[0] != os.Getuid() {
		t.Errorf("inspect(self).UIDs = %v, want [%d ...]", p.UIDs, os.Getuid())
	}
}

func TestAncestors(t *testing.T) {
	got := ancestors(os.Getpid())
	if len(got) == 0 || got[0] != os.Getppid() {
		t.Errorf("ancestors(self) = %v, want the parent %d first", got, os.Getppid())
	}
}

func TestNewChecksUnit(t *testing.T) {
	for _, unit := range []string{"hello", "/system.slice/hello.service", "hello service", ".service", "x.slice"} {
		if _, err := New(Input{PIDFile: "/run/x.pid", Unit: unit}); err == nil {
			t.Errorf("New accepted unit %q", unit)
		}
	}
	for _, unit := range []string{"hello.service", "hello@1.service", "run-u7.scope"} {
		if _, err := New(Input{PIDFile: "/run/x.pid", Unit: unit}); err != nil {
			t.Errorf("New refused unit %q: %v", unit, err)
		}
	}
}

// TestRestartRefusesForeignProcess: a live process that is not the
// service's is not signalled, whatever the PID file says: Restart fails at
// once with ErrNotService and the process lives on.
func TestRestartRefusesForeignProcess(t *testing.T) {
	// SIGHUP would end this test binary: catch it, should the agent
	// itself be signalled.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tests := []struct {
		name   string
		root   bool // needs root (to own files for another user)
		unit   string
		prep   func(t *testing.T, pidFile string, victim *exec.Cmd) int // returns the PID to write
		reason string
	}{
		{name: "the agent itself", prep: func(*testing.T, string, *exec.Cmd) int { return os.Getpid() }, reason: "the agent itself"},
		{name: "outside the service's unit", unit: "debfleet-test-hello.service",
			prep: func(_ *testing.T, _ string, v *exec.Cmd) int { return v.Process.Pid }, reason: "not in unit debfleet-test-hello.service"},
		// The service's user (nobody) writes the PID of a root process.
		{name: "another user's process", root: true,
			prep: func(_ *testing.T, _ string, v *exec.Cmd) int { return v.Process.Pid }, reason: "runs as uid 0, but the PID file belongs to uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("needs root: the PID file must belong to another user")
			}
			victim := startVictim(t)
			pidFile := filepath.Join(t.TempDir(), "hello.pid")
			pid := tt.prep(t, pidFile, victim)
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.root {
				if err := os.Chown(pidFile, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			s, err := New(Input{PIDFile: pidFile, Unit: tt.unit, Timeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = restartWithin(t, s, pidFile, 10*time.Second)
			if !errors.Is(err, ErrNotService) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Restart: %v, want ErrNotService saying %q", err, tt.reason)
			}
			if !restart.Alive(victim.Process.Pid) {
				t.Error("the victim process was signalled")
			}
		})
	}
}

// TestRestartRefusesAnotherCgroup: without a unit configured, the first PID
// trusted teaches the service's cgroup; a PID in another cgroup is refused
// afterwards. Moving a process to another cgroup needs root and a writable
// cgroup hierarchy.
func TestRestartRefusesAnotherCgroup(t *testing.T) {
	svc := startService(t, "1.0")
	s, err := New(Input{PIDFile: svc.pidFile(), HealthURL: svc.url("/healthz"), VersionURL: svc.url("/version"),
		Timeout: 30 * time.Second, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc.write(t, "version", "2.0")
	pid, err := s.Restart(t.Context(), "2.0")
	if err != nil {
		t.Fatal(err)
	}
	victim := startVictim(t)
	moveToNewCgroup(t, victim.Process.Pid)
	svc.write(t, "pid", strconv.Itoa(victim.Process.Pid))
	// The service's cleanup finds its current generation in the file.
	defer svc.write(t, "pid", strconv.Itoa(pid))
	_, err = restartWithin(t, s, svc.pidFile(), 10*time.Second)
	if !errors.Is(err, ErrNotService) || !strings.Contains(err.Error(), "the service in") {
		t.Fatalf("Restart: %v, want ErrNotService for another cgroup", err)
	}
	if !restart.Alive(victim.Process.Pid) {
		t.Error("the victim process was signalled")
	}
}

// moveToNewCgroup moves pid into a new cgroup of the hierarchy systemd
// tracks processes by, until the test ends.
func moveToNewCgroup(t *testing.T, pid int) {
	t.Helper()
	root := "/sys/fs/cgroup" // cgroup v2 alone
	if self, err := os.ReadFile("/proc/self/cgroup"); err == nil && strings.Contains(string(self), ":name=systemd:") {
		root = "/sys/fs/cgroup/systemd" // legacy or hybrid
	}
	dir, err := os.MkdirTemp(root, "debfleet-test-")
	if err != nil {
		t.Skipf("cannot make a cgroup (needs root and a writable hierarchy): %v", err)
	}
	move := func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
	}
	t.Cleanup(func() {
		// Back where it came from, so that the cgroup is empty.
		if err := move(root); err != nil {
			t.Error(err)
		}
		if err := os.Remove(dir); err != nil {
			t.Error(err)
		}
	})
	if err := move(dir); err != nil {
		t.Fatal(err)
	}
	if got := inspect(pid, 0).Cgroup; got != "/"+filepath.Base(dir) {
		t.Fatalf("process %d is in cgroup %q after the move to %s", pid, got, dir)
	}
}
