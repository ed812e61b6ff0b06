package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
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
	// A staged rollout, as for a package: the policy goes into the
	// signed manifest.
	out = run("publish", "--kind", "config", "--package", "hello", "--version", "v2", "--sign-key", key+".key",
		"--rollout", "50%,100%", "--wave-interval", "10m", "--halt-after", "1", writeConfig(t, dir, "2"), ch)
	if !strings.Contains(out, "published config of hello, version v2 (signed by key") || !strings.Contains(out, "last wave from") {
		t.Errorf("staged publish: %s", out)
	}
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
	head, err := c.S3().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("hello/staging.env")})
	if err != nil || aws.ToString(head.ContentType) != "text/plain" {
		t.Errorf("a configuration is served as %q (%v), want text/plain", aws.ToString(head.ContentType), err)
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

// TestConfigPublishRefuses: every refusal happens before any request
// reaches S3, says what to fix by line and key, and never shows a value.
func TestConfigPublishRefuses(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.env"
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := writeConfig(t, dir, "1")
	pw := "DB_PASSWORD=" + secretValue
	cfg := []string{"publish", "--kind", "config", "--package", "hello"}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unterminated quote", append(cfg, file("a.env", "A=1\n\nDB_PASSWORD=\""+secretValue+"\n"), dst), 1, "a.env:3: DB_PASSWORD: unterminated double quote"},
		{"text after a quote", append(cfg, file("b.env", "DB_PASSWORD='x' "+secretValue+"\n"), dst), 1, "b.env:1: DB_PASSWORD: text after the closing quote"},
		{"a secret without its name", append(cfg, file("c.env", "A=1\n"+secretValue+"\n"), dst), 1, "c.env:2: want KEY=VALUE"},
		{"a key set twice", append(cfg, file("d.env", pw+"\nA=1\n"+pw+"\n"), dst), 1, "d.env:3: DB_PASSWORD is set again (first on line 1)"},
		{"no assignment", append(cfg, file("e.env", "# nothing yet\n"), dst), 1, "no KEY=VALUE line"},
		{"too large", append(cfg, file("f.env", pw+"\n"+strings.Repeat("# padding\n", 7000)), dst), 1, "more than 64 KiB"},
		{"a directory", append(cfg, dir, dst), 1, "not a regular file"},
		{"check-cmd refuses, printing the file", append(cfg, "--check-cmd", `cat "$1"; echo "bad setting" >&2; exit 3`, good, dst), 1,
			"--check-cmd failed, nothing uploaded: the check command refused the configuration: exit status 3; its output, the file's values redacted:\n    # hello's settings\n    HELLO_GREETING=\"[value of HELLO_GREETING]\"\n    DB_PASSWORD='[value of DB_PASSWORD]'\n    bad setting"},
		{"check-cmd times out", append(cfg, "--check-cmd", "sleep 60", "--check-timeout", "200ms", good, dst), 1, "no answer within 200ms, killed"},
		{"check-cmd does not see credentials", append(cfg, "--check-cmd", `test -z "$AWS_SECRET_ACCESS_KEY$AWS_ACCESS_KEY_ID" || { echo leaked; exit 1; }; false`, good, dst), 1, "exit status 1"},
		{"no --package", []string{"publish", "--kind", "config", good, dst}, 2, "--kind config needs --package"},
		{"bad --package", append(cfg[:4:4], "Hello World", good, dst), 2, "want a service's name"},
		{"bad --version", append(cfg, "--version", "1 0", good, dst), 2, `--version "1 0": want letters`},
		{"unknown kind", []string{"publish", "--kind", "rpm", good, dst}, 2, `--kind "rpm": want deb or config`},
		{"config flags on a deb", []string{"publish", "--version", "1", "--check-cmd", "true", good, dst}, 2, "only go with --kind config"},
		{"unknown --sse", append(cfg, "--sse", "aws:fms", good, dst), 2, `server-side encryption "aws:fms"`},
		{"--kms-key-id without --sse", append(cfg, "--kms-key-id", "alias/x", good, dst), 2, "needs server-side encryption aws:kms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := relRun(t, tt.args...)
			noSecret(t, "the refusal", out, errs)
			if strings.Contains(errs, "leaked") {
				t.Errorf("the check command saw AWS credentials: %s", errs)
			}
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, want %d; stderr %q should mention %q", code, tt.code, errs, tt.want)
			}
		})
	}
	if h := relHistory(t, dst); len(h) != 0 {
		t.Errorf("something was uploaded: %+v", h)
	}
	// The same file with a passing check goes up.
	out := mustRun(t, append(cfg, "--check-cmd", `grep -q '^DB_PASSWORD=' "$1"`, good, dst)...)
	noSecret(t, "publish", out)
	if h := relHistory(t, dst); len(h) != 1 {
		t.Errorf("after a passing check: %+v", h)
	}
}

// TestConfigPublishSSE: --sse and --kms-key-id reach S3's PutObject, the
// output names the encryption, and an unsigned encrypted configuration
// is warned about.
func TestConfigPublishSSE(t *testing.T) {
	srv := relS3(t)
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	var mu sync.Mutex
	var puts []string
	proxy.SetFault(realparts.Fault{Before: func(r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			defer mu.Unlock()
			puts = append(puts, r.Header.Get("X-Amz-Server-Side-Encryption")+" "+r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
		}
	}})
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.env"
	code, out, errs := relRun(t, "publish", "--endpoint", proxy.URL, "--kind", "config", "--package", "hello",
		"--sse", "aws:kms", "--kms-key-id", "alias/hello-config", writeConfig(t, t.TempDir(), "1"), dst)
	noSecret(t, "publish", out, errs)
	if code != 0 || !strings.Contains(out, "encrypted aws:kms (key alias/hello-config)") || !strings.Contains(errs, "encrypted with KMS but unsigned") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
	// What a configuration publish costs: the bucket's versioning, the
	// channel's HEAD, one PUT.
	var reqs []string
	for _, r := range proxy.Requests() {
		reqs = append(reqs, r.Method+" "+r.Kind)
	}
	if strings.Join(reqs, ", ") != "GET list, HEAD release, PUT release" {
		t.Errorf("requests: %q", reqs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(puts) != 1 || puts[0] != "aws:kms alias/hello-config" {
		t.Errorf("PUTs sent encryption %q", puts)
	}
}
