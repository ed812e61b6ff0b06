package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// secretValue is in every configuration these tests publish: no output of
// any command may show it.
const secretValue = "s3cr3t-DB-passw0rd-xyzzy"

// writeConfig writes an environment file holding secretValue and a line
// unique to version, and returns its path.
func writeConfig(t *testing.T, dir, version string) string {
	t.Helper()
	path := filepath.Join(dir, "hello-"+version+".env")
	body := "# hello's settings\nHELLO_GREETING=\"hi " + version + "\"\nDB_PASSWORD='" + secretValue + "'\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noSecret fails t when any output holds the configuration's secret.
func noSecret(t *testing.T, what string, outs ...string) {
	t.Helper()
	for _, s := range outs {
		if strings.Contains(s, secretValue) || strings.Contains(s, "passw0rd") {
			t.Errorf("%s shows the configuration's secret:\n%s", what, s)
		}
	}
}

// TestConfigChannel publishes configurations on a channel of their own
// and runs every channel command on it: history, rollback, promote,
// status and wait work as for a package, and none shows the file.
func TestConfigChannel(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	bucket := srv.Bucket(t, true)
	ch := "s3://" + bucket + "/hello/production.env"
	staging := "s3://" + bucket + "/hello/staging.env"
	key := filepath.Join(dir, "ci")
	mustRun(t, "keygen", "--out", key)
	run := func(args ...string) string {
		t.Helper()
		code, out, errs := relRun(t, args...)
		noSecret(t, strings.Join(args[:1], " "), out, errs)
		if code != 0 {
			t.Fatalf("pkgdeb %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}

	out := run("publish", "--kind", "config", "--package", "hello", "--sign-key", key+".key", writeConfig(t, dir, "0"), staging)
	if !strings.Contains(out, "published config of hello, version 20") || !strings.Contains(out, "bytes") {
		t.Errorf("publish with the default version: %s", out)
	}
	run("publish", "--kind", "config", "--package", "hello", "--version", "v1", "--sign-key", key+".key", writeConfig(t, dir, "1"), ch, "--force")
	run("publish", "--kind", "config", "--package", "hello", "--version", "v2", "--sign-key", key+".key", writeConfig(t, dir, "2"), ch)
	// A plain upload of a configuration, as aws s3 cp writes one: history
	// must not read it as a .deb (nor show what it holds).
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.S3().PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("hello/production.env"),
		Body: strings.NewReader("!<arch>\nDB_PASSWORD=" + secretValue + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	table := run("history", ch)
	if !strings.Contains(table, "not read") {
		t.Errorf("history of a config channel with a plain upload:\n%s", table)
	}
	run("rollback", ch, "--to", "v1", "--sign-key", key+".key")
	var h []historyEntry
	if err := json.Unmarshal([]byte(run("history", "--json", ch)), &h); err != nil {
		t.Fatal(err)
	}
	if got := versions(h); got != "v1*  v2 v1" {
		t.Errorf("history after rollback: %q", got)
	}
	if h[0].Kind != release.KindConfig || h[0].Package != "hello" || !h[0].Signed || h[0].Architecture != "" {
		t.Errorf("current entry: %+v", h[0])
	}
	out = run("promote", "--sign-key", key+".key", ch, staging)
	if !strings.Contains(out, "promoted config of hello, version v1") {
		t.Errorf("promote: %s", out)
	}

	// One host runs the promoted configuration: status shows it and wait
	// is done at once.
	stg, _ := release.ParseAddress(staging)
	cur, err := c.Head(t.Context(), stg, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	st := &fleet.HostStatus{Host: "web-1", Package: "hello", State: fleet.StateOK, Since: now, Time: now,
		Version: cur.Manifest.Version, SHA256: cur.Manifest.SHA256, VersionID: cur.VersionID}
	if err := fleet.New(c.Records(), nil).PutStatus(t.Context(), stg, st); err != nil {
		t.Fatal(err)
	}
	out = run("status", staging)
	if !strings.Contains(out, "config of hello v1") || !strings.Contains(out, "web-1") {
		t.Errorf("status:\n%s", out)
	}
	run("wait", "--timeout", "30s", "--interval", "250ms", staging)
}
