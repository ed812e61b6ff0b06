package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/release"
)

// multiHost is the one container of TestAgentsOnSystemd: two services,
// hello and hello-b, and the agent itself, each followed by its own
// autoupdate@NAME instance on its own channel.
type multiHost struct {
	*cluster
	c        *container
	channels map[string]release.Address // by instance name
	addrs    map[string]string          // by service
	agentV   [2]string                  // installed agent version, and the release's
}

// instances are the autoupdate@ instances, named for what they follow.
var instances = []string{"hello", "hello-b", "agent"}

// TestAgentsOnSystemd: one server runs hello, hello-b and the agent, each
// followed by its own autoupdate@NAME. hello's bad release (its health
// check fails for healthTimeout, then it rolls back) does not delay
// hello-b's release, published meanwhile, nor touch hello-b on rollback.
// Then a new release of the agent itself is installed by autoupdate@agent:
// the postinst restarts every instance without blocking the dpkg run that
// called it, the restarted agent finishes the install and reports it, the
// services stay on their versions, and a hello-b release published right
// after the agent's is installed too.
func TestAgentsOnSystemd(t *testing.T) {
	rootfs, agentDeb := inputs(t)
	start := time.Now()
	h := &multiHost{cluster: setUp(t, agentDeb), channels: map[string]release.Address{}, addrs: map[string]string{}}
	h.buildReleases(agentDeb)
	root := unpackRoot(t, rootfs, h.work)
	h.c = boot(t, root, "e2e-multi", filepath.Join(h.work, "shared"))
	h.install()
	t.Logf("set up and booted in %v", time.Since(start).Round(100*time.Millisecond))

	h.firstReleases()
	h.badReleaseBeside()
	h.agentRelease()
	t.Logf("whole test: %v", time.Since(start).Round(100*time.Millisecond))
}

// buildReleases builds hello-b's releases (setUp built hello's) and an
// agent release: the autoupdate package rebuilt with a newer version.
func (h *multiHost) buildReleases(agentDeb string) {
	t := h.t
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		b := demo.Hello{Repo: h.repo, Pkgdeb: filepath.Join(h.repo, "bin/pkgdeb"), Dir: filepath.Join(h.work, "debs"),
			Version: v, Env: h.env, Name: "hello-b"}
		deb, err := b.Build(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		h.debs["hello-b "+v] = deb
	}
	out, err := exec.Command("dpkg-deb", "--field", agentDeb, "Version").Output()
	if err != nil {
		t.Fatalf("dpkg-deb --field %s Version: %v", agentDeb, err)
	}
	h.agentV = [2]string{strings.TrimSpace(string(out)), strings.TrimSpace(string(out)) + "+e2e1"}
	h.debs["agent"] = h.buildAgent(h.agentV[1])
	for _, name := range instances {
		h.channels[name] = release.Address{Bucket: h.channel.Bucket, Key: name + "/production.deb"}
	}
}

// buildAgent builds the autoupdate package at version as make package
// does, from a copy of the packaging tree with a binary stamped with
// that version.
func (h *multiHost) buildAgent(version string) string {
	t := h.t
	src := filepath.Join(h.work, "agent-src")
	for _, dir := range []string{"packaging", "systemd", "upstart"} {
		if err := os.CopyFS(filepath.Join(src, dir), os.DirFS(filepath.Join(h.repo, dir))); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", filepath.Join(src, "bin/autoupdate"), "./cmd/autoupdate")
	build.Dir, build.Env = h.repo, append(append([]string(nil), h.env...), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build autoupdate %s: %v\n%s", version, err, out)
	}
	out := h.pkgdeb("build", "-f", filepath.Join(src, "packaging/autoupdate/pkgdeb.yaml"), "--version", version,
		"--file", filepath.Join(src, "systemd/autoupdate.service")+":/usr/lib/systemd/system/autoupdate.service",
		"--file", filepath.Join(src, "systemd/autoupdate@.service")+":/usr/lib/systemd/system/autoupdate@.service",
		"-o", filepath.Join(h.work, "debs")+"/")
	path, _, _ := strings.Cut(strings.TrimSpace(out), " ")
	return path
}

// install sets the server up as an operator would: dpkg -i of the agent,
// one settings file per instance, systemctl enable --now of the three.
func (h *multiHost) install() {
	t, c := h.t, h.c
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _ := c.run(ctx, nil, "journalctl", "--no-pager", "-n", "150", "-u", "autoupdate@*", "-u", "hello", "-u", "hello-b")
			t.Logf("%s's journal (autoupdate@*, hello, hello-b):\n%s", c.name, out)
		}
	})
	c.must(t, "dpkg", "-i", "/mnt/e2e/autoupdate.deb")
	c.write(t, "/etc/autoupdate/credentials", "0600", strings.Join(h.creds, "\n")+"\n")
	c.must(t, "install", "-D", "-m", "0644", "/mnt/e2e/release.pub", "/etc/autoupdate/release.pub")
	common := fmt.Sprintf("AUTOUPDATE_ENDPOINT=%s\nAUTOUPDATE_REGION=%s\nAUTOUPDATE_INTERVAL=1s\nAUTOUPDATE_PUBLIC_KEY=/etc/autoupdate/release.pub\n", h.endpoint, h.region)
	for _, svc := range []string{"hello", "hello-b"} {
		addr, err := realparts.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		h.addrs[svc] = addr
		c.write(t, "/etc/systemd/system/"+svc+".service.d/listen.conf", "0644", fmt.Sprintf(
			"[Service]\nExecStart=\nExecStart=/usr/bin/%s --pidfile /run/%s/%s.pid --listen %s\n", svc, svc, svc, addr))
		c.write(t, "/etc/autoupdate/"+svc+".conf", "0644", fmt.Sprintf(`AUTOUPDATE_SOURCE=%s
AUTOUPDATE_PACKAGE=%s
AUTOUPDATE_PIDFILE=/run/%s/%s.pid
AUTOUPDATE_SERVICE_UNIT=%s.service
AUTOUPDATE_HEALTH_URL=http://%s/healthz
AUTOUPDATE_EXPECT_VERSION=http://%s/version
AUTOUPDATE_HEALTH_TIMEOUT=%s
%s`, h.channels[svc], svc, svc, svc, svc, addr, addr, healthTimeout, common))
	}
	// The agent's own channel: no PID file, no health URL (see
	// autoupdate(8), "Updating the agent itself").
	c.write(t, "/etc/autoupdate/agent.conf", "0644", fmt.Sprintf("AUTOUPDATE_SOURCE=%s\nAUTOUPDATE_PACKAGE=autoupdate\n%s", h.channels["agent"], common))
	c.must(t, "systemctl", "daemon-reload")
	args := []string{"systemctl", "enable", "--now"}
	for _, name := range instances {
		args = append(args, "autoupdate@"+name)
	}
	c.must(t, args...)
	for _, name := range instances {
		if got := c.show(t, "autoupdate@"+name, "ActiveState"); got["ActiveState"] != "active" {
			t.Fatalf("autoupdate@%s is %v after systemctl enable --now", name, got)
		}
	}
	if got := c.show(t, "autoupdate", "ActiveState")["ActiveState"]; got != "inactive" {
		t.Errorf("the single autoupdate.service is %s with no /etc/default/autoupdate settings, want inactive", got)
	}
}

// firstReleases publishes hello and hello-b 1.0.0: each instance installs
// its own.
func (h *multiHost) firstReleases() {
	t := h.t
	h.publishTo("hello", h.debs["1.0.0"])
	h.publishTo("hello-b", h.debs["hello-b 1.0.0"])
	for _, svc := range []string{"hello", "hello-b"} {
		h.waitFor(svc, "ok 1.0.0", func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == "1.0.0" })
		h.checkService(svc, "1.0.0")
	}
	t.Log("hello and hello-b 1.0.0 installed, each by its own instance")
}

// badReleaseBeside publishes hello's broken 1.2.0, then hello-b 1.1.0
// once hello's dpkg run is over and its health check runs: hello-b must
// be installed and healthy while hello still checks, and stay so through
// hello's rollback.
func (h *multiHost) badReleaseBeside() {
	t := h.t
	h.publishTo("hello", h.debs["1.2.0"])
	h.waitCond("dpkg to install hello 1.2.0", func() bool { return h.dpkgVersion("hello") == "1.2.0" })
	h.publishTo("hello-b", h.debs["hello-b 1.1.0"])
	h.waitFor("hello-b", "ok 1.1.0", func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == "1.1.0" })
	// The causality the test is about.
	if st := h.hostStatus("hello"); st.State != fleet.StateInstalling || st.Target == nil || st.Target.Version != "1.2.0" {
		t.Fatalf("when hello-b 1.1.0 was ok, hello was %s (target %+v): want still installing 1.2.0, i.e. hello-b did not wait for hello's health check", st.State, st.Target)
	}
	bPID := h.mainPID("hello-b")
	h.waitFor("hello", "rolled back to 1.0.0", func(st fleet.HostStatus) bool {
		return st.State == fleet.StateRolledBack && st.Version == "1.0.0" && st.Target != nil && st.Target.Version == "1.2.0"
	})
	h.checkService("hello", "1.0.0")
	h.checkService("hello-b", "1.1.0")
	if pid := h.mainPID("hello-b"); pid != bPID {
		t.Errorf("hello-b's main PID changed from %d to %d during hello's rollback", bPID, pid)
	}
	t.Log("hello-b 1.1.0 installed during hello 1.2.0's health check; hello rolled back, hello-b untouched")
}

// agentRelease publishes a new agent release, then hello-b 1.2.0 right
// after: autoupdate@agent installs itself, every instance restarts on the
// new binary, and hello-b 1.2.0 is installed too.
func (h *multiHost) agentRelease() {
	t, c := h.t, h.c
	before := map[string]string{}
	for _, name := range instances {
		before[name] = c.show(t, "autoupdate@"+name, "MainPID")["MainPID"]
	}
	helloPID := h.mainPID("hello")
	cursor := (&server{container: c}).journalCursor(t)
	start := time.Now()
	h.publishTo("agent", h.debs["agent"])
	h.publishTo("hello-b", h.debs["hello-b 1.2.0"])
	h.waitFor("agent", "ok "+h.agentV[1], func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == h.agentV[1] })
	t.Logf("agent %s installed and reported %v after its publish", h.agentV[1], time.Since(start).Round(100*time.Millisecond))
	if v := h.dpkgVersion("autoupdate"); v != h.agentV[1] {
		t.Errorf("dpkg says autoupdate %s, want %s", v, h.agentV[1])
	}
	h.waitFor("hello-b", "ok 1.2.0", func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == "1.2.0" })
	h.checkService("hello-b", "1.2.0")
	h.checkService("hello", "1.0.0")
	if pid := h.mainPID("hello"); pid != helloPID {
		t.Errorf("hello's main PID changed from %d to %d during the agent's upgrade", helloPID, pid)
	}
	for _, name := range instances {
		got := c.show(t, "autoupdate@"+name, "MainPID", "ActiveState", "NRestarts")
		if got["ActiveState"] != "active" || got["MainPID"] == before[name] || got["MainPID"] == "0" {
			t.Errorf("autoupdate@%s after the agent's upgrade: %v, was PID %s: want active on a new PID", name, got, before[name])
		}
		// The new binary runs: its start line names the new version.
		log := c.must(t, "journalctl", "--no-pager", "-u", "autoupdate@"+name, "--after-cursor", cursor)
		if !strings.Contains(log, `msg="autoupdate starting" agent_version=`+h.agentV[1]) {
			t.Errorf("autoupdate@%s did not start on %s after the upgrade:\n%s", name, h.agentV[1], log)
		}
	}
	// A blocking restart from the postinst stalls until systemd kills the
	// agent at TimeoutStopSec (systemd: "State 'stop-sigterm' timed out.
	// Killing.").
	journal := c.must(t, "journalctl", "--no-pager", "-u", "autoupdate@*", "--after-cursor", cursor)
	for _, bad := range []string{"stop-sigterm", "Killing", "SIGKILL"} {
		if strings.Contains(journal, bad) {
			t.Errorf("systemd had to kill an agent during the agent's upgrade (%q):\n%s", bad, journal)
		}
	}
	if out, _ := c.run(h.ctx, nil, "dpkg", "--audit"); strings.TrimSpace(out) != "" {
		t.Errorf("dpkg --audit after the agent's upgrade:\n%s", out)
	}
}

// publishTo publishes the .deb at path, signed, to instance's channel.
func (h *multiHost) publishTo(instance, path string) {
	h.pkgdeb("publish", "--sign-key", filepath.Join(h.work, "shared/release.key"), path, h.channels[instance].String())
}

// waitFor waits until the server's status object on instance's channel
// satisfies done.
func (h *multiHost) waitFor(instance, what string, done func(fleet.HostStatus) bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitLimit)
	defer cancel()
	if _, err := fleet.New(h.rel.Records(), nil).WaitHosts(ctx, h.channels[instance], []string{h.c.name}, 100*time.Millisecond, done, nil); err != nil {
		h.t.Fatalf("autoupdate@%s: %s: %v (status: %+v)", instance, what, err, h.hostStatus(instance))
	}
}

func (h *multiHost) waitCond(what string, cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitLimit)
	defer cancel()
	if err := realparts.WaitFor(ctx, what, cond); err != nil {
		h.t.Fatal(err)
	}
}

// hostStatus reads the server's status object on instance's channel.
func (h *multiHost) hostStatus(instance string) fleet.HostStatus {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	fs, err := fleet.New(h.rel.Records(), nil).ReadStatus(ctx, h.channels[instance])
	if err != nil {
		h.t.Fatalf("status of %s: %v", instance, err)
	}
	for _, st := range fs.Hosts {
		if st.Host == h.c.name {
			return st
		}
	}
	return fleet.HostStatus{State: "no status"}
}

func (h *multiHost) dpkgVersion(pkg string) string {
	out, _ := h.c.run(h.ctx, nil, "dpkg-query", "-W", "-f", "${Version}", pkg)
	return strings.TrimSpace(out)
}

func (h *multiHost) mainPID(svc string) int {
	h.t.Helper()
	pid, err := strconv.Atoi(h.c.show(h.t, svc, "MainPID")["MainPID"])
	if err != nil || pid == 0 {
		h.t.Fatalf("%s has no main PID (%v)", svc, err)
	}
	return pid
}

// checkService checks that svc runs version under systemd.
func (h *multiHost) checkService(svc, version string) {
	h.t.Helper()
	got := h.c.show(h.t, svc, "ActiveState", "SubState")
	if got["ActiveState"] != "active" || got["SubState"] != "running" {
		h.t.Errorf("%s.service is %v, want active/running", svc, got)
	}
	if body, err := get(h.addrs[svc], "/version"); err != nil || strings.TrimSpace(body) != version {
		h.t.Errorf("%s: GET /version = %q (%v), want %s", svc, body, err, version)
	}
	if v := h.dpkgVersion(svc); v != version {
		h.t.Errorf("dpkg says %s %s, want %s", svc, v, version)
	}
}
