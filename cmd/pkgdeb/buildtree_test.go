//go:build unix

package main

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/testenv"
)

// treeFiles are the files of the tree TestBuildTreeLikeDpkgDeb builds, with
// their modes: a conffile, executables, a setuid program, a private file.
var treeFiles = []struct {
	path, body string
	mode       fs.FileMode
}{
	{"etc/treepkg/treepkg.conf", "listen=127.0.0.1:8080\n", 0o644},
	{"usr/bin/treepkg", "#!/bin/sh\necho treepkg\n", 0o755},
	{"usr/lib/treepkg/helper", "#!/bin/sh\nexit 0\n", fs.ModeSetuid | 0o755},
	{"usr/lib/treepkg/secret", "token\n", 0o600},
	{"usr/share/treepkg/greeting", "hello\n", 0o644},
	{"usr/share/doc/treepkg/copyright", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n" +
		"Upstream-Name: treepkg\n\nFiles: *\nCopyright: 2025 Debfleet Tests <tests@example.com>\nLicense: Expat\n" +
		" Permission is hereby granted, free of charge, to any person obtaining a copy\n of this software.\n", 0o644},
	{"usr/share/lintian/overrides/treepkg", "# The helper must run as root on behalf of the service.\n" +
		"treepkg: elevated-privileges 4755 root/root [usr/lib/treepkg/helper]\n" +
		"# Only root may read the token, and the state.\n" +
		"treepkg: non-standard-file-perm 0600 != 0644 [usr/lib/treepkg/secret]\n" +
		"treepkg: non-standard-dir-perm 0750 != 0755 [var/lib/treepkg/]\n", 0o644},
}

// treeGzipped are the files the tree holds compressed like gzip -9n.
var treeGzipped = map[string]string{
	"usr/share/doc/treepkg/changelog.Debian.gz": "treepkg (1.0-1) unstable; urgency=medium\n\n  * New upstream release.\n\n" +
		" -- Debfleet Tests <tests@example.com>  Thu, 20 Nov 2025 12:00:00 +0000\n\n" +
		"treepkg (0.9-1) unstable; urgency=medium\n\n  * Previous release.\n\n" +
		" -- Debfleet Tests <tests@example.com>  Mon, 17 Nov 2025 12:00:00 +0000\n",
	"usr/share/man/man1/treepkg.1.gz": ".TH TREEPKG 1\n.SH NAME\ntreepkg \\- prints its name\n.SH DESCRIPTION\n.B treepkg\nprints its name.\n",
}

const treeControl = "Package: treepkg\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Debfleet Tests <tests@example.com>\n" +
	"Installed-Size: %d\nSection: admin\nPriority: optional\nDescription: tree built like dpkg-deb does\n" +
	" The test package of pkgdeb's tree mode.\n .\n It is built by pkgdeb and by dpkg-deb.\n"

// treeControlFiles are the control files beside control, conffiles,
// md5sums and postinst that a tree may hold, in the variant of the tree
// that has them. lintian wants debconf and shared libraries to go with
// them, and warns about hard links across directories (which that variant
// has too), so it is not linted.
var treeControlFiles = map[string]string{
	"config":    "#!/bin/sh\nset -e\n",
	"templates": "Template: treepkg/listen\nType: string\nDefault: 127.0.0.1:8080\nDescription: Address to listen on:\n",
	"triggers":  "# Reload when plugins come or go.\ninterest-noawait /usr/lib/treepkg/plugins\n",
	"shlibs":    "libtreepkg 1 treepkg (>= 1.0)\n",
	"symbols":   "libtreepkg.so.1 treepkg #MINVER#\n treepkg_hello@Base 1.0\n",
}

// makeTree lays out a dpkg-deb tree as a Makefile would, DEBIAN/md5sums and
// Installed-Size included (dpkg-deb computes neither), and returns it. The
// tree has a file with two names in one directory (hardLinks); with
// controlFiles DEBIAN/ has treeControlFiles too, and another file a second
// name in another directory.
func makeTree(t *testing.T, controlFiles bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "build")
	put := func(p string, body []byte, mode fs.FileMode) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil { // not subject to the umask
			t.Fatal(err)
		}
	}
	for _, f := range treeFiles {
		put(f.path, []byte(f.body), f.mode)
	}
	for p, body := range treeGzipped {
		put(p, gzip9n(t, body), 0o644)
	}
	put("DEBIAN/conffiles", []byte("/etc/treepkg/treepkg.conf\n"), 0o644)
	put("DEBIAN/postinst", []byte("#!/bin/sh\nset -e\ntouch \"$DPKG_ROOT/tmp/treepkg-configured\"\n"), 0o755)
	if controlFiles {
		for name, body := range treeControlFiles {
			mode := fs.FileMode(0o644)
			if strings.HasPrefix(body, "#!") {
				mode = 0o755
			}
			put("DEBIAN/"+name, []byte(body), mode)
		}
	}
	for name, file := range hardLinks(controlFiles) {
		if err := os.Link(filepath.Join(dir, file), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "var/lib/treepkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]fs.FileMode{"var/lib/treepkg": 0o750, "": 0o755, "DEBIAN": 0o755} {
		if err := os.Chmod(filepath.Join(dir, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"usr/bin/tp": "treepkg", "usr/share/man/man1/tp.1.gz": "treepkg.1.gz"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	size, sums := treeSums(t, dir)
	put("DEBIAN/md5sums", []byte(sums), 0o644)
	put("DEBIAN/control", []byte(fmt.Sprintf(treeControl, size)), 0o644)
	return dir
}

// hardLinks maps the second names makeTree gives files to those files.
func hardLinks(controlFiles bool) map[string]string {
	links := map[string]string{"usr/share/treepkg/hello": "usr/share/treepkg/greeting"}
	if controlFiles {
		links["usr/lib/treepkg/treepkg"] = "usr/bin/treepkg"
	}
	return links
}

// treeSums computes, independently of pkgdeb, the Installed-Size of
// deb-substvars(5) as dpkg-gencontrol does (files and symlinks their size
// in KiB rounded up, an inode with several names once, every directory 1)
// and the md5sums dh_md5sums would write (every name of a file).
func treeSums(t *testing.T, dir string) (int64, string) {
	t.Helper()
	var kib int64
	var sums []string
	counted := map[[2]uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() == "DEBIAN" {
			if err == nil {
				err = fs.SkipDir
			}
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			kib++
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			sums = append(sums, fmt.Sprintf("%s  %x\n", rel, md5.Sum(b)))
			st := fi.Sys().(*syscall.Stat_t)
			if id := [2]uint64{uint64(st.Dev), uint64(st.Ino)}; !counted[id] {
				kib += (fi.Size() + 1023) / 1024
				counted[id] = true
			}
		default:
			kib += (fi.Size() + 1023) / 1024
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(sums) // by path, as pkgdeb writes them
	for i, l := range sums {
		rel, sum, _ := strings.Cut(l, "  ")
		sums[i] = sum[:len(sum)-1] + "  " + rel + "\n"
	}
	return kib, strings.Join(sums, "")
}

// gzip9n compresses s with gzip -9n, as a Makefile assembling a tree would.
func gzip9n(t *testing.T, s string) []byte {
	t.Helper()
	cmd := exec.Command(testenv.LookTool(t, "gzip"), "-9n")
	cmd.Stdin = strings.NewReader(s)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip -9n: %v", err)
	}
	return out
}

// TestBuildTreeLikeDpkgDeb builds one tree with pkgdeb and with
// dpkg-deb --root-owner-group --build: the file lists (modes, owners, sizes,
// dates, symlinks, hard links), the control fields and the other control
// files are the same, the two install into identical trees (hard links
// included) and dpkg databases, and lintian is clean.
func TestBuildTreeLikeDpkgDeb(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	for _, controlFiles := range []bool{false, true} {
		t.Run(fmt.Sprintf("control files %v", controlFiles), func(t *testing.T) {
			tree := makeTree(t, controlFiles)
			out := t.TempDir()
			ours, _ := build(t, tree, out+"/")
			if filepath.Base(ours) != "treepkg_1.0-1_all.deb" {
				t.Errorf("pkgdeb build TREE DIR/ wrote %s", ours)
			}
			again, _ := build(t, "--root", tree, "-o", filepath.Join(out, "again.deb"))
			if a, b := readFile(t, ours), readFile(t, again); !bytes.Equal(a, b) {
				t.Error("pkgdeb build TREE and pkgdeb build --root TREE differ")
			}
			ref := filepath.Join(out, "ref.deb")
			dpkgDeb(t, "--root-owner-group", "--build", tree, ref)

			contents := dpkgDeb(t, "--contents", ours)
			if a, b := sortedLines(contents), sortedLines(dpkgDeb(t, "--contents", ref)); !reflect.DeepEqual(a, b) {
				t.Errorf("dpkg-deb --contents differ:\npkgdeb:\n%s\ndpkg-deb:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			for name, file := range hardLinks(controlFiles) {
				if !strings.Contains(contents, " ./"+name+" link to ./"+file+"\n") {
					t.Errorf("dpkg-deb --contents does not show %s as a hard link to %s:\n%s", name, file, contents)
				}
			}
			if a, b := controlFields(t, dpkgDeb(t, "--field", ours)), controlFields(t, dpkgDeb(t, "--field", ref)); !reflect.DeepEqual(a, b) {
				t.Errorf("control fields differ:\npkgdeb:   %q\ndpkg-deb: %q", a, b)
			}
			if a, b := controlMembers(t, ours), controlMembers(t, ref); !reflect.DeepEqual(a, b) {
				t.Errorf("control members differ:\npkgdeb:\n%s\ndpkg-deb:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			oursRoot, refRoot := installed(t, ours), installed(t, ref)
			if len(oursRoot) != len(refRoot) {
				t.Errorf("installed trees differ:\npkgdeb:\n%s\ndpkg-deb:\n%s", strings.Join(oursRoot, "\n"), strings.Join(refRoot, "\n"))
			}
			for i := range min(len(oursRoot), len(refRoot)) {
				if oursRoot[i] != refRoot[i] {
					t.Errorf("installed trees differ:\npkgdeb:   %s\ndpkg-deb: %s", oursRoot[i], refRoot[i])
				}
			}
			for name, file := range hardLinks(controlFiles) {
				if !slices.Contains(oursRoot, "hard links: "+file+" "+name) {
					t.Errorf("%s and %s are not one file once installed:\n%s", file, name, strings.Join(oursRoot, "\n"))
				}
			}
			if !controlFiles {
				lintianClean(t, ours, ref)
			}
		})
	}
}

// controlMembers extracts the control member of deb (dpkg-deb --control)
// and describes each file but control (whose fields are compared on their
// own): name, mode and content.
func controlMembers(t *testing.T, deb string) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "DEBIAN")
	dpkgDeb(t, "--control", deb, dir)
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		if e.Name() == "control" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %v %q", e.Name(), info.Mode(), readFile(t, filepath.Join(dir, e.Name()))))
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	sort.Strings(lines)
	return lines
}

// controlFields parses dpkg-deb --field output: each field with its
// continuation lines, in any order.
func controlFields(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	last := ""
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.HasPrefix(l, " ") && last != "" {
			out[last] += "\n" + l
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("control line %q", l)
		}
		last = name
		out[name] = strings.TrimSpace(value)
	}
	return out
}

// installed installs deb with dpkg in a new sandbox root and describes what
// is there: every path with its type, mode, owner, size, content hash and
// mtime or target, and dpkg's record of the package (status, file list,
// md5sums, conffiles, postinst).
func installed(t *testing.T, deb string) []string {
	t.Helper()
	root := testenv.DpkgRoot(t)
	if out, err := testenv.Dpkg(t, root, "-i", deb); err != nil {
		t.Fatalf("dpkg -i %s: %v\n%s", deb, err, out)
	}
	var desc []string
	names := map[uint64][]string{} // inode -> names of regular files
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "var/log" || rel == "var/lib/dpkg" || rel == "tmp" {
			return fs.SkipDir
		}
		desc = append(desc, describe(t, rel, p))
		if st, ok := statOf(t, p); ok && d.Type().IsRegular() {
			names[st.Ino] = append(names[st.Ino], rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, n := range names {
		if len(n) > 1 {
			links = append(links, "hard links: "+strings.Join(n, " "))
		}
	}
	sort.Strings(links)
	desc = append(desc, links...)
	if _, err := os.Stat(filepath.Join(root, "tmp/treepkg-configured")); err != nil {
		t.Errorf("postinst did not run: %v", err)
	}
	status, err := testenv.Dpkg(t, root, "--status", "treepkg")
	if err != nil {
		t.Fatalf("dpkg --status: %v\n%s", err, status)
	}
	desc = append(desc, "status: "+status)
	for _, f := range []string{"list", "md5sums", "conffiles", "postinst", "config", "templates", "triggers", "shlibs", "symbols"} {
		b, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/treepkg."+f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		desc = append(desc, f+": "+string(b))
	}
	// The file triggers dpkg registered (none without DEBIAN/triggers).
	b, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/triggers/File"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	desc = append(desc, "triggers/File: "+string(b))
	return desc
}

// describe is one line about the installed file p.
func describe(t *testing.T, rel, p string) string {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%s %v", rel, fi.Mode())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		line += fmt.Sprintf(" %d:%d links %d", st.Uid, st.Gid, st.Nlink)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		line += " -> " + target
	case fi.Mode().IsRegular():
		sum := sha256.Sum256(readFile(t, p))
		line += fmt.Sprintf(" %d %s %d", fi.Size(), hex.EncodeToString(sum[:8]), fi.ModTime().Unix())
	}
	return line
}

// statOf is the Stat_t of p (not following symlinks).
func statOf(t *testing.T, p string) (*syscall.Stat_t, bool) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// Tree mode errors name the file of the tree and what to change; package
// flags other than --compression are usage errors.
func TestBuildTreeErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  func(tree string) []string
		usage bool
		want  string // TREE stands for the tree
	}{
		{"no version", func(tree string) []string {
			writeControl(t, tree, "Package: treepkg\nArchitecture: all\nMaintainer: A B <a@b.c>\nDescription: x\n")
			return []string{tree}
		}, false, `TREE/DEBIAN/control: missing Version field (add a line "Version: ...")`},
		{"name flag", func(tree string) []string { return []string{"--root", tree, "--name", "x"} }, true,
			"--name: a tree is described by its DEBIAN/control; only --compression and -o apply to it"},
		{"spec file", func(tree string) []string { return []string{tree, "-f", serviceSpec} }, true, "-f: a tree is described by its DEBIAN/control"},
		{"bad compression", func(tree string) []string { return []string{tree, "--compression", "lz4"} }, true, `--compression: unknown compression "lz4"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := makeTree(t, false)
			var stdout, stderr bytes.Buffer
			err := runBuild(t.Context(), append(tt.args(tree), "-o", t.TempDir()+"/"), &stdout, &stderr)
			var ue *cli.UsageError
			want := strings.ReplaceAll(tt.want, "TREE", tree)
			if err == nil || errors.As(err, &ue) != tt.usage || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v (usage error: %v), want one containing %q (usage error: %v)", err, errors.As(err, &ue), want, tt.usage)
			}
		})
	}
}

func writeControl(t *testing.T, tree, control string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tree, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
}
