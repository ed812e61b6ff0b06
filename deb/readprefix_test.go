package deb_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// readControlBytes is ReadControl on the first n bytes of b.
func readControlBytes(b []byte, n int) (deb.Control, error) {
	return deb.ReadControl(bytes.NewReader(b[:n]), int64(n))
}

// controlEnd is where the control member of a package Read accepted ends.
func controlEnd(pkg *deb.Package) int {
	bin, ctl := pkg.Members[0].Size, pkg.Members[1].Size
	return int(8 + 60 + bin + bin%2 + 60 + ctl)
}

// checkPrefixes checks ReadControl on every prefix of data up to just
// past its control member, and on all of it: before the control member
// ends it asks for more, for exactly the bytes that hold the control
// member once it sees the member's header (192 bytes on), and from there
// on it reads what Read reads.
func checkPrefixes(t *testing.T, data []byte) {
	t.Helper()
	pkg, err := readBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	end := controlEnd(pkg)
	for n := 0; n <= min(end+2, len(data)); n++ {
		c, err := readControlBytes(data, n)
		var short *deb.ShortPrefixError
		switch {
		case n >= end && err != nil:
			t.Fatalf("first %d bytes, control member ends at %d: %v", n, end, err)
		case n >= end && !reflect.DeepEqual(c, pkg.Control):
			t.Fatalf("first %d bytes: control %+v, Read says %+v", n, c, pkg.Control)
		case n >= end:
		case !errors.As(err, &short):
			t.Fatalf("first %d bytes, control member ends at %d: error %v, want a *ShortPrefixError", n, end, err)
		case short.Have != int64(n) || short.Need <= int64(n) || short.Need > int64(end) || n >= 192 && short.Need != int64(end):
			t.Fatalf("first %d bytes, control member ends at %d: %+v", n, end, short)
		}
	}
	if c, err := readControlBytes(data, len(data)); err != nil || !reflect.DeepEqual(c, pkg.Control) {
		t.Fatalf("whole file: %+v, %v", c, err)
	}
}

// ReadControl reads the control fields from any prefix that holds the
// control member, and asks for the bytes that hold it from a shorter one:
// packages Build writes, dpkg-deb writes, and real Debian packages.
func TestReadControlPrefixes(t *testing.T) {
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) { checkPrefixes(t, validDeb(t, c)) })
	}
	// An odd-sized debian-binary, followed by its padding byte.
	odd := arPack(arMember{name: "debian-binary", body: []byte("2.0\n\n")}, arMember{name: "control.tar.gz", body: minimalControlGz(t)},
		arMember{name: "data.tar.gz", body: tarGz(t, tarFile{name: "./a", body: []byte("a")})})
	t.Run("odd debian-binary", func(t *testing.T) { checkPrefixes(t, odd) })
	t.Run("dpkg-deb", func(t *testing.T) {
		for _, z := range []string{"gzip", "xz", "zstd", "none"} {
			checkPrefixes(t, dpkgDebBuild(t, z))
		}
	})
	t.Run("real", func(t *testing.T) {
		for _, path := range aptDownload(t, []string{"perl-base", "tzdata", "base-files"}) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(filepath.Base(path), func(t *testing.T) { checkPrefixes(t, data) })
		}
	})
}

// Hostile or broken prefixes give an error that says what is wrong, or
// ask for a bounded number of bytes; never a panic.
func TestReadControlHostile(t *testing.T) {
	good := validDeb(t, deb.Gzip)
	control := minimalControlGz(t)
	bin := arMember{name: "debian-binary", body: []byte("2.0\n")}
	tests := []struct {
		name string
		data []byte
		want string // in the error
	}{
		{"empty", nil, "past the 0 bytes read"},
		{"half the magic", []byte("!<ar"), "ends at byte 8, past the 4 bytes read"},
		{"not ar", []byte("PK\x03\x04 a zip file, not a deb"), "not a .deb: no ar magic"},
		{"not ar, short", []byte("<html>"), "not a .deb: no ar magic"},
		{"text", []byte(strings.Repeat("garbage ", 100)), "not a .deb: no ar magic"},
		{"bad header end", append([]byte("!<arch>\n"), bytes.Repeat([]byte{' '}, 60)...), "bad ar header"},
		{"data first", arPack(arMember{name: "data.tar.gz", body: control}), `first member is "data.tar.gz"`},
		{"format 3.0", arPack(arMember{name: "debian-binary", body: []byte("3.0\n")}, arMember{name: "control.tar.gz", body: control}), `unsupported format version "3.0"`},
		{"long debian-binary", arPack(arMember{name: "debian-binary", body: bytes.Repeat([]byte("2"), 100)}), "debian-binary: 100 bytes is too long"},
		{"huge debian-binary", arPack(arMember{name: "debian-binary", body: []byte("2.0\n"), size: "9999999999"}), "debian-binary: 9999999999 bytes is too long"},
		{"wrong second member", arPack(bin, arMember{name: "data.tar.gz", body: control}), `second member is "data.tar.gz"`},
		{"huge control member", arPack(bin, arMember{name: "control.tar.gz", body: control, size: "9999999999"}), "control.tar.gz: 9999999999 bytes is more than the 16777216 allowed"},
		{"negative size", arPack(bin, arMember{name: "control.tar.gz", body: control, size: "-5"}), `bad size "-5"`},
		{"control not gzip", arPack(bin, arMember{name: "control.tar.gz", body: []byte("plain")}), "control.tar.gz: gzip"},
		{"no control file", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./md5sums"})}), "no control file"},
		{"bad control", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./control", body: []byte("no colon\n")})}), "missing ':'"},
		{"lying tar size", arPack(bin, arMember{name: "control.tar.gz", body: tarGz(t, tarFile{name: "./control", body: []byte(minimalControl), size: 1 << 40})}), "allowed"},
		{"cut control member", good[:len(good)/2], "past the"},
		{"control member runs past the prefix", arPack(bin, arMember{name: "control.tar.gz", body: control, size: "16777216"}), "ends at byte 16777348, past the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readControlBytes(tt.data, len(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadControl error = %v, want it to contain %q", err, tt.want)
			}
			var short *deb.ShortPrefixError
			if errors.As(err, &short) && (short.Need <= short.Have || short.Need > 16<<20+192) {
				t.Errorf("asks for %d bytes, having %d", short.Need, short.Have)
			}
		})
	}
}

// FuzzReadControl feeds ReadControl arbitrary bytes: it must return
// without panicking and allocate no more than one Read may; what it asks
// for is more than it has and bounded; and on a package Read accepts it
// reads the same control fields.
func FuzzReadControl(f *testing.F) {
	for _, c := range compressions {
		f.Add(validDeb(f, c))
	}
	good := validDeb(f, deb.Gzip)
	f.Add(good[:100])
	f.Add(good[:len(good)/2])
	f.Add(paxNamesDeb(f, 3, 8192))
	f.Add(continuationDeb(f, 4096))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocated()
		c, err := readControlBytes(data, len(data))
		if n := allocated() - before; n > maxReadAlloc(len(data)) {
			t.Fatalf("one ReadControl of %d bytes allocated %d bytes, more than %d (error: %v)", len(data), n, maxReadAlloc(len(data)), err)
		}
		var short *deb.ShortPrefixError
		if errors.As(err, &short) && (short.Have != int64(len(data)) || short.Need <= short.Have || short.Need > 16<<20+192) {
			t.Fatalf("asks for %d bytes, having %d of %d", short.Need, short.Have, len(data))
		}
		pkg, rerr := readBytes(data)
		if rerr == nil && (err != nil || !reflect.DeepEqual(c, pkg.Control)) {
			t.Fatalf("Read accepts the package with control %+v; ReadControl: %+v, %v", pkg.Control, c, err)
		}
	})
}
