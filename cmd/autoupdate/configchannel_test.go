package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestOnceWithConfigChannel: --once with --config-source writes the
// channel's config (signed for its channel) with its mode and group,
// installs the package, and both status objects say so, the package's
// naming the config; no value of the config reaches the log or a status
// object.
func TestOnceWithConfigChannel(t *testing.T) {
	const secret = "cmd-secret-value-1234"
	srv := s3env.Server(t)
	srv.SetEnv(t)
	key, pubPath := newKeyPair(t)
	source := publishDeb(t, srv, testenv.AgentDeb{Package: "hello", Version: "1.0"}, key)
	pkgAddr, err := release.ParseAddress(source)
	if err != nil {
		t.Fatal(err)
	}
	confAddr := release.Address{Bucket: pkgAddr.Bucket, Key: "hello/production.env"}
	body := []byte("HELLO_GREETING=bonjour\nAPI_TOKEN=" + secret + "\n")
	sum := sha256.Sum256(body)
	m := &release.Manifest{Kind: release.KindConfig, Package: "hello", Version: "c1", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)),
		PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "ci@test"}
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(t.Context(), confAddr, release.PublishInput{Body: bytes.NewReader(body), Manifest: m, Key: key}); err != nil {
		t.Fatal(err)
	}
	root := testenv.DpkgRoot(t)
	path := filepath.Join(t.TempDir(), "hello.env")
	args := []string{"--env-file", envFileEmpty(t), "--once", "--state-dir", filepath.Join(t.TempDir(), "state"), "--dpkg-root", root,
		"--host", "web-1", "--public-key", pubPath, "--endpoint", srv.Endpoint, "--region", srv.Region,
		"--source", source, "--package", "hello", "--reload-cmd", "true",
		"--config-source", confAddr.String(), "--config-path", path, "--config-group", "daemon"}
	var stderr bytes.Buffer
	if code := run(t.Context(), args, &stderr, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("autoupdate --once: exit %d\n%s", code, stderr.String())
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("config file: %v (content differs: %v)", err, !bytes.Equal(got, body))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Gid != 1 {
		t.Errorf("config file mode %v gid %d, want 0640 and daemon's (1)", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid)
	}
	pkgStatus := readStatus(t, srv, pkgAddr, "web-1")
	if pkgStatus.Version != "1.0" || pkgStatus.Config == nil || pkgStatus.Config.Version != "c1" || pkgStatus.Config.SHA256 != m.SHA256 {
		t.Errorf("package status: version %q, config %+v; want 1.0 with config c1", pkgStatus.Version, pkgStatus.Config)
	}
	if st := readStatus(t, srv, confAddr, "web-1"); st.State != fleet.StateOK || st.Version != "c1" || st.Package != "hello" {
		t.Errorf("config status: %+v, want ok on c1", st)
	}
	for _, want := range []string{"following a config channel", "config installed", "config_version=c1"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("the config's secret value is in the log")
	}
}

// readStatus reads host's status object on channel, raw, and fails t if
// it holds a config's secret test value.
func readStatus(t *testing.T, srv *testenv.S3Server, channel release.Address, host string) *fleet.HostStatus {
	t.Helper()
	out, err := srv.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(channel.Bucket), Key: aws.String(fleet.StatusAddress(channel, host).Key)})
	if err != nil {
		t.Fatalf("status of %s on %s: %v", host, channel, err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "secret-value") {
		t.Errorf("status object on %s holds the config's secret value", channel)
	}
	var st fleet.HostStatus
	if err := json.Unmarshal(b.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}
