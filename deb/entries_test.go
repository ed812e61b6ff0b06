package deb_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// listing is one entry as dpkg-deb -c (GNU tar -tv) prints it.
type listing struct {
	Mode, Owner, Size, Date, Path, Link string
}

func (l listing) String() string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s %s %s %s", l.Mode, l.Owner, l.Size, l.Date, l.Path, l.Link))
}

// dpkgDebRun runs dpkg-deb with args in the C locale and UTC, so that
// dates and the quoting of names do not depend on the machine.
func dpkgDebRun(t testing.TB, args ...string) string {
	t.Helper()
	bin := lookTool(t, "dpkg-deb")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(realparts.DpkgEnv(), "LC_ALL=C", "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// dpkgDebContents parses dpkg-deb -c.
func dpkgDebContents(t testing.TB, deb string) []listing {
	t.Helper()
	var out []listing
	for _, line := range strings.Split(strings.TrimSuffix(dpkgDebRun(t, "-c", deb), "\n"), "\n") {
		if line == "" {
			continue
		}
		var f [5]string
		rest := line
		for i := range f {
			rest = strings.TrimLeft(rest, " ")
			var ok bool
			if f[i], rest, ok = strings.Cut(rest, " "); !ok {
				t.Fatalf("dpkg-deb -c line %q: too few fields", line)
			}
		}
		l := listing{Mode: f[0], Owner: f[1], Size: f[2], Date: f[3] + " " + f[4], Path: rest}
		sep := map[byte]string{'h': " link to ", 'l': " -> "}[l.Mode[0]]
		if sep != "" {
			var ok bool
			if l.Path, l.Link, ok = strings.Cut(rest, sep); !ok {
				t.Fatalf("dpkg-deb -c line %q: no %q", line, sep)
			}
		}
		l.Path, l.Link = unquoteTar(l.Path), unquoteTar(l.Link)
		out = append(out, l)
	}
	return out
}

// unquoteTar undoes GNU tar's default "escape" quoting of names.
func unquoteTar(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		i++
		if c, ok := map[byte]byte{'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[s[i]]; ok {
			b.WriteByte(c)
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// listingOf renders what Read found the way tar -tv does.
func listingOf(pkg *deb.Package) []listing {
	var out []listing
	for _, f := range pkg.Files {
		l := listing{Owner: f.Uname + "/" + f.Gname, Size: strconv.FormatInt(f.Size, 10), Date: f.ModTime.UTC().Format("2006-01-02 15:04"), Path: f.Path}
		if f.Uname == "" || f.Gname == "" {
			l.Owner = fmt.Sprintf("%s/%s", cmp(f.Uname, strconv.Itoa(f.Uid)), cmp(f.Gname, strconv.Itoa(f.Gid)))
		}
		kind := map[byte]byte{'0': '-', '1': 'h', '2': 'l', '3': 'c', '4': 'b', '5': 'd', '6': 'p'}[f.Typeflag]
		mode := []byte{kind}
		for i, c := range "rwxrwxrwx" {
			if f.Mode&(1<<(8-i)) != 0 {
				mode = append(mode, byte(c))
			} else {
				mode = append(mode, '-')
			}
		}
		for _, s := range []struct {
			bit     fs.FileMode
			pos     int
			set, no byte
		}{{fs.ModeSetuid, 3, 's', 'S'}, {fs.ModeSetgid, 6, 's', 'S'}, {fs.ModeSticky, 9, 't', 'T'}} {
			if f.Mode&s.bit != 0 {
				if mode[s.pos] == 'x' {
					mode[s.pos] = s.set
				} else {
					mode[s.pos] = s.no
				}
			}
		}
		l.Mode = string(mode)
		switch f.Typeflag {
		case '1', '2':
			l.Link = f.LinkTarget
		case '3', '4':
			l.Size = fmt.Sprintf("%d,%d", f.Devmajor, f.Devminor)
		}
		out = append(out, l)
	}
	return out
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkListing compares Read's entries with dpkg-deb -c, entry for entry.
func checkListing(t testing.TB, debPath string, pkg *deb.Package) {
	t.Helper()
	want := dpkgDebContents(t, debPath)
	got := listingOf(pkg)
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: entry %d missing from Read: %v", filepath.Base(debPath), i, want[i])
		case i >= len(want):
			t.Errorf("%s: entry %d not in dpkg-deb -c: %v", filepath.Base(debPath), i, got[i])
		case got[i] != want[i]:
			t.Errorf("%s: entry %d:\n Read       %v\n dpkg-deb -c %v", filepath.Base(debPath), i, got[i], want[i])
		default:
			continue
		}
		return // one mismatch shifts everything after it
	}
}

// writeTree writes files (path -> content) under root.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dhMD5sums writes DEBIAN/md5sums as dh_md5sums does: every regular file
// outside DEBIAN, each hard link's name included, sorted.
func dhMD5sums(t testing.TB, root string) {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "DEBIAN" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%x  %s\n", md5.Sum(b), filepath.ToSlash(rel)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	if err := os.WriteFile(filepath.Join(root, "DEBIAN/md5sums"), []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A tree with hard links (one of them across directories, one with a long
// name), a fifo, a device when mknod is allowed, a symlink and a setuid
// file, built by dpkg-deb: Read lists it as dpkg-deb -c does and md5sums
// verify, hard links included.
func TestReadDpkgDebEntries(t *testing.T) {
	root := t.TempDir()
	long := "usr/share/hl/" + strings.Repeat("long-directory-name/", 6) + "file"
	writeTree(t, root, map[string]string{
		"DEBIAN/control":  minimalControl,
		"usr/bin/a":       "#!/bin/sh\necho a\n",
		"usr/share/hl/x":  "shared\n",
		long:              "long\n",
		"usr/lib/hl/sbin": "setuid\n",
	})
	links := [][2]string{
		{"usr/bin/a", "usr/bin/b"},
		{"usr/bin/a", "usr/share/hl/c"},
		{"usr/share/hl/x", "usr/share/hl/" + strings.Repeat("y", 120)},
		{long, "usr/share/hl/short"},
	}
	for _, l := range links {
		if err := os.Link(filepath.Join(root, l[0]), filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(root, "usr/bin/sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "usr/lib/hl/sbin"), 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "usr/share/hl/fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	device := syscall.Mknod(filepath.Join(root, "usr/share/hl/null"), syscall.S_IFCHR|0o644, 1<<8|3) == nil
	if !device {
		t.Log("mknod not allowed here: the package has no device")
	}
	dhMD5sums(t, root)

	for _, z := range []string{"gzip", "xz", "zstd", "none"} {
		t.Run(z, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "hl.deb")
			if o, err := runTool(t, lookTool(t, "dpkg-deb"), "--root-owner-group", "-Z"+z, "--build", root, out); err != nil {
				t.Fatalf("dpkg-deb --build: %v\n%s", err, o)
			}
			pkg, err := deb.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := pkg.Verify(); err != nil {
				t.Error(err)
			}
			checkListing(t, out, pkg)
			byPath := map[string]deb.FileInfo{}
			for _, f := range pkg.Files {
				byPath[f.Path] = f
			}
			hardlinks := 0
			for _, f := range pkg.Files {
				if f.Type != deb.Hardlink {
					continue
				}
				hardlinks++
				if target := byPath[f.LinkTarget]; f.MD5 == "" || f.MD5 != target.MD5 {
					t.Errorf("%s: MD5 %q, its target %s has %q", f.Path, f.MD5, f.LinkTarget, target.MD5)
				}
			}
			if hardlinks != len(links) {
				t.Errorf("%d hard links, want %d", hardlinks, len(links))
			}
			if f := byPath["./usr/share/hl/fifo"]; f.Type != deb.Other || f.Typeflag != '6' || f.Mode != 0o640 {
				t.Errorf("fifo: %+v", f)
			}
			if f := byPath["./usr/share/hl/null"]; device && (f.Typeflag != '3' || f.Devmajor != 1 || f.Devminor != 3) {
				t.Errorf("device: %+v", f)
			}
		})
	}

	// md5sums are checked for a hard link's name too: a wrong sum on one
	// fails Verify and names it.
	sums, err := os.ReadFile(filepath.Join(root, "DEBIAN/md5sums"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(sums), fmt.Sprintf("%x  usr/bin/b\n", md5.Sum([]byte("#!/bin/sh\necho a\n"))), strings.Repeat("0", 32)+"  usr/bin/b\n", 1)
	if bad == string(sums) {
		t.Fatalf("usr/bin/b not in md5sums:\n%s", sums)
	}
	if err := os.WriteFile(filepath.Join(root, "DEBIAN/md5sums"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bad.deb")
	if o, err := runTool(t, lookTool(t, "dpkg-deb"), "--root-owner-group", "--build", root, out); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, o)
	}
	pkg, err := deb.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := pkg.Verify(); !errors.Is(err, deb.ErrMD5Mismatch) || strings.Join(pkg.MD5Mismatches, " ") != "usr/bin/b" {
		t.Errorf("Verify() = %v, mismatches %q; want usr/bin/b alone", err, pkg.MD5Mismatches)
	}
}

// tarEntry is one entry of a hand-made data tarball.
type tarEntry struct {
	typ    byte
	name   string
	link   string
	body   string
	format tar.Format
}

// handMadeDeb packs entries (directories "./" and "./d/" first) into an
// uncompressed data.tar with md5sums for its regular files and hard links
// to them, so the test decides every byte dpkg sees.
func handMadeDeb(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	all := append([]tarEntry{{typ: tar.TypeDir, name: "./"}, {typ: tar.TypeDir, name: "./d/"}}, entries...)
	content := map[string]string{}
	var sums strings.Builder
	for _, e := range all {
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: 0o644, Uname: "root", Gname: "root",
			ModTime: time.Unix(1700000000, 0), Format: e.format}
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatGNU
		}
		switch e.typ {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeReg, tar.TypeCont:
			h.Size = int64(len(e.body))
			content[strings.TrimPrefix(e.name, "./")] = e.body
		case tar.TypeLink:
			if body, ok := content[strings.TrimPrefix(e.link, "./")]; ok {
				content[strings.TrimPrefix(e.name, "./")] = body
			}
		}
		if e.format == tar.FormatPAX {
			h.PAXRecords = map[string]string{"comment": "a PAX header"}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil && h.Size > 0 {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(content))
	for n := range content {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&sums, "%x  %s\n", md5.Sum([]byte(content[n])), n)
	}
	control := tarGz(t, tarFile{name: "./control", body: []byte(minimalControl)}, tarFile{name: "./md5sums", body: []byte(sums.String())})
	return arPack(arMember{name: "debian-binary", body: []byte("2.0\n")}, arMember{name: "control.tar.gz", body: control}, arMember{name: "data.tar", body: data.Bytes()})
}

// Hard links and tar forms as dpkg judges them: each hand-made package is
// read, and unpacked by the real dpkg into a sandbox root; Read must accept
// exactly what dpkg unpacks, and list what it accepts as dpkg-deb -c does.
func TestReadTarFormsLikeDpkg(t *testing.T) {
	longDir := "./d/" + strings.Repeat("n", 120)
	tests := []struct {
		name    string
		entries []tarEntry
		wantErr string // "" means both accept
	}{
		{"hard link", []tarEntry{{typ: tar.TypeReg, name: "./d/a", body: "a\n"}, {typ: tar.TypeLink, name: "./d/b", link: "./d/a"}}, ""},
		{"chain of hard links", []tarEntry{{typ: tar.TypeReg, name: "./d/a", body: "a\n"}, {typ: tar.TypeLink, name: "./d/b", link: "./d/a"}, {typ: tar.TypeLink, name: "./d/c", link: "./d/b"}}, ""},
		{"target spelled differently", []tarEntry{{typ: tar.TypeReg, name: "./d/a", body: "a\n"}, {typ: tar.TypeLink, name: "./d/b", link: "d/a"}}, ""},
		{"long name and long link", []tarEntry{{typ: tar.TypeReg, name: longDir + "-a", body: "a\n"}, {typ: tar.TypeLink, name: longDir + "-b", link: longDir + "-a"}}, ""},
		{"ustar", []tarEntry{{typ: tar.TypeReg, name: "./d/a", body: "a\n", format: tar.FormatUSTAR}, {typ: tar.TypeLink, name: "./d/b", link: "./d/a", format: tar.FormatUSTAR}}, ""},
		{"hard link to a fifo", []tarEntry{{typ: tar.TypeFifo, name: "./d/p"}, {typ: tar.TypeLink, name: "./d/q", link: "./d/p"}}, ""},
		{"hard link to a later entry", []tarEntry{{typ: tar.TypeLink, name: "./d/b", link: "./d/a"}, {typ: tar.TypeReg, name: "./d/a", body: "a\n"}}, "not an earlier entry"},
		{"hard link to nothing", []tarEntry{{typ: tar.TypeLink, name: "./d/b", link: "./d/gone"}}, "not an earlier entry"},
		{"hard link to itself", []tarEntry{{typ: tar.TypeLink, name: "./d/b", link: "./d/b"}}, "links to itself"},
		{"hard link to a directory", []tarEntry{{typ: tar.TypeLink, name: "./d/b", link: "./d"}}, "is a directory"},
		{"hard link to a symlink", []tarEntry{{typ: tar.TypeReg, name: "./d/a", body: "a\n"}, {typ: tar.TypeSymlink, name: "./d/s", link: "a"}, {typ: tar.TypeLink, name: "./d/b", link: "./d/s"}}, "is a symlink"},
		{"PAX header", []tarEntry{{typ: tar.TypeReg, name: "./d/a", body: "a\n", format: tar.FormatPAX}}, "unsupported PAX tar header type 'x'"},
		{"contiguous file", []tarEntry{{typ: tar.TypeCont, name: "./d/a", body: "a\n"}}, "unknown tar header type '7'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := handMadeDeb(t, tt.entries)
			path := filepath.Join(t.TempDir(), "x.deb")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			pkg, readErr := deb.ReadFile(path)
			sandbox := testenv.DpkgRoot(t)
			out, dpkgErr := testenv.Dpkg(t, sandbox, "--unpack", path)
			switch {
			case tt.wantErr == "" && readErr != nil:
				t.Fatalf("Read: %v", readErr)
			case tt.wantErr == "" && dpkgErr != nil:
				t.Fatalf("the test is wrong: dpkg rejects it too: %v\n%s", dpkgErr, out)
			case tt.wantErr != "" && (readErr == nil || !strings.Contains(readErr.Error(), tt.wantErr)):
				t.Fatalf("Read error = %v, want %q", readErr, tt.wantErr)
			case tt.wantErr != "" && dpkgErr == nil:
				t.Fatalf("the test is wrong: dpkg unpacks it:\n%s", out)
			case tt.wantErr != "":
				t.Logf("Read: %v\ndpkg: %s", readErr, out)
				return
			}
			if err := pkg.Verify(); err != nil {
				t.Error(err)
			}
			checkListing(t, path, pkg)
		})
	}
}
