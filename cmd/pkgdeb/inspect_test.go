package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
)

// marker is file content the broken-package test finds and damages in an
// uncompressed package.
const marker = "MARKER-0123456789-the-content-md5sums-protects"

// buildPlain builds a small uncompressed package with a marker file, a
// conffile, a symlink, a setuid file and a postinst.
func buildPlain(t *testing.T) string {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	dir := t.TempDir()
	files := map[string]string{"marker.txt": marker, "default": "X=1\n", "postinst": "#!/bin/sh\necho configured\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path, _ := build(t, "--name", "plain", "--version", "1.0-1", "--arch", "all",
		"--maintainer", "Jane Doe <jane@example.com>", "--description", "plain test package\nLong.",
		"--file", filepath.Join(dir, "marker.txt")+":/usr/share/plain/marker.txt",
		"--file", filepath.Join(dir, "marker.txt")+":/usr/lib/plain/helper:4755",
		"--conffile", filepath.Join(dir, "default")+":/etc/default/plain",
		"--symlink", "/usr/share/plain/link:marker.txt",
		"--postinst", filepath.Join(dir, "postinst"),
		"--compression", "none", "-o", dir+"/")
	return path
}

func inspect(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = runInspect(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestInspectText(t *testing.T) {
	path := buildPlain(t)
	out, _, err := inspect(path)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, want := range []string{
		"members: debian-binary (4 bytes), control.tar (", "data.tar (",
		"Package: plain\n", "Version: 1.0-1\n", "Architecture: all\n", "Description: plain test package\n Long.\n",
		"-rw-r--r-- root/root 46 ./usr/share/plain/marker.txt\n",
		"-rwsr-xr-x root/root 46 ./usr/lib/plain/helper\n",
		"lrwxrwxrwx root/root  0 ./usr/share/plain/link -> marker.txt\n",
		"drwxr-xr-x root/root  0 ./etc/default/\n",
		"Conffiles:\n  /etc/default/plain\n",
		"Scripts:\n  postinst (26 bytes)\n",
		"md5sums: OK\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectJSON(t *testing.T) {
	path := buildPlain(t)
	out, _, err := inspect("--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var got inspectJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Control["Package"] != "plain" || got.Control["Version"] != "1.0-1" || got.Fields[0].Name != "Package" {
		t.Errorf("control %v fields %v", got.Control, got.Fields)
	}
	if got.Compression != deb.None || len(got.Members) != 3 || got.Members[0].Name != "debian-binary" {
		t.Errorf("compression %q members %v", got.Compression, got.Members)
	}
	if !got.MD5Sums.Verified || len(got.MD5Sums.Mismatches) != 0 {
		t.Errorf("md5sums %+v", got.MD5Sums)
	}
	if len(got.Conffiles) != 1 || got.Conffiles[0] != "/etc/default/plain" {
		t.Errorf("conffiles %v", got.Conffiles)
	}
	if got.Scripts["postinst"] != "#!/bin/sh\necho configured\n" {
		t.Errorf("scripts %v", got.Scripts)
	}
	byPath := map[string]fileJSON{}
	for _, f := range got.Files {
		byPath[f.Path] = f
	}
	sum := md5.Sum([]byte(marker))
	markerMD5 := hex.EncodeToString(sum[:])
	wantFiles := []fileJSON{
		{Path: "./usr/share/plain/marker.txt", Type: "file", Mode: "0644", Owner: "root", Group: "root", Size: int64(len(marker)), MD5: markerMD5},
		{Path: "./usr/lib/plain/helper", Type: "file", Mode: "4755", Owner: "root", Group: "root", Size: int64(len(marker)), MD5: markerMD5},
		{Path: "./usr/share/plain/link", Type: "symlink", Mode: "0777", Owner: "root", Group: "root", Target: "marker.txt"},
		{Path: "./usr/share/plain/", Type: "dir", Mode: "0755", Owner: "root", Group: "root"},
	}
	for _, w := range wantFiles {
		g, ok := byPath[w.Path]
		if !ok {
			t.Errorf("no %s in %v", w.Path, got.Files)
			continue
		}
		if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", w.Path, g, w)
		}
	}
}

func TestInspectBroken(t *testing.T) {
	path := buildPlain(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the marker's content inside the uncompressed data tarball: the
	// package stays readable, md5sums no longer match.
	i := bytes.Index(good, []byte(marker))
	if i < 0 {
		t.Fatal("marker not found in the uncompressed package")
	}
	bad := append([]byte(nil), good...)
	bad[i] ^= 0x20
	damaged := filepath.Join(t.TempDir(), "damaged.deb")
	if err := os.WriteFile(damaged, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := inspect(damaged)
	if err == nil || errors.As(err, new(*cli.UsageError)) {
		t.Errorf("inspect of a damaged package: %v, want a failure", err)
	}
	if !strings.Contains(out, "md5sums: FAILED") || !strings.Contains(out, "mismatch: usr/lib/plain/helper") {
		t.Errorf("output does not report the mismatch:\n%s", out)
	}
	out, _, err = inspect("--json", damaged)
	var got inspectJSON
	if err == nil || json.Unmarshal([]byte(out), &got) != nil || got.MD5Sums.Verified || len(got.MD5Sums.Mismatches) == 0 {
		t.Errorf("--json on a damaged package: err %v, md5sums %+v", err, got.MD5Sums)
	}

	truncated := filepath.Join(t.TempDir(), "truncated.deb")
	if err := os.WriteFile(truncated, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, err := inspect(truncated); err == nil || !strings.Contains(err.Error(), "inspect "+truncated) {
		t.Errorf("inspect of a truncated package: %v\n%s", err, out)
	}
	notDeb := filepath.Join(t.TempDir(), "x.deb")
	if err := os.WriteFile(notDeb, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := inspect(notDeb); err == nil {
		t.Error("inspect of a non-package succeeded")
	}
	if _, _, err := inspect(filepath.Join(t.TempDir(), "missing.deb")); err == nil {
		t.Error("inspect of a missing file succeeded")
	}
}

func TestInspectUsage(t *testing.T) {
	_, stderr, err := inspect("--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "Usage: pkgdeb inspect") || !strings.Contains(stderr, "-json") || !strings.Contains(stderr, "Examples:") {
		t.Errorf("--help: %v\n%s", err, stderr)
	}
	for _, args := range [][]string{nil, {"a.deb", "b.deb"}, {"--yaml", "a.deb"}} {
		var ue *cli.UsageError
		if _, _, err := inspect(args...); !errors.As(err, &ue) {
			t.Errorf("inspect %q: %v, want a usage error", args, err)
		}
	}
}

// TestRunExitCodes checks the exit statuses main gives build and inspect
// errors: 2 for usage, 1 for failures, 0 for --help.
func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"build", "--help"}, 0},
		{[]string{"build"}, 2},
		{[]string{"build", "-f", "testdata/bad.yaml"}, 1},
		{[]string{"inspect"}, 2},
		{[]string{"inspect", "testdata/bad.yaml"}, 1},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if got := run(context.Background(), tt.args, &stdout, &stderr); got != tt.want {
			t.Errorf("pkgdeb %q exited %d, want %d\n%s", tt.args, got, tt.want, stderr.String())
		}
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
