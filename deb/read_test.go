package deb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// arMember is one member for arPack.
type arMember struct {
	name string
	body []byte
	size string // the header's size field; "" means the real size
}

// arPack writes an ar archive by hand, so tests can make it lie.
func arPack(members ...arMember) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		size := m.size
		if size == "" {
			size = strconv.Itoa(len(m.body))
		}
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10s`\n", m.name, 0, 0, 0, "100644", size)
		b.Write(m.body)
		if len(m.body)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// tarFile is one regular file for tarGz; size overrides the header's size
// when not negative.
type tarFile struct {
	name string
	body []byte
	size int64
}

func tarGz(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	tw := tar.NewWriter(z)
	for _, f := range files {
		size := int64(len(f.body))
		if f.size > 0 {
			size = f.size
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.body) // short on purpose when size lies
	}
	tw.Flush()
	z.Close()
	return b.Bytes()
}

const minimalControl = "Package: hello\nVersion: 1.0\nArchitecture: all\nMaintainer: A B <a@example.com>\nDescription: x\n"

func readBytes(b []byte) (*deb.Package, error) {
	return deb.Read(bytes.NewReader(b), int64(len(b)))
}

// validDeb builds a small gzip package in memory.
func validDeb(t testing.TB, c deb.Compression) []byte {
	t.Helper()
	spec := testSpec()
	spec.Compression = c
	spec.Entries = []deb.Entry{
		{Dest: "/usr/bin/hello", Body: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
		{Dest: "/etc/hello.conf", Body: []byte("a=1\n")},
		{Type: deb.Symlink, Dest: "/usr/bin/hi", Target: "hello"},
	}
	spec.Scripts.Postinst = []byte("#!/bin/sh\nexit 0\n")
	var b bytes.Buffer
	if _, err := deb.Build(t.Context(), &b, spec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadValid(t *testing.T) {
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			pkg, err := readBytes(validDeb(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if err := pkg.Verify(); err != nil {
				t.Error(err)
			}
			if pkg.Control.Package != "hello" || pkg.Control.Version != "1.0.0-1" || pkg.Control.InstalledSize == 0 {
				t.Errorf("control = %+v", pkg.Control)
			}
			if len(pkg.Fields) == 0 || pkg.Fields[0] != (deb.Field{Name: "Package", Value: "hello"}) {
				t.Errorf("fields = %+v", pkg.Fields)
			}
			names := []string{}
			for _, m := range pkg.Members {
				names = append(names, m.Name)
			}
			ext := map[deb.Compression]string{deb.Gzip: ".gz", deb.Zstd: ".zst", deb.XZ: ".xz", deb.None: ""}[c]
			if strings.Join(names, " ") != "debian-binary control.tar"+ext+" data.tar"+ext {
				t.Errorf("members %v", names)
			}
			var bin *deb.FileInfo
			for i := range pkg.Files {
				if pkg.Files[i].Path == "./usr/bin/hello" {
					bin = &pkg.Files[i]
				}
			}
			if bin == nil || bin.Mode != 0o755 || bin.Uname != "root" || bin.Gname != "root" || bin.Uid != 0 || bin.Size != 18 || bin.MD5 != fmt.Sprintf("%x", md5.Sum([]byte("#!/bin/sh\necho hi\n"))) {
				t.Errorf("usr/bin/hello = %+v", bin)
			}
			if len(pkg.Conffiles) != 1 || pkg.Conffiles[0] != "/etc/hello.conf" {
				t.Errorf("conffiles %q", pkg.Conffiles)
			}
			if string(pkg.Scripts["postinst"]) != "#!/bin/sh\nexit 0\n" {
				t.Errorf("postinst %q", pkg.Scripts["postinst"])
			}
		})
	}
}

// A package built by dpkg-deb reads the same way.
func TestReadDpkgDebPackage(t *testing.T) {
	for _, z := range []string{"gzip", "xz", "zstd", "none"} {
		pkg, err := readBytes(dpkgDebBuild(t, z))
		if err != nil {
			t.Fatalf("%s: %v", z, err)
		}
		if err := pkg.Verify(); err != nil || pkg.Control.Package != "hello" || len(pkg.Files) != 5 {
			t.Errorf("%s: %v %+v", z, err, pkg)
		}
	}
}

// dpkgDebBuild returns a package of minimalControl and one file that
// dpkg-deb builds with compression z (dpkg-deb's -Z).
func dpkgDebBuild(t *testing.T, z string) []byte {
	t.Helper()
	dpkgDeb := lookTool(t, "dpkg-deb")
	root := t.TempDir()
	for p, body := range map[string]string{"DEBIAN/control": minimalControl, "usr/share/hello/a": "a\n", "DEBIAN/md5sums": "60b725f10c9c85c70d97880dfe8191b3  usr/share/hello/a\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "x.deb")
	if o, err := runTool(t, dpkgDeb, "--root-owner-group", "-Z"+z, "--build", root, out); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadMD5Mismatch(t *testing.T) {
	data := tarGz(t, tarFile{name: "./usr/a", body: []byte("a\n")}, tarFile{name: "./usr/b", body: []byte("b\n")}, tarFile{name: "./etc/c", body: []byte("c\n")})
	control := tarGz(t,
		tarFile{name: "./control", body: []byte(minimalControl)},
		tarFile{name: "./conffiles", body: []byte("/etc/c\n")},
		tarFile{name: "./md5sums", body: []byte("00000000000000000000000000000000  usr/a\n60b725f10c9c85c70d97880dfe8191b3  usr/gone\n")})
	pkg, err := readBytes(arPack(arMember{name: "debian-binary", body: []byte("2.0\n")}, arMember{name: "control.tar.gz", body: control}, arMember{name: "data.tar.gz", body: data}))
	if err != nil {
		t.Fatal(err)
	}
	want := "usr/a usr/b usr/gone" // wrong sum, unlisted, listed but missing; the unlisted conffile is fine
	if got := strings.Join(pkg.MD5Mismatches, " "); got != want {
		t.Errorf("MD5Mismatches %q, want %q", got, want)
	}
	err = pkg.Verify()
	if !errors.Is(err, deb.ErrMD5Mismatch) || !strings.Contains(err.Error(), "usr/a, usr/b, usr/gone") {
		t.Errorf("Verify() = %v", err)
	}
}

// Hostile input gives a clear error, never a panic or a huge allocation.
func TestReadHostile(t *testing.T) {
	good := validDeb(t, deb.Gzip)
	if _, err := readBytes(good); err != nil {
		t.Fatal(err)
	}
	control := tarGz(t, tarFile{name: "./control", body: []byte(minimalControl)})
	data := tarGz(t, tarFile{name: "./a", body: []byte("a")})
	bin := arMember{name: "debian-binary", body: []byte("2.0\n")}
	ctl := arMember{name: "control.tar.gz", body: control}
	dat := arMember{name: "data.tar.gz", body: data}
	// A control member that inflates to 100 MiB of zeros in one file.
	var bomb bytes.Buffer
	z, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	tw := tar.NewWriter(z)
	tw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: 100 << 20, Typeflag: tar.TypeReg})
	zero := make([]byte, 1<<20)
	for range 100 {
		tw.Write(zero)
	}
	tw.Close()
	z.Close()
	// Many files of 16 MiB: each under the per-file cap, too much together.
	var bomb2 bytes.Buffer
	z2, _ := gzip.NewWriterLevel(&bomb2, gzip.BestCompression)
	tw2 := tar.NewWriter(z2)
	for i := range 5 {
		tw2.WriteHeader(&tar.Header{Name: "./f" + strconv.Itoa(i), Mode: 0o644, Size: 16 << 20, Typeflag: tar.TypeReg})
		for range 16 {
			tw2.Write(zero)
		}
	}
	tw2.Close()
	z2.Close()
	// An xz stream whose LZMA2 block asks for a 3 GiB dictionary.
	xzDeb := validDeb(t, deb.XZ)
	xzPkg, _ := readBytes(xzDeb)
	xzBody := []byte(nil)
	off := int64(8)
	for i, m := range xzPkg.Members {
		if i == 1 {
			xzBody = append([]byte(nil), xzDeb[off+60:off+60+m.Size]...)
		}
		off += 60 + m.Size + m.Size%2
	}
	xzBody[12+4] = 39 // block header: size, flags, filter id 0x21, props size 1, dict byte
	hdrEnd := 12 + (int(xzBody[12])+1)*4
	binary.LittleEndian.PutUint32(xzBody[hdrEnd-4:], crc32.ChecksumIEEE(xzBody[12:hdrEnd-4]))

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a .deb: too short"},
		{"not ar", []byte("PK\x03\x04 a zip file, not a deb"), "not a .deb: no ar magic"},
		{"truncated header", good[:8+30], "truncated"},
		{"bad header end", append([]byte("!<arch>\n"), bytes.Repeat([]byte{' '}, 60)...), "bad ar header"},
		{"size past end", arPack(bin, arMember{name: "control.tar.gz", body: control, size: "99999999"}), "runs past the end of the file"},
		{"negative size", arPack(bin, arMember{name: "control.tar.gz", body: control, size: "-5"}), "bad size \"-5\""},
		{"hex size", arPack(bin, arMember{name: "control.tar.gz", body: control, size: "0x10"}), "bad size \"0x10\""},
		{"missing data", arPack(bin, ctl), "want members debian-binary, control.tar.*, data.tar.*"},
		{"wrong order", arPack(bin, dat, ctl), "second member is \"data.tar.gz\""},
		{"bad data name", arPack(bin, ctl, arMember{name: "data.tar.bz2", body: data}), "third member is \"data.tar.bz2\""},
		{"format 3.0", arPack(arMember{name: "debian-binary", body: []byte("3.0\n")}, ctl, dat), "unsupported format version \"3.0\""},
		{"long debian-binary", arPack(arMember{name: "debian-binary", body: bytes.Repeat([]byte("2"), 100)}, ctl, dat), "debian-binary: 100 bytes is too long"},
		{"control not gzip", arPack(bin, arMember{name: "control.tar.gz", body: []byte("plain")}, dat), "control.tar.gz: gzip"},
		{"no control file", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./md5sums", body: []byte("")})}, dat), "no control file"},
		{"bad control", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./control", body: []byte("no colon here\n")})}, dat), "missing ':'"},
		{"bad md5sums", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./control", body: []byte(minimalControl)}, tarFile{name: "./md5sums", body: []byte("xyz a\n")})}, dat), "md5sums line 1 is malformed"},
		{"lying tar size in control", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./control", body: []byte(minimalControl), size: 1 << 40})}, dat), "allowed"},
		{"lying tar size in data", arPack(bin, ctl, arMember{name: "data.tar.gz", body: tarGz(t, tarFile{name: "./a", body: []byte("abc"), size: 1 << 20})}), "unexpected EOF"},
		{"control file bomb", arPack(bin, arMember{name: "control.tar.gz", body: bomb.Bytes()}, dat), "more than the 16777216 allowed"},
		{"control tarball bomb", arPack(bin, arMember{name: "control.tar.gz", body: bomb2.Bytes()}, dat), "decompressed control tarball exceeds"},
		{"xz dictionary bomb", arPack(bin, arMember{name: "control.tar.xz", body: xzBody}, arMember{name: "data.tar.xz", body: xzBody}), "block 1 asks for an LZMA2 dictionary of 3221225472 bytes, more than the 16777216 Read allows"},
		{"too many members", arPack(append([]arMember{bin, ctl, dat}, repeatMember(40)...)...), "more than 32 ar members"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readBytes(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// Every truncation of a valid package is an error, never a panic.
	for n := 0; n < len(good); n += 7 {
		if _, err := readBytes(good[:n]); err == nil {
			t.Errorf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
}

func repeatMember(n int) []arMember {
	out := make([]arMember, n)
	for i := range out {
		out[i] = arMember{name: "_extra" + strconv.Itoa(i), body: []byte("x")}
	}
	return out
}

// The heap one Read of n bytes may allocate in FuzzRead: the caps on what
// Read holds at once, with room to spare, plus 512 bytes per input byte
// for decoder state set up again for each xz block (some 9 KiB for a
// block of 26 bytes or more).
func maxReadAlloc(n int) uint64 { return 64<<20 + 512*uint64(n) }

// FuzzRead feeds Read arbitrary bytes: it must return (a package or an
// error) without panicking, a package it returns must be consistent, and
// one Read may allocate no more than maxReadAlloc. The bytes allocated
// bound the heap Read holds at its peak from above, whatever the collector
// does meanwhile, and they depend neither on what the process did before
// nor on when the collector runs: a failure reproduces, and the fuzzer's
// coverage stays steady, which a measure of the process's memory (in a
// branch taken or not by how much it holds) upset. TestReadMemory measures
// the peak itself, in a fresh process.
// Seeds: testdata/fuzz/FuzzRead (valid packages of every compression,
// corruptions of them, hard links in a chain and to a later entry) plus the
// packages added here: small forms of TestReadMemory's hostile ones.
func FuzzRead(f *testing.F) {
	for _, c := range compressions {
		f.Add(validDeb(f, c))
	}
	f.Add(xzDictDeb(f, 2, 40))
	f.Add(xzBlocksDeb(f, 50, 24))
	f.Add(longNamesDeb(f, 3, 8192, true))
	f.Add(zstdFramesDeb(f, 50, 16<<20))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocated()
		pkg, err := readBytes(data)
		if n := allocated() - before; n > maxReadAlloc(len(data)) {
			t.Fatalf("one Read of %d bytes allocated %d bytes, more than %d (error: %v)", len(data), n, maxReadAlloc(len(data)), err)
		}
		if err != nil {
			return
		}
		if pkg.Control.Package == "" && len(pkg.Fields) == 0 {
			t.Fatal("a package without control fields was accepted")
		}
		if len(pkg.Members) < 3 {
			t.Fatalf("accepted %d members", len(pkg.Members))
		}
		_ = pkg.Verify()
	})
}

// TestWriteFuzzSeeds (re)writes the seed corpus with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if !*update {
		if ents, err := os.ReadDir(dir); err != nil || len(ents) < 5 {
			t.Fatalf("seed corpus %s missing or small (%v); run go test ./deb -run FuzzSeeds -update", dir, err)
		}
		return
	}
	seeds := map[string][]byte{}
	for _, c := range compressions {
		seeds["valid-"+string(c)] = validDeb(t, c)
	}
	g := seeds["valid-gzip"]
	seeds["truncated-half"] = g[:len(g)/2]
	lying := bytes.Clone(g)
	copy(lying[8+48:8+58], "9999999999")
	seeds["lying-ar-size"] = lying
	flipped := bytes.Clone(g)
	flipped[len(flipped)-40] ^= 0xff
	seeds["corrupt-data"] = flipped
	long := "./d/" + strings.Repeat("n", 120)
	seeds["hardlink-chain"] = handMadeDeb(t, []tarEntry{
		{typ: tar.TypeReg, name: long, body: "a\n"}, {typ: tar.TypeLink, name: "./d/b", link: long},
		{typ: tar.TypeLink, name: "./d/c", link: "d/b"}, {typ: tar.TypeFifo, name: "./d/p"},
	})
	seeds["hardlink-to-later"] = handMadeDeb(t, []tarEntry{{typ: tar.TypeLink, name: "./d/b", link: "./d/a"}, {typ: tar.TypeReg, name: "./d/a", body: "a\n"}})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
