package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

var s3env = testenv.NewS3Env()

func TestMain(m *testing.M) {
	code := m.Run()
	s3env.Close()
	os.Exit(code)
}

// publishDeb builds a small package and publishes it, signed with key when
// not nil, to a new channel on the shared S3 server. It returns the
// channel's address.
func publishDeb(t testing.TB, srv *testenv.S3Server, p testenv.AgentDeb, key *release.SigningKey) string {
	t.Helper()
	addr := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	publishTo(t, srv, addr, p, key)
	return addr.String()
}

// publishTo builds a small package and publishes it to addr, signed with
// key when not nil.
func publishTo(t testing.TB, srv *testenv.S3Server, addr release.Address, p testenv.AgentDeb, key *release.SigningKey) {
	t.Helper()
	path := testenv.BuildAgentDeb(t, p)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := deb.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	m := &release.Manifest{Package: pkg.Control.Package, Version: pkg.Control.Version, Architecture: pkg.Control.Architecture,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "ci@test"}
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		key.SignFor(m, addr)
	}
	if _, err := c.Publish(t.Context(), addr, release.PublishInput{Body: bytes.NewReader(b), Manifest: m}); err != nil {
		t.Fatal(err)
	}
}

// newKeyPair makes a signing key and writes its public half to a file.
func newKeyPair(t *testing.T) (key *release.SigningKey, pubPath string) {
	t.Helper()
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, pubPath, err = release.WriteKeyPair(filepath.Join(t.TempDir(), "release"), key); err != nil {
		t.Fatal(err)
	}
	return key, pubPath
}

// TestOnce runs the command as cloud-init would on a new server: --once
// against a real S3 server and a dpkg sandbox root.
func TestOnce(t *testing.T) {
	srv := s3env.Server(t)
	srv.SetEnv(t)
	key, pubPath := newKeyPair(t)
	source := publishDeb(t, srv, testenv.AgentDeb{Package: "hello", Version: "1.0"}, key)
	root := testenv.DpkgRoot(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	envFile := filepath.Join(t.TempDir(), "autoupdate")
	writeFile(t, envFile, "# as shipped in /etc/default/autoupdate\nAUTOUPDATE_SOURCE="+source+"\nAUTOUPDATE_PACKAGE=hello\n")
	args := []string{"--env-file", envFile, "--once", "--state-dir", stateDir, "--dpkg-root", root, "--host", "web-1",
		"--public-key", pubPath, "--endpoint", srv.Endpoint, "--region", srv.Region}

	var stderr bytes.Buffer
	if code := run(t.Context(), args, &stderr, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("autoupdate --once: exit %d\n%s", code, stderr.String())
	}
	out, err := testenv.Dpkg(t, root, "-s", "hello")
	if err != nil || !strings.Contains(out, "Status: install ok installed") || !strings.Contains(out, "Version: 1.0") {
		t.Fatalf("dpkg -s hello after --once: %v\n%s", err, out)
	}
	fi, err := os.Stat(stateDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, mode %v; want 0700", err, fi.Mode())
	}
	for _, want := range []string{"release installed", "version=1.0", "sha256=", "version_id="} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}

	// A second run finds nothing to do and still succeeds.
	stderr.Reset()
	if code := run(t.Context(), args, &stderr, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("second --once: exit %d\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "installing release") {
		t.Errorf("second --once installed again:\n%s", stderr.String())
	}

	// An agent already running on the state directory: a second one
	// fails clearly instead of racing it.
	d, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stderr.Reset()
	if code := run(t.Context(), args, &stderr, &stderr, func(string) string { return "" }); code != 1 ||
		!strings.Contains(stderr.String(), "locked by another agent") {
		t.Errorf("with the state directory locked: exit %d, %q; want 1 and a clear message", code, stderr.String())
	}
}

// TestOnceRefusesUnsigned: --once exits non-zero when the release cannot be
// installed, so cloud-init stops before the server joins the load balancer.
func TestOnceRefusesUnsigned(t *testing.T) {
	srv := s3env.Server(t)
	srv.SetEnv(t)
	_, pubPath := newKeyPair(t)
	source := publishDeb(t, srv, testenv.AgentDeb{Package: "hello", Version: "1.0"}, nil)
	root := testenv.DpkgRoot(t)
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"--source", source, "--package", "hello", "--once", "--state-dir", t.TempDir(),
		"--dpkg-root", root, "--host", "web-1", "--public-key", pubPath, "--endpoint", srv.Endpoint, "--env-file", os.DevNull},
		&stderr, &stderr, func(string) string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), "not signed") {
		t.Fatalf("exit %d, want 1 with the reason:\n%s", code, stderr.String())
	}
	if out, _ := testenv.Dpkg(t, root, "-s", "hello"); strings.Contains(out, "install ok installed") {
		t.Error("an unsigned release was installed")
	}
}

// TestDaemonStopsOnSignal runs the real binary as a daemon and stops it
// with SIGTERM, as systemd does: it must exit 0 promptly.
func TestDaemonStopsOnSignal(t *testing.T) {
	srv := s3env.Server(t)
	bin, err := realparts.BuildGo(t.Context(), t.TempDir(), "autoupdate", ".", "")
	if err != nil {
		t.Fatal(err)
	}
	source := publishDeb(t, srv, testenv.AgentDeb{Package: "hello", Version: "1.0"}, nil)
	root := testenv.DpkgRoot(t)
	cmd := exec.Command(bin, "--source", source, "--package", "hello", "--state-dir", t.TempDir(), "--dpkg-root", root,
		"--host", "web-1", "--endpoint", srv.Endpoint, "--interval", "100ms", "--env-file", os.DevNull, "--allow-unsigned")
	cmd.Env = append(os.Environ(), srv.Env()...)
	var stderr realparts.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := realparts.WaitFor(ctx, "the daemon to install 1.0", func() bool {
		return strings.Contains(stderr.String(), "release installed")
	}); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after SIGTERM\n%s", stderr.String())
	}
}

// TestInsecureEndpoint: a plain http:// endpoint off loopback, from
// --endpoint, the env file or AWS_ENDPOINT_URL_S3, is refused before any
// request with exit status 2 (systemd does not restart on it) and advice
// naming the setting, unless --insecure-endpoint or its env-file form.
func TestInsecureEndpoint(t *testing.T) {
	srv := s3env.Server(t)
	srv.SetEnv(t)
	source := publishDeb(t, srv, testenv.AgentDeb{Package: "hello", Version: "1.0"}, nil)
	proxy := testenv.StartS3ProxyOffLoopback(t, srv.Endpoint)
	tests := []struct {
		name    string
		args    []string
		envFile string // more lines of the env file
		env     string // AWS_ENDPOINT_URL_S3; "" keeps the loopback server's
		refused bool
	}{
		{"--endpoint", []string{"--endpoint", proxy.URL}, "", "", true},
		{"env file", nil, "AUTOUPDATE_ENDPOINT=" + proxy.URL + "\n", "", true},
		{"AWS_ENDPOINT_URL_S3", nil, "", proxy.URL, true},
		{"--endpoint --insecure-endpoint", []string{"--endpoint", proxy.URL, "--insecure-endpoint"}, "", "", false},
		{"env file, AUTOUPDATE_INSECURE_ENDPOINT", nil, "AUTOUPDATE_ENDPOINT=" + proxy.URL + "\nAUTOUPDATE_INSECURE_ENDPOINT=true\n", "", false},
		{"AWS_ENDPOINT_URL_S3 --insecure-endpoint", []string{"--insecure-endpoint"}, "", proxy.URL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("AWS_ENDPOINT_URL_S3", tt.env)
			}
			envFile := filepath.Join(t.TempDir(), "autoupdate")
			writeFile(t, envFile, "AUTOUPDATE_SOURCE="+source+"\nAUTOUPDATE_PACKAGE=hello\nAUTOUPDATE_ALLOW_UNSIGNED=true\n"+tt.envFile)
			root := testenv.DpkgRoot(t)
			args := append([]string{"--env-file", envFile, "--once", "--state-dir", t.TempDir(), "--dpkg-root", root,
				"--host", "web-1", "--region", srv.Region}, tt.args...)
			before := len(proxy.Requests())
			var stderr bytes.Buffer
			code := run(t.Context(), args, &stderr, &stderr, func(string) string { return "" })
			sent := len(proxy.Requests()) - before
			if !tt.refused {
				if code != 0 || sent == 0 {
					t.Fatalf("exit %d, %d requests through %s; want 0 and the release installed through it\n%s", code, sent, proxy.URL, stderr.String())
				}
				if out, _ := testenv.Dpkg(t, root, "-s", "hello"); !strings.Contains(out, "install ok installed") {
					t.Errorf("hello not installed:\n%s", out)
				}
				return
			}
			if code != 2 || sent != 0 {
				t.Errorf("exit %d, %d requests sent; want 2 and none", code, sent)
			}
			for _, w := range []string{proxy.URL, "plain http:// endpoint off loopback", "(pass --insecure-endpoint, or set AUTOUPDATE_INSECURE_ENDPOINT=true, if you really mean it)"} {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"--env-file", os.DevNull}, 2, "--source is required"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--env-file", os.DevNull, "--source", "s3://b/k", "--package", "p"}, 2, "no --public-key: by default the agent installs only releases signed for its channel"},
		{[]string{"--env-file", os.DevNull, "--source", "s3://b/k", "--package", "p", "--allow-unsigned", "--lifecycle-hook", "launch"}, 2, "--lifecycle-hook completes a launch lifecycle action after --once: give --once too"},
		{[]string{"--help"}, 0, "Usage: autoupdate"},
		{[]string{"--version"}, 0, "autoupdate dev"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		code := run(t.Context(), tt.args, &out, &out, func(string) string { return "" })
		if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
			t.Errorf("autoupdate %q: exit %d %q; want %d and %q", tt.args, code, out.String(), tt.wantCode, tt.wantOut)
		}
	}
}
