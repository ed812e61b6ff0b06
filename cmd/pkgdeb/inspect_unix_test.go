//go:build unix

package main

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// A package dpkg-deb built from a tree with hard links, a symlink, a fifo
// and (when mknod is allowed) a device: inspect's file lines are
// dpkg-deb -c's without the dates, md5sums verify through the hard links,
// and --json names each kind.
func TestInspectHardLinksLikeDpkgDeb(t *testing.T) {
	dpkgDeb := testenv.LookTool(t, "dpkg-deb")
	root := t.TempDir()
	body := "#!/bin/sh\necho a\n"
	for p, b := range map[string]string{
		"DEBIAN/control": "Package: hl\nVersion: 1.0\nArchitecture: all\nMaintainer: A B <a@example.com>\nDescription: x\n",
		"usr/bin/a":      body,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sum := fmt.Sprintf("%x", md5.Sum([]byte(body)))
	mustDo(t, os.Link(filepath.Join(root, "usr/bin/a"), filepath.Join(root, "usr/bin/b")))
	mustDo(t, os.Symlink("a", filepath.Join(root, "usr/bin/c")))
	mustDo(t, syscall.Mkfifo(filepath.Join(root, "usr/bin/fifo"), 0o644))
	device := syscall.Mknod(filepath.Join(root, "usr/bin/null"), syscall.S_IFCHR|0o644, 1<<8|3) == nil
	// As dh_md5sums writes it: every regular file, both hard-link names.
	mustDo(t, os.WriteFile(filepath.Join(root, "DEBIAN/md5sums"), []byte(sum+"  usr/bin/a\n"+sum+"  usr/bin/b\n"), 0o644))
	path := filepath.Join(t.TempDir(), "hl.deb")
	cmd := exec.Command(dpkgDeb, "--root-owner-group", "--build", root, path)
	cmd.Env = realparts.DpkgEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	cmd = exec.Command(dpkgDeb, "-c", path)
	cmd.Env = append(realparts.DpkgEnv(), "LC_ALL=C")
	contents, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v", err)
	}

	out, _, err := inspect(path)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	_, files, _ := strings.Cut(out, "\nFiles (")
	_, files, _ = strings.Cut(files, "\n")
	files, _, _ = strings.Cut(files, "\n\n")
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(contents)), "\n") {
		f := strings.Fields(line)
		want = append(want, strings.Join(append(f[:3:3], f[5:]...), " ")) // no date, no time
	}
	var got []string
	for _, line := range strings.Split(files, "\n") {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("inspect's files:\n%s\ndpkg-deb -c without dates:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(strings.Join(got, "\n"), "hrwxr-xr-x root/root 0 ./usr/bin/b link to ./usr/bin/a") || !strings.Contains(out, "md5sums: OK\n") {
		t.Errorf("inspect output:\n%s", out)
	}

	out, _, err = inspect("--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var got2 inspectJSON
	if err := json.Unmarshal([]byte(out), &got2); err != nil {
		t.Fatal(err)
	}
	byPath := map[string]fileJSON{}
	for _, f := range got2.Files {
		byPath[f.Path] = f
	}
	wantJSON := []fileJSON{
		{Path: "./usr/bin/b", Type: "hardlink", Mode: "0755", Owner: "root", Group: "root", Target: "./usr/bin/a", MD5: sum},
		{Path: "./usr/bin/fifo", Type: "fifo", Mode: "0644", Owner: "root", Group: "root"},
	}
	if device {
		wantJSON = append(wantJSON, fileJSON{Path: "./usr/bin/null", Type: "char-device", Mode: "0644", Owner: "root", Group: "root", Device: "1,3"})
	}
	for _, w := range wantJSON {
		if g := byPath[w.Path]; g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", w.Path, g, w)
		}
	}
	if !got2.MD5Sums.Verified {
		t.Errorf("md5sums %+v", got2.MD5Sums)
	}
}
