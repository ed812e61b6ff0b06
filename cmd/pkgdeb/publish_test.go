package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/testenv"
)

// relDeb builds hello_<version>_amd64.deb in dir with a payload unique to
// version and returns its path.
func relDeb(t *testing.T, dir, version string) string {
	t.Helper()
	path := filepath.Join(dir, "hello_"+version+"_amd64.deb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = deb.Build(context.Background(), f, &deb.Spec{
		Control: deb.Control{Package: "hello", Version: version, Architecture: "amd64",
			Maintainer: "Ops <ops@example.com>", Synopsis: "says hello", Description: "Says hello."},
		Entries: []deb.Entry{{Type: deb.Regular, Dest: "/usr/bin/hello", Mode: 0o755,
			Body: []byte("#!/bin/sh\necho hello " + version + "\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// relRun runs one pkgdeb invocation and returns its exit status and output.
func relRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// relS3 starts an S3 server for t and points the SDK's default chain at it
// through the environment, as a user would.
func relS3(t *testing.T) *testenv.S3Server {
	srv := testenv.S3(t)
	srv.SetEnv(t)
	t.Setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
	return srv
}

func relHistory(t *testing.T, addr string) []historyEntry {
	t.Helper()
	code, out, errs := relRun(t, "history", "--json", addr)
	if code != 0 {
		t.Fatalf("history: %d %s", code, errs)
	}
	var h []historyEntry
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	return h
}

func versions(h []historyEntry) string {
	var s []string
	for _, e := range h {
		v := e.Version
		if e.Current {
			v += "*"
		}
		s = append(s, v)
	}
	return strings.Join(s, " ")
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := relRun(t, args...)
	if code != 0 {
		t.Fatalf("pkgdeb %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestReleaseLifecycle(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	staging := "s3://" + srv.Bucket(t, true) + "/hello/staging.deb"
	prodBucket := srv.Bucket(t, true)
	prod := "s3://" + prodBucket + "/hello/production.deb"
	key := filepath.Join(dir, "ci")
	mustRun(t, "keygen", "--out", key)
	v1, v2 := relDeb(t, dir, "1.0"), relDeb(t, dir, "1.1")

	out := mustRun(t, "publish", "--sign-key", key+".key", v1, staging)
	if !strings.Contains(out, "published hello 1.0") || !strings.Contains(out, "VersionId ") {
		t.Errorf("publish output: %s", out)
	}
	out = mustRun(t, "publish", v1, staging, "--sign-key", key+".key")
	if !strings.Contains(out, "unchanged") {
		t.Errorf("identical re-publish: %s", out)
	}
	if got := versions(relHistory(t, staging)); got != "1.0*" {
		t.Errorf("after identical re-publish: %q", got)
	}
	mustRun(t, "publish", "--force", v1, staging)
	mustRun(t, "publish", "--sign-key", key+".key", v2, staging)
	h := relHistory(t, staging)
	if got := versions(h); got != "1.1* 1.0 1.0" {
		t.Fatalf("history %q", got)
	}
	if !h[0].Signed || h[1].Signed || h[0].GitCommit != "0123456789abcdef0123456789abcdef01234567" || h[0].Publisher == "" || len(h[0].SHA256) != 64 {
		t.Errorf("newest entry %+v, second %+v", h[0], h[1])
	}
	table := mustRun(t, "history", staging)
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[1], "*") {
		t.Errorf("history table:\n%s", table)
	}

	// Promote the signed current release, checking its signature.
	out = mustRun(t, "promote", "--sign-key", key+".key", "--public-key", key+".pub", staging, prod)
	if !strings.Contains(out, "signature by key") || !strings.Contains(out, "re-signed for the destination") || !strings.Contains(out, "promoted hello 1.1") {
		t.Errorf("promote: %s", out)
	}
	ph := relHistory(t, prod)
	if len(ph) != 1 || ph[0].SHA256 != h[0].SHA256 || !ph[0].Signed {
		t.Errorf("production after promote: %+v", ph)
	}
	// Promote an older VersionId.
	mustRun(t, "promote", "--sign-key", key+".key", "--version-id", h[2].VersionID, staging, prod)

	// Rollback, all three --to forms, dry run and re-signing.
	out = mustRun(t, "rollback", staging, "--to", "previous", "--dry-run")
	if !strings.Contains(out, "would restore hello 1.0") {
		t.Errorf("dry run: %s", out)
	}
	if got := versions(relHistory(t, staging)); got != "1.1* 1.0 1.0" {
		t.Errorf("dry run changed history: %q", got)
	}
	mustRun(t, "rollback", staging, "--to", "previous")
	if got := versions(relHistory(t, staging)); got != "1.0* 1.1 1.0 1.0" {
		t.Errorf("after --to previous: %q", got)
	}
	mustRun(t, "rollback", staging, "--to", h[0].VersionID)
	if got := versions(relHistory(t, staging)); got != "1.1* 1.0 1.1 1.0 1.0" {
		t.Errorf("after --to VERSIONID: %q", got)
	}
	out = mustRun(t, "rollback", staging, "--to", "1.0", "--sign-key", key+".key")
	if !strings.Contains(out, "signed by key") {
		t.Errorf("re-signed rollback: %s", out)
	}
	h = relHistory(t, staging)
	if versions(h) != "1.0* 1.1 1.0 1.1 1.0 1.0" || !h[0].Signed || !h[0].PublishedAt.After(h[1].PublishedAt.Add(-time.Second)) {
		t.Errorf("after re-signed --to 1.0: %q, %+v", versions(h), h[0])
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	bucket := srv.Bucket(t, true)
	dst := "s3://" + bucket + "/hello/production.deb"
	notDeb := filepath.Join(dir, "notes.deb")
	os.WriteFile(notDeb, []byte("this is not a debian package\n"), 0o644)
	good := relDeb(t, dir, "1.0")
	data, _ := os.ReadFile(good)
	corrupt := filepath.Join(dir, "corrupt.deb")
	os.WriteFile(corrupt, data[:len(data)-40], 0o644)
	key := filepath.Join(dir, "k")
	mustRun(t, "keygen", "--out", key)
	loose := filepath.Join(dir, "loose.key")
	kb, _ := os.ReadFile(key + ".key")
	os.WriteFile(loose, kb, 0o600)
	os.Chmod(loose, 0o640)
	malformed := filepath.Join(dir, "malformed.key")
	os.WriteFile(malformed, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not a deb", []string{"publish", notDeb, dst}, 1, "not a valid .deb, nothing uploaded"},
		{"corrupt deb", []string{"publish", corrupt, dst}, 1, "nothing uploaded"},
		{"missing file", []string{"publish", filepath.Join(dir, "nope.deb"), dst}, 1, "no such file"},
		{"loose key", []string{"publish", "--sign-key", loose, good, dst}, 1, "chmod 600"},
		{"malformed key", []string{"publish", "--sign-key", malformed, good, dst}, 1, "load signing key"},
		{"bad address", []string{"publish", good, "https://bucket/key"}, 2, "want s3://bucket/key"},
		{"no destination", []string{"publish", good}, 2, "at least one"},
		{"unversioned bucket", []string{"publish", good, "s3://" + srv.Bucket(t, false) + "/x.deb"}, 1, "rollback would be impossible"},
		{"nonexistent bucket", []string{"publish", good, "s3://no-such-bucket-zz9/x.deb"}, 1, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := relRun(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, want %d; stderr %q should mention %q", code, tt.code, errs, tt.want)
			}
		})
	}
	if h := relHistory(t, dst); len(h) != 0 {
		t.Errorf("something was uploaded: %+v", h)
	}
}

func TestPublishMultipleDestinationsOneFails(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	a := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	b := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	bad := "s3://no-such-bucket-zz8/hello/production.deb"
	code, out, errs := relRun(t, "publish", relDeb(t, dir, "1.0"), a, bad, b)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if strings.Count(out, "published hello 1.0") != 2 || !strings.Contains(errs, bad+": FAILED") || !strings.Contains(errs, "failed at 1 of 3") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errs)
	}
	for _, dst := range []string{a, b} {
		if got := versions(relHistory(t, dst)); got != "1.0*" {
			t.Errorf("%s: %q", dst, got)
		}
	}
}

func TestPublishAllowUnversioned(t *testing.T) {
	srv := relS3(t)
	dst := "s3://" + srv.Bucket(t, false) + "/x.deb"
	out := mustRun(t, "publish", "--allow-unversioned", relDeb(t, t.TempDir(), "1.0"), dst)
	if !strings.Contains(out, "published") {
		t.Errorf("%s", out)
	}
}

func TestS3Faults(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	good := relDeb(t, dir, "1.0")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	t.Run("no network", func(t *testing.T) {
		start := time.Now()
		code, _, errs := relRun(t, "publish", "--endpoint", closed, good, dst)
		if code != 1 || !strings.Contains(errs, "cannot reach the S3 endpoint") || !strings.Contains(errs, "connection refused") {
			t.Errorf("exit %d: %s", code, errs)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong-secret")
		code, _, errs := relRun(t, "history", dst)
		if code != 1 || !strings.Contains(errs, "access denied") || strings.Contains(errs, "definitely-wrong-secret") || strings.Contains(errs, srv.AccessKey) {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
	t.Run("no credentials, instance metadata answers 403", func(t *testing.T) {
		// What a laptop or a CI runner outside EC2 sees: the SDK's last
		// resort answers 403, which once read as S3 denying access.
		imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "forbidden", http.StatusForbidden)
		}))
		defer imds.Close()
		testenv.NoCredentials(t, imds.URL)
		code, _, errs := relRun(t, "history", dst)
		if code != 1 || !strings.Contains(errs, "no AWS credentials found") || !strings.Contains(errs, "AWS_PROFILE") || strings.Contains(errs, "access denied") {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
	t.Run("rollback to a version that does not exist", func(t *testing.T) {
		mustRun(t, "publish", good, dst)
		code, _, errs := relRun(t, "rollback", dst, "--to", "9.9")
		if code != 1 || !strings.Contains(errs, `"9.9" is neither a VersionId nor a package version`) {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
	t.Run("promote from an empty channel", func(t *testing.T) {
		code, _, errs := relRun(t, "promote", strings.Replace(dst, "production", "empty", 1), dst)
		if code != 1 || !strings.Contains(errs, "no current release") {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
	t.Run("promote with the wrong public key", func(t *testing.T) {
		other := filepath.Join(dir, "other")
		mustRun(t, "keygen", "--out", other)
		code, _, errs := relRun(t, "promote", "--public-key", other+".pub", dst, strings.Replace(dst, "production", "canary", 1))
		if code != 1 || !strings.Contains(errs, "not signed") {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "release")
	out := mustRun(t, "keygen", "--out", name)
	if !strings.Contains(out, "key id ") {
		t.Errorf("%s", out)
	}
	fi, err := os.Stat(name + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key: %v %v", fi.Mode(), err)
	}
	code, _, errs := relRun(t, "keygen", "--out", name)
	if code != 1 || !strings.Contains(errs, "refusing to overwrite") {
		t.Errorf("second keygen: exit %d %s", code, errs)
	}
	if code, _, _ := relRun(t, "keygen"); code != 2 {
		t.Errorf("keygen without --out: exit %d, want 2", code)
	}
}

func TestReleaseCommandsHelp(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(context.Context, []string, io.Writer, io.Writer) error
	}{
		{"publish", runPublish}, {"history", runHistory}, {"rollback", runRollback}, {"promote", runPromote}, {"keygen", runKeygen},
	} {
		var out, errs bytes.Buffer
		err := c.run(context.Background(), []string{"--help"}, &out, &errs)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s --help: %v", c.name, err)
		}
		help := out.String() + errs.String()
		if !strings.Contains(help, "Usage: pkgdeb "+c.name) || !strings.Contains(help, "Example") {
			t.Errorf("%s --help:\n%s", c.name, help)
		}
	}
}
