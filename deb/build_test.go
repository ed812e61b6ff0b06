package deb_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
)

// longName makes a path longer than the 100 bytes of a tar name field.
var longName = strings.Repeat("abcdefghij", 12) + ".txt"

var compressions = []deb.Compression{deb.Gzip, deb.Zstd, deb.XZ, deb.None}

// richSpec is a package with every kind of entry, odd-sized files (one
// larger than the copy buffer and a gzip block), scripts and docs.
func richSpec(t testing.TB) *deb.Spec {
	t.Helper()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	body := make([]byte, 3<<20+7)
	if _, err := rand.Read(body[:1<<20]); err != nil {
		t.Fatal(err)
	}
	for i := 1 << 20; i < len(body); i++ {
		body[i] = byte(i % 251)
	}
	if err := os.WriteFile(big, body, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := testSpec()
	spec.Entries = []deb.Entry{
		{Dest: "/usr/bin/hello", Body: []byte("#!/bin/sh\necho hello 1\n"), Mode: 0o755},
		{Type: deb.Symlink, Dest: "/usr/bin/hi", Target: "hello"},
		{Dest: "/usr/lib/hello/big.bin", Source: big},
		{Dest: "/usr/lib/hello/odd", Body: []byte("odd")},
		{Dest: "/usr/lib/hello/empty", Body: []byte{}},
		{Dest: "/etc/hello/hello.conf", Body: []byte("greeting=hello\n"), Mode: 0o640},
		{Dest: "/etc/hello/generated", Body: []byte("x"), NoConffile: true},
		{Dest: "/usr/share/hello/defaults.conf", Body: []byte("y=1\n"), Conffile: true},
		{Type: deb.Dir, Dest: "/var/lib/hello", Mode: 0o750},
		{Dest: "/usr/sbin/helper", Body: []byte("#!/bin/sh\n"), Mode: 0o4755},
		{Dest: "/usr/share/hello/" + longName, Body: []byte("long\n")},
	}
	spec.Scripts = deb.Scripts{
		Preinst:  []byte("#!/bin/sh\nexit 0\n"),
		Postinst: []byte("#!/bin/sh\nset -e\necho \"$1 $2\" > \"$DPKG_ROOT/var/lib/hello/postinst\"\n"),
		Prerm:    []byte("#!/bin/sh\nexit 0\n"),
		Postrm:   []byte("#!/bin/sh\nexit 0\n"),
	}
	spec.Copyright = []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
	spec.Changelog = []byte("hello (1.0.0-1) unstable; urgency=medium\n\n  * Initial release.\n\n -- Debfleet Tests <tests@example.com>  Tue, 14 Nov 2023 22:13:20 +0000\n")
	return spec
}

// Each compression gives a package dpkg-deb reads, with the fields, modes,
// owners and paths we asked for.
func TestBuildDpkgDebInfoAndContents(t *testing.T) {
	dpkgDeb := lookTool(t, "dpkg-deb")
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			spec := richSpec(t)
			spec.Compression = c
			p, res := buildFile(t, spec)
			if c == deb.Zstd && (len(res.Warnings) != 1 || res.Warnings[0] != deb.ZstdWarning) {
				t.Errorf("zstd build warnings = %q, want the zstd caveat", res.Warnings)
			}
			if c != deb.Zstd && len(res.Warnings) != 0 {
				t.Errorf("%s build warnings = %q", c, res.Warnings)
			}
			if st, err := os.Stat(p); err != nil || st.Size() != res.Size {
				t.Errorf("Result.Size = %d, file is %v (%v)", res.Size, st.Size(), err)
			}
			info, err := runTool(t, dpkgDeb, "--info", p)
			if err != nil {
				t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
			}
			for _, want := range []string{
				"new Debian package, version 2.0.",
				" Package: hello\n", " Version: 1.0.0-1\n", " Architecture: amd64\n",
				" Installed-Size: 3", " Description: test package\n  A package built by the deb tests.\n",
				"conffiles", "md5sums", "postinst", "preinst", "prerm", "postrm",
			} {
				if !strings.Contains(info, want) {
					t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
				}
			}
			contents, err := runTool(t, dpkgDeb, "--contents", p)
			if err != nil {
				t.Fatalf("dpkg-deb --contents: %v\n%s", err, contents)
			}
			want := []string{
				"drwxr-xr-x root/root         0 2023-11-14 22:13 ./",
				"drwxr-xr-x root/root         0 2023-11-14 22:13 ./etc/",
				"-rw-r----- root/root        15 2023-11-14 22:13 ./etc/hello/hello.conf",
				"-rwxr-xr-x root/root        23 2023-11-14 22:13 ./usr/bin/hello",
				"lrwxrwxrwx root/root         0 2023-11-14 22:13 ./usr/bin/hi -> hello",
				"-rw-r--r-- root/root   3145735 2023-11-14 22:13 ./usr/lib/hello/big.bin",
				"-rw-r--r-- root/root         0 2023-11-14 22:13 ./usr/lib/hello/empty",
				"-rwsr-xr-x root/root        10 2023-11-14 22:13 ./usr/sbin/helper",
				"-rw-r--r-- root/root        75 2023-11-14 22:13 ./usr/share/doc/hello/copyright",
				"drwxr-x--- root/root         0 2023-11-14 22:13 ./var/lib/hello/",
				"-rw-r--r-- root/root         5 2023-11-14 22:13 ./usr/share/hello/" + longName,
			}
			for _, w := range want {
				if !strings.Contains(contents, w+"\n") {
					t.Errorf("dpkg-deb --contents lacks %q:\n%s", w, contents)
				}
			}
			// Sorted, every parent before its children, "./" first.
			var paths []string
			for _, l := range strings.Split(strings.TrimSpace(contents), "\n") {
				f := strings.Fields(l)
				paths = append(paths, f[5])
			}
			if paths[0] != "./" {
				t.Errorf("first entry %q, want ./", paths[0])
			}
			seen := map[string]bool{}
			for i, pth := range paths {
				if i > 0 && strings.TrimSuffix(paths[i-1], "/") >= strings.TrimSuffix(pth, "/") {
					t.Errorf("entries not sorted: %q before %q", paths[i-1], pth)
				}
				if pth != "./" {
					parent := "./"
					if d := path.Dir(strings.TrimSuffix(strings.TrimPrefix(pth, "./"), "/")); d != "." {
						parent = "./" + d + "/"
					}
					if !seen[parent] {
						t.Errorf("%s comes without its parent %s before it", pth, parent)
					}
				}
				seen[pth] = true
			}
			ctl, err := runTool(t, dpkgDeb, "--field", p, "Installed-Size")
			if err != nil || strings.TrimSpace(ctl) != installedSize(t, spec) {
				t.Errorf("Installed-Size %q, want %s (%v)", strings.TrimSpace(ctl), installedSize(t, spec), err)
			}
			// dpkg-deb agrees on the content: extract and compare.
			x := t.TempDir()
			if out, err := runTool(t, dpkgDeb, "-x", p, x); err != nil {
				t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
			}
			got, err := os.ReadFile(filepath.Join(x, "usr/lib/hello/big.bin"))
			src, _ := os.ReadFile(spec.Entries[2].Source)
			if err != nil || !bytes.Equal(got, src) {
				t.Errorf("extracted big.bin differs from its source (%v)", err)
			}
			// Our reader agrees too.
			pkg, err := deb.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := pkg.Verify(); err != nil {
				t.Error(err)
			}
			wantConf := []string{"/etc/hello/hello.conf", "/usr/share/hello/defaults.conf"}
			if strings.Join(pkg.Conffiles, ",") != strings.Join(wantConf, ",") {
				t.Errorf("conffiles %q, want %q", pkg.Conffiles, wantConf)
			}
			if pkg.Compression != c {
				t.Errorf("Read compression %q, want %q", pkg.Compression, c)
			}
			for name, body := range map[string][]byte{"postinst": spec.Scripts.Postinst, "preinst": spec.Scripts.Preinst} {
				if !bytes.Equal(pkg.Scripts[name], body) {
					t.Errorf("script %s = %q", name, pkg.Scripts[name])
				}
			}
		})
	}
}

// installedSize follows deb-substvars(5) independently of the builder:
// files and symlinks count their size in KiB rounded up, directories 1.
func installedSize(t *testing.T, spec *deb.Spec) string {
	t.Helper()
	p, _ := buildFile(t, spec)
	pkg, err := deb.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var kib int64
	for _, f := range pkg.Files {
		switch f.Type {
		case deb.Dir:
			kib++
		case deb.Symlink:
			kib += (int64(len(f.LinkTarget)) + 1023) / 1024
		default:
			kib += (f.Size + 1023) / 1024
		}
	}
	return strconv.FormatInt(kib, 10)
}

// Same inputs, same bytes: twice, after touching the sources, and with one
// or two cores.
func TestBuildReproducible(t *testing.T) {
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			spec := richSpec(t)
			spec.Compression = c
			build := func() []byte {
				var b bytes.Buffer
				if _, err := deb.Build(t.Context(), &b, spec); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
			first := build()
			if !bytes.Equal(first, build()) {
				t.Fatal("two builds differ")
			}
			future := time.Now().Add(48 * time.Hour)
			if err := os.Chtimes(spec.Entries[2].Source, future, future); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(spec.Entries[2].Source, 0o755); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, build()) {
				t.Fatal("touching a source changed the package")
			}
			old := runtime.GOMAXPROCS(1)
			one := build()
			runtime.GOMAXPROCS(2)
			two := build()
			runtime.GOMAXPROCS(old)
			if !bytes.Equal(first, one) || !bytes.Equal(one, two) {
				t.Fatal("output depends on GOMAXPROCS")
			}
		})
	}
}

// mtimes are clamped: zero means the epoch, and every entry gets ModTime.
func TestBuildModTime(t *testing.T) {
	for _, tt := range []struct {
		in, want time.Time
	}{
		{time.Time{}, time.Unix(0, 0)},
		{time.Unix(1700000000, 999), time.Unix(1700000000, 0)},
	} {
		spec := richSpec(t)
		spec.ModTime = tt.in
		p, _ := buildFile(t, spec)
		pkg, err := deb.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range pkg.Files {
			if !f.ModTime.Equal(tt.want) {
				t.Errorf("ModTime %v: %s has mtime %v, want %v", tt.in, f.Path, f.ModTime, tt.want)
			}
		}
	}
}

// Odd-sized files and odd-sized ar members: blakesmith/ar pads after every
// odd Write, so a member written in odd chunks would be corrupt. Vary the
// payload until both members have had both parities, and check each
// package with dpkg-deb and Read.
func TestBuildOddSizedMembers(t *testing.T) {
	dpkgDeb := lookTool(t, "dpkg-deb")
	oddControl, oddData := false, false
	for n := 1; n <= 40 && !(oddControl && oddData); n++ {
		spec := testSpec()
		body := bytes.Repeat([]byte("0123456789abcdefg"), n*37)
		spec.Entries = []deb.Entry{{Dest: "/usr/share/hello/f", Body: body[:len(body)-n%2]}}
		spec.Changelog = bytes.Repeat([]byte{'x'}, n)
		p, _ := buildFile(t, spec)
		pkg, err := deb.ReadFile(p)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if err := pkg.Verify(); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		oddControl = oddControl || pkg.Members[1].Size%2 == 1
		oddData = oddData || pkg.Members[2].Size%2 == 1
		if out, err := runTool(t, dpkgDeb, "--contents", p); err != nil {
			t.Fatalf("n=%d members %+v: dpkg-deb: %v\n%s", n, pkg.Members, err, out)
		}
	}
	if !oddControl || !oddData {
		t.Fatalf("never produced odd members (control %v, data %v)", oddControl, oddData)
	}
}

func TestBuildRejectsBadEntries(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name    string
		entries []deb.Entry
		scripts deb.Scripts
		want    string
	}{
		{"relative", []deb.Entry{{Dest: "usr/bin/x", Body: nil}}, deb.Scripts{}, `destination "usr/bin/x" is relative: it must be absolute`},
		{"empty dest", []deb.Entry{{Dest: ""}}, deb.Scripts{}, "empty destination path"},
		{"dotdot", []deb.Entry{{Dest: "/usr/../etc/passwd"}}, deb.Scripts{}, `destination "/usr/../etc/passwd" contains ".."`},
		{"not canonical", []deb.Entry{{Dest: "/usr//bin/x"}}, deb.Scripts{}, `destination "/usr//bin/x" is not canonical (want "/usr/bin/x")`},
		{"newline", []deb.Entry{{Dest: "/usr/bin/a\nb"}}, deb.Scripts{}, "contains a NUL or newline"},
		{"collision", []deb.Entry{{Dest: "/usr/bin/x"}, {Dest: "/usr/bin/x", Body: []byte("2")}}, deb.Scripts{}, "/usr/bin/x: given twice"},
		{"file then dir", []deb.Entry{{Dest: "/usr/bin/x"}, {Type: deb.Dir, Dest: "/usr/bin/x"}}, deb.Scripts{}, "/usr/bin/x: given twice"},
		{"parent is a file", []deb.Entry{{Dest: "/usr/bin"}, {Dest: "/usr/bin/x"}}, deb.Scripts{}, "/usr/bin/x: its parent /usr/bin is a file, not a directory"},
		{"parent is a symlink", []deb.Entry{{Type: deb.Symlink, Dest: "/opt/a", Target: "/x"}, {Dest: "/opt/a/b"}}, deb.Scripts{}, "its parent /opt/a is a symlink"},
		{"symlink no target", []deb.Entry{{Type: deb.Symlink, Dest: "/usr/bin/x"}}, deb.Scripts{}, "/usr/bin/x: symlink without a target"},
		{"source and body", []deb.Entry{{Dest: "/x", Source: "/etc/hostname", Body: []byte("x")}}, deb.Scripts{}, "/x: set Source or Body, not both"},
		{"dir with body", []deb.Entry{{Type: deb.Dir, Dest: "/x", Body: []byte("x")}}, deb.Scripts{}, "/x: only regular files have a Source, a Body or are conffiles"},
		{"bad type", []deb.Entry{{Type: deb.Other, Dest: "/x"}}, deb.Scripts{}, "/x: unsupported entry type other"},
		{"hardlink to nothing", []deb.Entry{{Type: deb.Hardlink, Dest: "/x", Target: "/a"}}, deb.Scripts{}, "/x: hard link to /a, which is not an entry of the package"},
		{"hardlink to a later file", []deb.Entry{{Type: deb.Hardlink, Dest: "/a", Target: "/b"}, {Dest: "/b"}}, deb.Scripts{}, "/a: hard link to /b, which sorts after it: dpkg links to what it has already unpacked, so make /a the file and /b the link"},
		{"hardlink to a dir", []deb.Entry{{Type: deb.Hardlink, Dest: "/x", Target: "/usr"}, {Type: deb.Dir, Dest: "/usr"}}, deb.Scripts{}, "/x: hard link to /usr, a dir: a hard link must name a regular file"},
		{"hardlink to a hardlink", []deb.Entry{{Dest: "/a"}, {Type: deb.Hardlink, Dest: "/b", Target: "/a"}, {Type: deb.Hardlink, Dest: "/c", Target: "/b"}}, deb.Scripts{}, "/c: hard link to /b, a hardlink"},
		{"hardlink relative", []deb.Entry{{Dest: "/a"}, {Type: deb.Hardlink, Dest: "/b", Target: "a"}}, deb.Scripts{}, `/b: hard link target: destination "a" is relative`},
		{"hardlink to a conffile", []deb.Entry{{Dest: "/etc/a"}, {Type: deb.Hardlink, Dest: "/usr/a", Target: "/etc/a"}}, deb.Scripts{}, "/usr/a: hard link to the conffile /etc/a: dpkg installs and upgrades a conffile on its own"},
		{"hardlink under /etc", []deb.Entry{{Dest: "/a"}, {Type: deb.Hardlink, Dest: "/etc/a", Target: "/a"}}, deb.Scripts{}, "/etc/a: a hard link under /etc is a conffile (set NoConffile to keep it from being one)"},
		{"hardlink conffile", []deb.Entry{{Dest: "/a"}, {Type: deb.Hardlink, Dest: "/b", Target: "/a", Conffile: true}}, deb.Scripts{}, "/b: a hard link cannot be a conffile"},
		{"hardlink mode", []deb.Entry{{Dest: "/a"}, {Type: deb.Hardlink, Dest: "/b", Target: "/a", Mode: 0o755}}, deb.Scripts{}, "/b: mode -rwxr-xr-x differs from its target's -rw-r--r--"},
		{"hardlink body", []deb.Entry{{Dest: "/a"}, {Type: deb.Hardlink, Dest: "/b", Target: "/a", Body: []byte("x")}}, deb.Scripts{}, "/b: only regular files have a Source, a Body or are conffiles"},
		{"config without shebang", nil, deb.Scripts{Config: []byte("db_input\n")}, `config: a maintainer script must start with "#!"`},
		{"root as file", []deb.Entry{{Dest: "/"}}, deb.Scripts{}, "/: the root can only be a directory"},
		{"missing source", []deb.Entry{{Dest: "/x", Source: missing}}, deb.Scripts{}, "no such file or directory"},
		{"source is a dir", []deb.Entry{{Dest: "/x", Source: t.TempDir()}}, deb.Scripts{}, "is not a regular file"},
		{"script without shebang", nil, deb.Scripts{Postinst: []byte("echo hi\n")}, `postinst: a maintainer script must start with "#!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec()
			spec.Entries = tt.entries
			spec.Scripts = tt.scripts
			_, err := deb.Build(t.Context(), discard{}, spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "build hello: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
	t.Run("compression", func(t *testing.T) {
		spec := testSpec()
		spec.Compression = "bzip2"
		_, err := deb.Build(t.Context(), discard{}, spec)
		if err == nil || !strings.Contains(err.Error(), `unknown compression "bzip2" (want gzip, zstd, xz or none)`) {
			t.Fatalf("Build error = %v", err)
		}
	})
}

func TestBuildRejectsBadTriggers(t *testing.T) {
	tests := []struct {
		name, triggers, want string
	}{
		{"no name", "interest\n", `triggers line 1: "interest": want a directive and a trigger name`},
		{"unknown directive", "# comment\n\nwatch /usr/share/x\n", `triggers line 3: unknown directive "watch"`},
		{"bad name", "activate-noawait a\x7fb\n", `triggers line 1: trigger name "a\x7fb": only printable ASCII`},
		{"two names", "interest a b\n", `triggers line 1: trigger name "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec()
			spec.ControlFiles.Triggers = []byte(tt.triggers)
			_, err := deb.Build(t.Context(), discard{}, spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "build hello: ") {
				t.Fatalf("Build error = %v, want one naming the package and containing %q", err, tt.want)
			}
		})
	}
}

func TestBuildCanceled(t *testing.T) {
	spec := richSpec(t)
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := deb.Build(ctx, discard{}, spec); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Build with a canceled context: %v", err)
	}
}

func TestBuildTempFileRemoved(t *testing.T) {
	spec := richSpec(t)
	spec.TempDir = t.TempDir()
	buildFile(t, spec)
	left, err := os.ReadDir(spec.TempDir)
	if err != nil || len(left) != 0 {
		t.Fatalf("TempDir holds %v after Build (%v)", left, err)
	}
	spec.Control.Version = "bad"
	if _, err := deb.Build(t.Context(), discard{}, spec); err == nil {
		t.Fatal("invalid spec built")
	}
	if left, _ := os.ReadDir(spec.TempDir); len(left) != 0 {
		t.Fatalf("TempDir holds %v after a failed Build", left)
	}
}

func TestArch(t *testing.T) {
	for _, tt := range []struct{ goarch, goarm, want, err string }{
		{"amd64", "", "amd64", ""},
		{"arm64", "", "arm64", ""},
		{"arm", "7", "armhf", ""},
		{"arm", "6", "armhf", ""},
		{"arm", "5", "armel", ""},
		{"arm", "7,softfloat", "armhf", ""},
		{"386", "", "i386", ""},
		{"ppc64le", "", "ppc64el", ""},
		{"s390x", "", "s390x", ""},
		{"riscv64", "", "riscv64", ""},
		{"mips64le", "", "mips64el", ""},
		{"mipsle", "", "mipsel", ""},
		{"arm", "", "", "GOARCH=arm needs GOARM to choose the Debian architecture: 5 (armel), 6 or 7 (armhf)"},
		{"arm", "8", "", `GOARM="8": want 5 (armel), 6 or 7 (armhf)`},
		{"wasm", "", "", `GOARCH="wasm" has no Debian architecture`},
	} {
		got, err := deb.Arch(tt.goarch, tt.goarm)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Arch(%q, %q) = %q, %v; want %q, %q", tt.goarch, tt.goarm, got, err, tt.want, tt.err)
		}
	}
}

func TestFilename(t *testing.T) {
	c := deb.Control{Package: "hello", Version: "2:1.0-1", Architecture: "arm64"}
	if got := c.Filename(); got != "hello_1.0-1_arm64.deb" {
		t.Errorf("Filename() = %q", got)
	}
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]deb.Compression{"": deb.Gzip, "gzip": deb.Gzip, "zstd": deb.Zstd, "xz": deb.XZ, "none": deb.None} {
		if got, err := deb.ParseCompression(in); got != want || err != nil {
			t.Errorf("ParseCompression(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := deb.ParseCompression("lz4"); err == nil {
		t.Error("lz4 accepted")
	}
	if deb.Zstd.Warning() == "" || deb.Gzip.Warning() != "" {
		t.Error("only zstd carries a warning")
	}
	for _, w := range []string{"dpkg >= 1.21.18", "Debian 11", "Ubuntu 20.04", "lintian", "bookworm"} {
		if !strings.Contains(deb.ZstdWarning, w) {
			t.Errorf("zstd warning lacks %q", w)
		}
	}
}

func TestBuildLevel(t *testing.T) {
	for _, tt := range []struct {
		c     deb.Compression
		level int
		want  string
	}{
		{deb.Gzip, 10, "gzip level 10: want 1 to 9"},
		{deb.Gzip, -1, "gzip level -1: want 1 to 9"},
		{deb.Zstd, 23, "zstd level 23: want 1 to 22"},
		{deb.XZ, 6, "xz takes no compression level"},
		{deb.None, 1, "none takes no compression level"},
	} {
		spec := testSpec()
		spec.Compression, spec.Level = tt.c, tt.level
		if _, err := deb.Build(t.Context(), discard{}, spec); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s level %d: error %v, want %q", tt.c, tt.level, err, tt.want)
		}
	}
	sizes := map[int]int64{}
	for _, level := range []int{1, 9} {
		spec := richSpec(t)
		spec.Level = level
		p, res := buildFile(t, spec)
		pkg, err := deb.ReadFile(p)
		if err != nil || pkg.Verify() != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		sizes[level] = res.Size
	}
	if sizes[9] >= sizes[1] {
		t.Errorf("gzip level 9 (%d bytes) is not smaller than level 1 (%d)", sizes[9], sizes[1])
	}
}
