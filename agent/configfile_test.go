package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent/dpkg"
	"github.com/debfleet/debfleet/agent/service"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
	"github.com/debfleet/debfleet/restart"
)

// secretValue is in every config the tests publish: it must never appear
// in a log line, a status object or an error.
const secretValue = "s3cr3t-token-value-XYZ"

// configPub is a config release ready to publish: the file's bytes and
// a manifest of kind config for service hello.
func configPub(version, greeting string, extra ...string) pub {
	body := []byte("HELLO_GREETING=" + greeting + "\nAPI_TOKEN=" + secretValue + "\n" + strings.Join(extra, ""))
	sum := sha256.Sum256(body)
	return pub{&release.Manifest{
		Kind: release.KindConfig, Package: "hello", Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)),
		PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "ci@test",
	}, body}
}

// configChannel is the config channel beside ch's package channel, in the
// same bucket, as pkgdeb publishes it.
func configChannel(ch *channel) *channel {
	return &channel{srv: ch.srv, client: ch.client, addr: release.Address{Bucket: ch.addr.Bucket, Key: "hello/production.env"}}
}

// configTarget is a ConfigFile for path with its own state directory,
// reloading the hello that writes pidFile and answers on addr.
func configTarget(t *testing.T, path, pidFile, addr string, logs io.Writer) *ConfigFile {
	t.Helper()
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	log := slog.New(slog.NewTextHandler(logs, nil))
	svc, err := service.New(service.Input{
		PIDFile: pidFile, HealthURL: "http://" + addr + "/healthz", Timeout: 5 * time.Second, Poll: 20 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &ConfigFile{Dir: dir, Path: path, Mode: 0o640, GID: 1, Service: svc, Logger: log}
}

// configAgent follows cch, the config channel, for host.
func configAgent(t *testing.T, cch *channel, host string, f *ConfigFile, logs io.Writer) *Agent {
	t.Helper()
	a, err := New(Config{
		Channel: cch.addr, Releases: cch.client, Fleet: fleetOf(cch.client), Package: "hello", AllowUnsigned: true,
		Host: host, Report: true, Interval: 50 * time.Millisecond, File: f, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a
}

// greeting asks hello at addr for its greeting on a new connection: a
// kept-alive one may reach the process a reload replaced, which answers
// during its drain.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "down: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	g, _, _ := strings.Cut(string(b), " from ")
	return g
}

// helloWithConfigFile installs hello 1.0 (built at bin) from a package
// channel on a new host and starts it reading its settings from
// h.envFile, the file the config channel cch (beside ch) manages.
func helloWithConfigFile(t *testing.T, bin string) (ch, cch *channel, h *host) {
	t.Helper()
	ch = newChannel(t)
	cch = configChannel(ch)
	h = newHost(t)
	h.envFile = filepath.Join(h.root, "etc/hello.conf")
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bin}), time.Now()))
	if err := newAgent(t, h, ch, nil, nil).Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.startService(t)
	return ch, cch, h
}

// checkFile fails t unless path holds want with mode 0640 and group 1.
func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds a different config than expected", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Gid != 1 {
		t.Errorf("%s: mode %v gid %d, want 0640 and gid 1", path, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid)
	}
}

// TestConfigChannel: hello installed from a package channel reads its
// settings from the file a config channel manages. Under load, two config
// releases reach it (each written with its mode and group, hello reloaded
// and answering the new greeting) without one failed request; then a
// package release that ships the same path as a conffile is installed
// and the managed file stays (dpkg --force-confold).
func TestConfigChannel(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	ch := newChannel(t)
	cch := configChannel(ch)
	h := newHost(t)
	h.envFile = filepath.Join(h.root, "etc/hello.conf")
	h.inst.Managed = []string{"/etc/hello.conf"}
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bins["1.0"]}), time.Now()))
	pkg := newAgent(t, h, ch, nil, nil)
	if err := pkg.Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.startService(t)
	var logs realparts.SyncBuffer
	a := configAgent(t, cch, "web-1", configTarget(t, h.envFile, h.pidFile, h.addr, &logs), &logs)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	loadDone := make(chan *realparts.LoadResult, 1)
	go func() {
		loadDone <- realparts.Load(ctx, realparts.LoadOptions{Addr: h.addr, Workers: 4, KeepAlive: true, Duration: time.Minute})
	}()
	for _, p := range []pub{configPub("c1", "bonjour"), configPub("c2", "hola")} {
		cch.publish(t, p)
		if out, err := a.Check(t.Context()); out != OK || err != nil {
			t.Fatalf("config %s: %s, %v; status %+v", p.m.Version, out, err, cch.tryStatus(t, "web-1"))
		}
		checkFile(t, h.envFile, p.body)
		if got, want := greeting(t, h.addr), strings.TrimPrefix(strings.SplitN(string(p.body), "\n", 2)[0], "HELLO_GREETING="); got != want {
			t.Errorf("after config %s hello greets %q, want %q", p.m.Version, got, want)
		}
	}
	cancel()
	if res := <-loadDone; res.Requests < 50 || res.Failures != 0 {
		t.Errorf("%d of %d requests failed across two config reloads: %v", res.Failures, res.Requests, res.Errors)
	}
	if st := cch.status(t, "web-1"); st.State != string(OK) || st.Version != "c2" || st.Package != "hello" {
		t.Errorf("config status: %+v, want ok on c2", st)
	}

	// A package release shipping the managed path as its conffile.
	v2 := testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bins["2.0"], Conffile: "HELLO_GREETING=from-the-package\n"}
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, v2), time.Now()))
	if out, err := pkg.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("package 2.0: %s, %v", out, err)
	}
	checkFile(t, h.envFile, configPub("c2", "hola").body)
	if got := greeting(t, h.addr); got != "hola" || h.serving(t) != "2.0" {
		t.Errorf("after package 2.0: greeting %q on %s, want hola on 2.0", got, h.serving(t))
	}
	if out, err := a.Check(t.Context()); out != "" || err != nil {
		t.Errorf("config check after the package release: %q, %v; want nothing to do", out, err)
	}
	noSecret(t, logs.String(), cch, "web-1")
}

// noSecret fails t if the secret value is in the logs or in host's
// status object on cch.
func noSecret(t *testing.T, logs string, cch *channel, host string) {
	t.Helper()
	if strings.Contains(logs, secretValue) {
		t.Errorf("the config's secret value is in the agent's logs")
	}
	b, err := json.Marshal(cch.status(t, host))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secretValue) {
		t.Errorf("the config's secret value is in the status object")
	}
}

// helloProc runs the hello binary bin on a free address with --env-file
// -envFile, and returns its address and PID file.
func helloProc(t *testing.T, bin, envFile string) (addr, pidFile string) {
	t.Helper()
	addr, err := realparts.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	pidFile = filepath.Join(t.TempDir(), "hello.pid")
	cmd := exec.Command(bin, "--listen", addr, "--pidfile", pidFile, "--env-file", "-"+envFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() {
		if pid, err := restart.ReadPIDFile(pidFile); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := realparts.WaitHTTP(ctx, "http://"+addr+"/healthz"); err != nil {
		t.Fatal(err)
	}
	if err := realparts.WaitFor(ctx, "hello pid file", func() bool { _, err := restart.ReadPIDFile(pidFile); return err == nil }); err != nil {
		t.Fatal(err)
	}
	return addr, pidFile
}

// TestConfigRollbackAndHalt: three hosts on config c1; c2 makes hello
// fail its health check and is published with --max-updating 1
// --halt-after 1. The first host to try it writes it, reloads, sees
// hello unhealthy, puts c1 back, reloads again and marks c2 bad; the
// rollout halts, and the other two never write c2. No secret reaches a
// log, a status object or a failure record.
func TestConfigRollbackAndHalt(t *testing.T) {
	bins := buildHello(t, "1.0")
	ch := newChannel(t)
	cch := configChannel(ch)
	good, bad := configPub("c1", "bonjour"), configPub("c2", "hola", "HELLO_FAIL_HEALTH=1\n")
	cch.publish(t, good)
	type node struct {
		name, addr, path string
		file             *ConfigFile
		agent            *Agent
	}
	var logs realparts.SyncBuffer
	var nodes []*node
	for i := range 3 {
		n := &node{name: fmt.Sprintf("app-%d", i), path: filepath.Join(t.TempDir(), "hello.env")}
		var pidFile string
		n.addr, pidFile = helloProc(t, bins["1.0"], n.path)
		n.file = configTarget(t, n.path, pidFile, n.addr, &logs)
		n.agent = configAgent(t, cch, n.name, n.file, &logs)
		if err := n.agent.Once(t.Context()); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	if err := (fleet.Policy{Waves: []float64{100}, MaxUpdating: 1, HaltAfter: 1}).Apply(bad.m); err != nil {
		t.Fatal(err)
	}
	cch.publish(t, bad)
	for i, n := range nodes {
		out, err := n.agent.Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		st := cch.status(t, n.name)
		want, wantState := Outcome(""), StateHalted
		if i == 0 {
			want, wantState = RolledBack, string(RolledBack)
		}
		if out != want || st.State != wantState || st.Version != "c1" {
			t.Errorf("%s: outcome %q, status %s on %s; want %q, %s on c1 (%+v)", n.name, out, st.State, st.Version, want, wantState, st)
		}
		checkFile(t, n.path, good.body)
		if g := greeting(t, n.addr); g != "bonjour" {
			t.Errorf("%s greets %q, want bonjour", n.name, g)
		}
		noSecret(t, logs.String(), cch, n.name)
	}
	s, err := nodes[0].file.Dir.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsBad(bad.m.SHA256) || s.Installed.Version != "c1" {
		t.Errorf("first host's state: bad %v, installed %+v; want c2 bad, c1 installed", s.Bad, s.Installed)
	}
	failures, err := cch.fleet().ReadFailures(t.Context(), cch.addr, bad.m.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || failures[0].Host != "app-0" || strings.Contains(failures[0].Error, secretValue) {
		t.Errorf("failure records %+v, want one, app-0's, without the secret", failures)
	}
	// Not retried: the next check does nothing.
	if out, err := nodes[0].agent.Check(t.Context()); out != "" || err != nil {
		t.Errorf("second check of the bad config: %q, %v", out, err)
	}
}

// TestConfigKinds: a config channel refuses a package release and
// anything over MaxConfigSize (from the manifest, before downloading);
// a package channel refuses a config release.
func TestConfigKinds(t *testing.T) {
	ch := newChannel(t)
	cch := configChannel(ch)
	path := filepath.Join(t.TempDir(), "hello.env")
	f := configTarget(t, path, filepath.Join(t.TempDir(), "none.pid"), "127.0.0.1:1", io.Discard)
	f.Service = nil
	a := configAgent(t, cch, "web-1", f, io.Discard)
	big := configPub("big", strings.Repeat("x", MaxConfigSize))
	for _, tc := range []struct {
		name, wantErr string
		p             pub
	}{
		{"package on the config channel", "not a config", manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now())},
		{"config for another service", `service "other"`, func() pub { p := configPub("o1", "x"); p.m.Package = "other"; return p }()},
		{"too big", "more than the 1048576", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cch.publish(t, tc.p)
			if out, err := a.Check(t.Context()); out != StateRefused || err != nil {
				t.Fatalf("outcome %q, %v; want refused", out, err)
			}
			if st := cch.status(t, "web-1"); !strings.Contains(st.Error, tc.wantErr) {
				t.Errorf("status error %q, want it to say %q", st.Error, tc.wantErr)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("the refused release was written")
			}
		})
	}
	h := newFleetHost(t, "web-2")
	pkg := h.agent(t, ch, 0, nil)
	ch.publish(t, configPub("c1", "x"))
	if err := pkg.Once(t.Context()); err == nil || !strings.Contains(err.Error(), `"config", not a Debian package`) {
		t.Errorf("package agent on a config release: %v, want a refusal", err)
	}
	// A package that ships the managed path as a plain file: dpkg would
	// overwrite the config channel's file.
	h.inst.Managed = []string{"/usr/bin/hello"}
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"}), time.Now()))
	if err := pkg.Once(t.Context()); err == nil || !strings.Contains(err.Error(), "ships /usr/bin/hello, the file this host's config channel manages, and not as a conffile") {
		t.Errorf("package shipping the managed file: %v, want a refusal", err)
	}
	if q, err := h.inst.Dpkg.Query(t.Context(), "hello"); err != nil || q.Installed() {
		t.Errorf("dpkg: %+v, %v; want hello not installed", q, err)
	}
}

// TestConfigRequests pins what a config channel costs: a config release
// under the default policy is what a package release is (one HEAD, one
// GET by version ID, two status PUTs), and a poll that finds the config
// unchanged is one HEAD. An agent without a config channel makes none of
// these (TestDefaultPolicyRequests).
func TestConfigRequests(t *testing.T) {
	ch := newChannel(t)
	cch := configChannel(ch)
	agents, proxy := cch.proxied(t)
	f := configTarget(t, filepath.Join(t.TempDir(), "hello.env"), filepath.Join(t.TempDir(), "none.pid"), "127.0.0.1:1", io.Discard)
	f.Service = nil
	a := configAgent(t, agents, "web-1", f, io.Discard)
	cch.publish(t, configPub("c1", "bonjour"))
	for _, tc := range []struct {
		name string
		out  Outcome
		want map[string]int
	}{
		{"new config", OK, map[string]int{"HEAD release": 1, "GET release": 1, "PUT status": 2}},
		{"unchanged", "", map[string]int{"HEAD release": 1}},
	} {
		seen := len(proxy.Requests())
		if out, err := a.Check(t.Context()); out != tc.out || err != nil {
			t.Fatalf("%s: %q, %v", tc.name, out, err)
		}
		if got := counts(proxy.Requests()[seen:]); !maps.Equal(got, tc.want) {
			t.Errorf("%s: requests %s, want %s", tc.name, describe(got), describe(tc.want))
		}
	}
}

// TestConfigAndPackageTogether: a package release and a config release
// arrive at once on a host whose agents share one restart lock (Serial):
// both are installed, one restart after the other, hello ends on the new
// version with the new greeting, and no request fails. The package
// agent, running, rewrites its status object with the new config as
// soon as the config agent reports it (Poke).
func TestConfigAndPackageTogether(t *testing.T) {
	bins := buildHello(t, "1.0", "2.0")
	ch, cch, h := helloWithConfigFile(t, bins["1.0"])
	var serial sync.Mutex
	var logs realparts.SyncBuffer
	h.inst.Serial = &serial
	h.inst.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f := configTarget(t, h.envFile, h.pidFile, h.addr, &logs)
	f.Serial = &serial
	var pkg *Agent
	conf, err := New(Config{
		Channel: cch.addr, Releases: cch.client, Fleet: fleetOf(cch.client), Package: "hello", AllowUnsigned: true,
		Host: "web-1", Report: true, Interval: time.Hour, File: f, Logger: slog.New(slog.DiscardHandler),
		Changed: func() { pkg.Poke() },
	})
	if err != nil {
		t.Fatal(err)
	}
	pkg, err = New(Config{
		Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", AllowUnsigned: true,
		Host: "web-1", Report: true, Interval: time.Hour, Installer: h.inst, Logger: slog.New(slog.DiscardHandler),
		ConfigRelease: conf.Installed,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	loadDone := make(chan *realparts.LoadResult, 1)
	go func() {
		loadDone <- realparts.Load(ctx, realparts.LoadOptions{Addr: h.addr, Workers: 4, KeepAlive: true, Duration: time.Minute})
	}()
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bins["2.0"]}), time.Now()))
	c1 := configPub("c1", "bonjour")
	cch.publish(t, c1)
	// The config arrives while dpkg installs 2.0.
	installing := make(chan struct{})
	h.inst.Dpkg = &signalDpkg{Dpkg: h.inst.Dpkg.(*dpkg.Dpkg), installing: installing}
	runDone := make(chan error, 1)
	go func() { runDone <- pkg.Run(ctx) }() // checks at once, then waits an hour
	select {
	case <-installing:
	case <-time.After(30 * time.Second):
		t.Fatal("the package agent did not install 2.0")
	}
	if out, err := conf.Check(t.Context()); out != OK || err != nil {
		t.Errorf("config: %q, %v", out, err)
	}
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	err = realparts.WaitFor(wctx, "the package status naming 2.0 and config c1", func() bool {
		st := ch.tryStatus(t, "web-1")
		return st != nil && st.Version == "2.0" && st.State == string(OK) && st.Config != nil && st.Config.SHA256 == c1.m.SHA256
	})
	if err != nil {
		t.Errorf("%v: %+v", err, ch.tryStatus(t, "web-1"))
	}
	if err := oneAtATime(logs.String()); err != nil {
		t.Error(err)
	}
	if g, v := greeting(t, h.addr), h.serving(t); g != "bonjour" || v != "2.0" {
		t.Errorf("hello greets %q on %s, want bonjour on 2.0", g, v)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("package agent: %v", err)
	}
	if res := <-loadDone; res.Requests < 50 || res.Failures != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failures, res.Requests, res.Errors)
	}
}

// oneAtATime checks in the installer's and the config file's log lines
// that the package install and the config write did not overlap: each
// begins after the other ended.
func oneAtATime(logs string) error {
	var open string
	for _, line := range strings.Split(logs, "\n") {
		for _, ev := range []struct{ begin, end string }{
			{"installing release", "release installed"}, {"writing config", "config installed"},
		} {
			switch {
			case strings.Contains(line, "msg=\""+ev.begin+"\""):
				if open != "" {
					return fmt.Errorf("%q began while %q ran:\n%s", ev.begin, open, logs)
				}
				open = ev.begin
			case strings.Contains(line, "msg=\""+ev.end+"\""):
				open = ""
			}
		}
	}
	return nil
}

// signalDpkg is the real dpkg, closing installing when an install starts.
type signalDpkg struct {
	*dpkg.Dpkg
	installing chan struct{}
	once       sync.Once
}

func (d *signalDpkg) Install(ctx context.Context, path string) error {
	d.once.Do(func() { close(d.installing) })
	return d.Dpkg.Install(ctx, path)
}

// TestConfigRecover: the file found at the path before any config is
// kept, so the first config, bad, is rolled back to it; an unfinished
// write left by a killed agent is removed at start; a path whose
// directory is missing stops the agent from starting, saying so.
func TestConfigRecover(t *testing.T) {
	bins := buildHello(t, "1.0")
	ch := newChannel(t)
	cch := configChannel(ch)
	dir := t.TempDir()
	path := filepath.Join(dir, "hello.env")
	local := []byte("HELLO_GREETING=local\n")
	if err := os.WriteFile(path, local, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, -1, 1); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".hello.env.autoupdate-123")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, pidFile := helloProc(t, bins["1.0"], path)
	a := configAgent(t, cch, "web-1", configTarget(t, path, pidFile, addr, io.Discard), io.Discard)
	if _, err := os.Stat(leftover); err == nil {
		t.Errorf("the unfinished write %s is still there", leftover)
	}
	if st := cch.status(t, "web-1"); st.Version != LocalConfigVersion {
		t.Errorf("status before any config: version %q, want %q", st.Version, LocalConfigVersion)
	}
	bad := configPub("c1", "hola", "HELLO_FAIL_HEALTH=1\n")
	cch.publish(t, bad)
	if out, err := a.Check(t.Context()); out != RolledBack || err != nil {
		t.Fatalf("bad first config: %q, %v; want rolled back", out, err)
	}
	checkFile(t, path, local)
	if g := greeting(t, addr); g != "local" {
		t.Errorf("hello greets %q, want local", g)
	}

	f := configTarget(t, filepath.Join(t.TempDir(), "missing", "hello.env"), pidFile, addr, io.Discard)
	b, err := New(Config{Channel: cch.addr, Releases: cch.client, Fleet: fleetOf(cch.client), Package: "hello", AllowUnsigned: true,
		Host: "web-2", Interval: time.Second, File: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Once(t.Context()); err == nil || !strings.Contains(err.Error(), "missing must exist: create it") {
		t.Errorf("start with a missing directory: %v", err)
	}
}

// TestConfigFollowsRollback: `pkgdeb rollback` of a config channel
// (release.Client.Rollback, here unsigned) puts the earlier file back on
// the host: written with its mode and group, hello reloaded and greeting
// with it, and the status naming the earlier version.
func TestConfigFollowsRollback(t *testing.T) {
	bins := buildHello(t, "1.0")
	_, cch, h := helloWithConfigFile(t, bins["1.0"])
	var logs realparts.SyncBuffer
	a := configAgent(t, cch, "web-1", configTarget(t, h.envFile, h.pidFile, h.addr, &logs), &logs)
	first, second := configPub("c1", "bonjour"), configPub("c2", "hola")
	for _, p := range []pub{first, second} {
		cch.publish(t, p)
		if out, err := a.Check(t.Context()); out != OK || err != nil {
			t.Fatalf("config %s: %s, %v", p.m.Version, out, err)
		}
	}
	if _, err := cch.client.Rollback(t.Context(), cch.addr, release.RollbackInput{To: "c1"}); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("after the rollback to c1: %s, %v; status %+v", out, err, cch.tryStatus(t, "web-1"))
	}
	checkFile(t, h.envFile, first.body)
	if got := greeting(t, h.addr); got != "bonjour" {
		t.Errorf("after the rollback hello greets %q, want bonjour", got)
	}
	if st := cch.status(t, "web-1"); st.State != string(OK) || st.Version != "c1" {
		t.Errorf("config status after the rollback: %+v, want ok on c1", st)
	}
	noSecret(t, logs.String(), cch, "web-1")
}

// TestConfigReloadOutputHidden: a reload command that prints the file it
// reloads and fails on c2 (as a service printing its environment would)
// leaves no value of c1 or c2 in the error, the logs, the status object,
// the kept bad mark or the failure record; the rollback's own reload of
// c1 succeeds.
func TestConfigReloadOutputHidden(t *testing.T) {
	cch := configChannel(newChannel(t))
	path := filepath.Join(t.TempDir(), "hello.env")
	var logs realparts.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	svc, err := service.New(service.Input{
		ReloadCmd: "cat " + path + "; if grep -q BREAK " + path + "; then echo failing >&2; exit 3; fi",
		Timeout:   10 * time.Second, Poll: 20 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	f := &ConfigFile{Dir: dir, Path: path, Mode: 0o640, GID: 1, Service: svc, Logger: log}
	good, bad := configPub("c1", "bonjour"), configPub("c2", "hola", "BREAK=other-secret-value\n")
	cch.publish(t, good)
	a := configAgent(t, cch, "app-0", f, &logs)
	if err := a.Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	cch.publish(t, bad)
	if out, err := a.Check(t.Context()); out != RolledBack || err != nil {
		t.Fatalf("c2: %q, %v; want rolled back", out, err)
	}
	s, err := dir.Load()
	if err != nil {
		t.Fatal(err)
	}
	reason := s.Bad[bad.m.SHA256].Reason
	if !strings.Contains(reason, "failing") || !strings.Contains(reason, hiddenValue) {
		t.Errorf("bad mark's reason %q: want the command's own message, its values hidden", reason)
	}
	for what, text := range map[string]string{"bad mark": reason, "logs": logs.String()} {
		for _, v := range []string{secretValue, "other-secret-value", "bonjour"} {
			if strings.Contains(text, v) {
				t.Errorf("the %s hold the config value %q:\n%s", what, v, text)
			}
		}
	}
	noSecret(t, logs.String(), cch, "app-0")
	failures, err := cch.fleet().ReadFailures(t.Context(), cch.addr, bad.m.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || strings.Contains(failures[0].Error, "other-secret-value") {
		t.Errorf("failure records %+v, want one without a value", failures)
	}
	checkFile(t, path, good.body)
}

// TestEmptyChannelPolledAtInterval: a config channel nothing was published
// on yet (agents set up before the first config) is checked every
// interval at the cost of one HEAD, not backed off towards minutes; the
// first config is then written at the next check.
func TestEmptyChannelPolledAtInterval(t *testing.T) {
	cch := configChannel(newChannel(t))
	agents, proxy := cch.proxied(t)
	f := configTarget(t, filepath.Join(t.TempDir(), "hello.env"), filepath.Join(t.TempDir(), "none.pid"), "127.0.0.1:1", io.Discard)
	f.Service = nil
	a := configAgent(t, agents, "web-1", f, io.Discard)
	for i := range 8 {
		seen := len(proxy.Requests())
		if d := a.cycle(t.Context()); d > a.cfg.Interval+a.cfg.Jitter {
			t.Fatalf("check %d of an empty channel: next in %v, want within the interval %v", i+1, d, a.cfg.Interval)
		}
		if got, want := counts(proxy.Requests()[seen:]), map[string]int{"HEAD release": 1}; !maps.Equal(got, want) {
			t.Errorf("check %d of an empty channel: requests %s, want %s", i+1, describe(got), describe(want))
		}
	}
	cch.publish(t, configPub("c1", "bonjour"))
	a.cycle(t.Context())
	if st := cch.status(t, "web-1"); st.Version != "c1" || st.State != string(OK) {
		t.Errorf("after the first publish: %s on %q, want ok on c1", st.State, st.Version)
	}
}
