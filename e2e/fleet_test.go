package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/demo"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// Environment set by scripts/e2e.
const (
	envRun      = "DEBFLEET_E2E"           // "1" runs the test
	envRootfs   = "DEBFLEET_E2E_ROOTFS"    // the cached root tarball
	envAgentDeb = "DEBFLEET_E2E_AGENT_DEB" // dist/autoupdate_*.deb from make package
)

const (
	containers = 3
	// waitLimit bounds every wait for the fleet; the agents check every
	// second and the broken release takes healthTimeout to give up on.
	waitLimit     = 2 * time.Minute
	healthTimeout = 10 * time.Second
	// configGroup owns hello's config file in each container.
	configGroup = "hello-config"
)

// server is one container and what the test knows about it.
type server struct {
	*container
	addr string // where its hello listens, on the shared loopback
}

// cluster is the test's view of the whole set-up: the containers, their
// channel and the packages published to it.
type cluster struct {
	t       *testing.T
	ctx     context.Context // ends with the test or at Ctrl-C
	repo    string
	work    string
	env     []string
	channel release.Address
	// config is hello's config channel: /etc/default/hello, which
	// hello.service names in EnvironmentFile=.
	config  release.Address
	rel     *release.Client
	debs    map[string]string
	servers []*server
	srv     *testenv.S3Server
	// creds, endpoint and region configure the agents.
	creds            []string
	endpoint, region string
}

func TestFleetOnSystemd(t *testing.T) {
	rootfs, agentDeb := inputs(t)
	start := time.Now()
	f := setUp(t, agentDeb)
	root := unpackRoot(t, rootfs, f.work)
	for i := range containers {
		f.addServer(root, fmt.Sprintf("e2e-%d", i+1))
	}
	t.Logf("set up and booted %d containers in %v", containers, time.Since(start).Round(100*time.Millisecond))

	f.firstRelease()
	f.upgradeUnderLoad()
	f.stopAndStart()
	f.badRelease()
	f.rollbackChannel()
	f.configChange()
	t.Logf("whole test: %v", time.Since(start).Round(100*time.Millisecond))
}

// inputs skips the test unless scripts/e2e runs it, and returns the root
// tarball and the agent package it made.
func inputs(t *testing.T) (rootfs, agentDeb string) {
	t.Helper()
	if os.Getenv(envRun) != "1" {
		t.Skipf("boots systemd containers as root: run make e2e (%s=1)", envRun)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root (systemd-nspawn, dpkg -i in containers)")
	}
	rootfs, agentDeb = os.Getenv(envRootfs), os.Getenv(envAgentDeb)
	if rootfs == "" || agentDeb == "" {
		t.Fatalf("%s and %s must be set (scripts/e2e does)", envRootfs, envAgentDeb)
	}
	return rootfs, agentDeb
}

// setUp starts the S3 server, creates the channel's bucket, a signing key
// and the hello releases.
func setUp(t *testing.T, agentDeb string) *cluster {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.S3(t)
	f := &cluster{t: t, repo: repo, work: t.TempDir(), debs: map[string]string{}, srv: srv}
	// A Ctrl-C ends the waits (and so the test) instead of the test
	// binary, so that the cleanups still stop every container.
	var stop context.CancelFunc
	f.ctx, stop = signal.NotifyContext(t.Context(), os.Interrupt, syscall.SIGTERM)
	t.Cleanup(stop)
	f.channel = release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	f.config = release.Address{Bucket: f.channel.Bucket, Key: "hello/production.env"}
	f.env = append(realparts.DpkgEnv(), srv.Env()...)
	f.env = append(f.env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(time.Now().Unix(), 10))
	if f.rel, err = release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()}); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(f.work, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(agentDeb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "autoupdate.deb"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.pkgdeb("keygen", "--out", filepath.Join(shared, "release"))
	if err := os.Chmod(filepath.Join(shared, "release.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		h := demo.Hello{Repo: repo, Pkgdeb: filepath.Join(repo, "bin/pkgdeb"), Dir: filepath.Join(f.work, "debs"),
			Version: v, Broken: v == "1.2.0", Env: f.env}
		if f.debs[v], err = h.Build(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Static credentials only: an agent that lost them must fail, not
	// ask the instance metadata service of whatever machine runs the test.
	f.creds = []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_EC2_METADATA_DISABLED=true"}
	f.endpoint, f.region = srv.Endpoint, srv.Region
	return f
}

// addServer boots a container and installs and configures the agent in
// it the way an operator would: dpkg -i, /etc/default/autoupdate,
// systemctl enable --now.
func (f *cluster) addServer(root, name string) {
	t := f.t
	c := boot(t, root, name, filepath.Join(f.work, "shared"))
	addr, err := realparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{container: c, addr: addr}
	f.servers = append(f.servers, s)
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _ := c.run(ctx, nil, "journalctl", "--no-pager", "-n", "60", "-u", "autoupdate", "-u", "hello")
			t.Logf("%s's journal (autoupdate, hello):\n%s", name, out)
		}
	})

	c.must(t, "dpkg", "-i", "/mnt/e2e/autoupdate.deb")
	if got := c.show(t, "autoupdate", "UnitFileState", "ActiveState"); got["UnitFileState"] != "enabled" || got["ActiveState"] != "inactive" {
		t.Fatalf("%s: after dpkg -i of an unconfigured agent, autoupdate is %v; want enabled and inactive", name, got)
	}
	// Three containers share the host's network, so each hello needs its
	// own port: a drop-in, as an operator would write. hello runs as a
	// dynamic user: the group lets it read its config file (0640) again
	// at each reload.
	c.must(t, "groupadd", "--system", configGroup)
	c.write(t, "/etc/systemd/system/hello.service.d/listen.conf", "0644", fmt.Sprintf(
		"[Service]\nExecStart=\nExecStart=/usr/bin/hello --pidfile /run/hello/hello.pid --listen %s --env-file -/etc/default/hello\nSupplementaryGroups=%s\n",
		addr, configGroup))
	// No instance role here: static credentials go in the file the shipped
	// unit reads besides /etc/default/autoupdate.
	c.write(t, "/etc/autoupdate/credentials", "0600", strings.Join(f.creds, "\n")+"\n")
	c.must(t, "install", "-D", "-m", "0644", "/mnt/e2e/release.pub", "/etc/autoupdate/release.pub")
	c.write(t, "/etc/default/autoupdate", "0644", fmt.Sprintf(`# written by the debfleet end-to-end test
AUTOUPDATE_SOURCE=%s
AUTOUPDATE_PACKAGE=hello
AUTOUPDATE_ENDPOINT=%s
AUTOUPDATE_REGION=%s
AUTOUPDATE_INTERVAL=1s
AUTOUPDATE_PIDFILE=/run/hello/hello.pid
AUTOUPDATE_HEALTH_URL=http://%s/healthz
AUTOUPDATE_EXPECT_VERSION=http://%s/version
AUTOUPDATE_HEALTH_TIMEOUT=%s
AUTOUPDATE_PUBLIC_KEY=/etc/autoupdate/release.pub
AUTOUPDATE_SERVICE_UNIT=hello.service
AUTOUPDATE_RELOAD_CMD='systemctl reload hello'
AUTOUPDATE_CONFIG_SOURCE=%s
AUTOUPDATE_CONFIG_PATH=/etc/default/hello
AUTOUPDATE_CONFIG_MODE=0640
AUTOUPDATE_CONFIG_GROUP=%s
`, f.channel, f.endpoint, f.region, addr, addr, healthTimeout, f.config, configGroup))
	c.must(t, "systemctl", "daemon-reload")
	c.must(t, "systemctl", "enable", "--now", "autoupdate")
	if got := c.show(t, "autoupdate", "ActiveState", "SubState"); got["ActiveState"] != "active" {
		t.Fatalf("%s: autoupdate is %v after systemctl enable --now", name, got)
	}
}

// firstRelease publishes 1.0.0: every container installs it with dpkg and
// systemd starts hello (Type=notify).
func (f *cluster) firstRelease() {
	t := f.t
	start := f.publish("1.0.0")
	f.wait(func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == "1.0.0" })
	t.Logf("1.0.0 installed on every container %v after the publish", time.Since(start).Round(100*time.Millisecond))
	for _, s := range f.servers {
		s.checkHello(t, "1.0.0")
		if typ := s.show(t, "hello", "Type")["Type"]; typ != "notify" {
			t.Errorf("%s: hello.service is Type=%s, want notify", s.name, typ)
		}
	}
}

// upgradeUnderLoad publishes 1.1.0 while the host loads every hello: no
// request may fail, and systemd must follow the new main PID.
func (f *cluster) upgradeUnderLoad() {
	t := f.t
	old := map[string]int{}
	for _, s := range f.servers {
		old[s.name] = s.mainPID(t)
	}
	load := demo.StartLoad(f.ctx, f.addrs(), 2, waitLimit)
	time.Sleep(500 * time.Millisecond)
	start := f.publish("1.1.0")
	f.wait(func(st fleet.HostStatus) bool { return st.State == fleet.StateOK && st.Version == "1.1.0" })
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	f.checkLoad(load.Stop(), "1.1.0 rollout")
	t.Logf("1.1.0 running on every container %v after the publish", took.Round(100*time.Millisecond))
	for _, s := range f.servers {
		pid := s.checkHello(t, "1.1.0")
		if pid == old[s.name] {
			t.Errorf("%s: hello's main PID is still %d after the upgrade", s.name, pid)
		}
		status := s.must(t, "systemctl", "status", "--no-pager", "--lines=0", "hello")
		if !strings.Contains(status, "active (running)") || !strings.Contains(status, fmt.Sprintf("Main PID: %d ", pid)) {
			t.Errorf("%s: systemctl status hello does not show active (running) with main PID %d:\n%s", s.name, pid, status)
		}
	}
}

// stopAndStart checks that systemctl stops the upgraded hello cleanly (it
// follows the PID that changed), starts it again and reloads it.
func (f *cluster) stopAndStart() {
	t := f.t
	for _, s := range f.servers {
		cursor := s.journalCursor(t)
		s.must(t, "systemctl", "stop", "hello")
		got := s.show(t, "hello", "ActiveState", "Result")
		if got["ActiveState"] != "inactive" || got["Result"] != "success" {
			t.Errorf("%s: after systemctl stop, hello is %v; want inactive with result success", s.name, got)
		}
		// Clean means SIGTERM and a drain, not systemd's SIGKILL.
		journal := s.must(t, "journalctl", "--no-pager", "-u", "hello", "--after-cursor", cursor)
		if strings.Contains(journal, "SIGKILL") || !strings.Contains(journal, "msg=drained") {
			t.Errorf("%s: systemctl stop hello did not stop it cleanly (want SIGTERM and a drain, no SIGKILL):\n%s", s.name, journal)
		}
		if body, err := get(s.addr, "/version"); err == nil {
			t.Errorf("%s: hello still answers after systemctl stop: %q", s.name, body)
		}
		s.must(t, "systemctl", "start", "hello")
		pid := s.checkHello(t, "1.1.0")

		// What an operator (or AUTOUPDATE_RELOAD_CMD) does by hand: the
		// same socket hand-off, through the unit's ExecReload.
		if _, err := s.run(f.ctx, nil, "systemctl", "reload", "hello"); err != nil {
			t.Errorf("%v(the journal below says why)", err)
			continue
		}
		ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
		err := realparts.WaitFor(ctx, s.name+"'s new main PID after systemctl reload", func() bool {
			got := s.show(t, "hello", "MainPID")["MainPID"]
			return got != strconv.Itoa(pid) && got != "0"
		})
		cancel()
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		s.checkHello(t, "1.1.0")
	}
}

// badRelease publishes a 1.2.0 whose binary dies before it is ready: every
// container must roll back to 1.1.0 by itself, without failing a request.
func (f *cluster) badRelease() {
	t := f.t
	load := demo.StartLoad(f.ctx, f.addrs(), 2, waitLimit)
	time.Sleep(500 * time.Millisecond)
	start := f.publish("1.2.0")
	fs := f.wait(func(st fleet.HostStatus) bool {
		return st.State == fleet.StateRolledBack && st.Version == "1.1.0" && st.Target != nil && st.Target.Version == "1.2.0"
	})
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	f.checkLoad(load.Stop(), "bad 1.2.0 and its rollback")
	t.Logf("every container rolled back from 1.2.0 %v after the publish: %s", took.Round(100*time.Millisecond), fs.Describe())
	for _, s := range f.servers {
		s.checkHello(t, "1.1.0")
		if v := s.dpkgVersion(t); v != "1.1.0" {
			t.Errorf("%s: dpkg says hello %s is installed after the rollback, want 1.1.0", s.name, v)
		}
	}
}

// rollbackChannel rolls the channel back to 1.1.0 with pkgdeb: the fleet
// converges, and pkgdeb status agrees with what the containers run.
func (f *cluster) rollbackChannel() {
	t := f.t
	f.pkgdeb("rollback", f.channel.String(), "--to", "previous", "--sign-key", filepath.Join(f.work, "shared/release.key"))
	var st fleetStatus
	ctx, cancel := context.WithTimeout(f.ctx, waitLimit)
	defer cancel()
	err := realparts.WaitFor(ctx, "pkgdeb status to report convergence", func() bool {
		st = f.status()
		return st.Converged
	})
	if err != nil {
		t.Fatalf("%v; last status: %+v", err, st)
	}
	if st.Current.Version != "1.1.0" {
		t.Errorf("pkgdeb status: the channel's current version is %q, want 1.1.0", st.Current.Version)
	}
	if len(st.Hosts) != len(f.servers) {
		t.Errorf("pkgdeb status lists %d hosts, want %d: %+v", len(st.Hosts), len(f.servers), st.Hosts)
	}
	for _, h := range st.Hosts {
		var s *server
		for _, x := range f.servers {
			if x.name == h.Host {
				s = x
			}
		}
		if s == nil {
			t.Errorf("pkgdeb status lists an unknown host %q", h.Host)
			continue
		}
		if v := s.dpkgVersion(t); h.Version != v || !h.OnCurrent {
			t.Errorf("pkgdeb status says %s runs %s (on current: %v); dpkg in the container says %s", h.Host, h.Version, h.OnCurrent, v)
		}
		if body, err := get(s.addr, "/version"); err != nil || strings.TrimSpace(body) != h.Version {
			t.Errorf("pkgdeb status says %s runs %s; its hello answers %q (%v)", h.Host, h.Version, body, err)
		}
	}
}

// fleetStatus is the part of `pkgdeb status --json` the test checks.
type fleetStatus struct {
	Converged bool `json:"converged"`
	Current   struct {
		Version string `json:"version"`
	} `json:"current"`
	Hosts []struct {
		Host      string `json:"host"`
		Version   string `json:"version"`
		State     string `json:"state"`
		OnCurrent bool   `json:"on_current"`
		Config    *struct {
			Version string `json:"version"`
		} `json:"config"`
	} `json:"hosts"`
}

// status runs pkgdeb status --json (its exit status is 1 until the fleet
// converges, which is not an error here).
func (f *cluster) status() fleetStatus {
	cmd := exec.CommandContext(f.ctx, filepath.Join(f.repo, "bin/pkgdeb"), "status", "--json", f.channel.String())
	cmd.Env = f.env
	out, _ := cmd.Output()
	var st fleetStatus
	if err := json.Unmarshal(out, &st); err != nil {
		f.t.Fatalf("pkgdeb status --json: %v\n%s", err, out)
	}
	return st
}

// checkHello checks that hello runs version under systemd, with the PID
// file and systemd agreeing on its main PID, and returns that PID.
func (s *server) checkHello(t *testing.T, version string) int {
	t.Helper()
	got := s.show(t, "hello", "ActiveState", "SubState")
	if got["ActiveState"] != "active" || got["SubState"] != "running" {
		t.Errorf("%s: hello.service is %v, want active/running", s.name, got)
	}
	pid := s.mainPID(t)
	file := strings.TrimSpace(s.must(t, "cat", "/run/hello/hello.pid"))
	if strconv.Itoa(pid) != file {
		t.Errorf("%s: systemd's main PID is %d, hello's PID file says %s", s.name, pid, file)
	}
	if body, err := get(s.addr, "/version"); err != nil || strings.TrimSpace(body) != version {
		t.Errorf("%s: GET /version = %q (%v), want %s", s.name, body, err, version)
	}
	return pid
}

// journalCursor returns the journal's current position, to read what a
// step logged.
func (s *server) journalCursor(t *testing.T) string {
	t.Helper()
	out := s.must(t, "journalctl", "--no-pager", "-n", "0", "--show-cursor")
	_, cursor, ok := strings.Cut(out, "-- cursor: ")
	if !ok {
		t.Fatalf("%s: no cursor in journalctl --show-cursor output %q", s.name, out)
	}
	return strings.TrimSpace(cursor)
}

func (s *server) mainPID(t *testing.T) int {
	t.Helper()
	pid, err := strconv.Atoi(s.show(t, "hello", "MainPID")["MainPID"])
	if err != nil || pid == 0 {
		t.Fatalf("%s: hello has no main PID (%v)", s.name, err)
	}
	return pid
}

func (s *server) dpkgVersion(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(s.must(t, "dpkg-query", "-W", "-f", "${Version}", "hello"))
}

// publish publishes version's hello, signed, and returns when.
func (f *cluster) publish(version string) time.Time {
	f.pkgdeb("publish", "--sign-key", filepath.Join(f.work, "shared/release.key"), f.debs[version], f.channel.String())
	return time.Now()
}

// wait waits until every container's status object on the package
// channel satisfies done.
func (f *cluster) wait(done func(fleet.HostStatus) bool) *fleet.FleetStatus {
	f.t.Helper()
	return f.waitOn(f.channel, done)
}

// waitOn waits until every container's status object on channel ch
// satisfies done.
func (f *cluster) waitOn(ch release.Address, done func(fleet.HostStatus) bool) *fleet.FleetStatus {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, waitLimit)
	defer cancel()
	var names []string
	for _, s := range f.servers {
		names = append(names, s.name)
	}
	fs, err := fleet.New(f.rel.Records(), nil).WaitHosts(ctx, ch, names, 100*time.Millisecond, done, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return fs
}

func (f *cluster) addrs() []string {
	var a []string
	for _, s := range f.servers {
		a = append(a, s.addr)
	}
	return a
}

// checkLoad fails the test for any failed request.
func (f *cluster) checkLoad(results []*realparts.LoadResult, phase string) {
	var n int64
	for i, r := range results {
		n += r.Requests
		if r.Failures > 0 || r.Requests == 0 {
			f.t.Errorf("%s during the %s: %d of %d requests failed: %s", f.servers[i].name, phase, r.Failures, r.Requests, demo.Errors(r))
		}
	}
	f.t.Logf("%s: %d requests from the host, zero failed unless reported", phase, n)
}

// pkgdeb runs bin/pkgdeb and fails the test if it fails.
func (f *cluster) pkgdeb(args ...string) string {
	f.t.Helper()
	cmd := exec.CommandContext(f.ctx, filepath.Join(f.repo, "bin/pkgdeb"), args...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("pkgdeb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// get returns the body of a GET to hello from the host.
func get(addr, path string) (string, error) {
	// A fresh connection each time: a pooled one may reach a process
	// that is draining after an upgrade, and show its old version.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}
