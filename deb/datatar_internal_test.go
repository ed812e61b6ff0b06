package deb

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// rawHeader is a 512-byte tar header with a valid checksum; set edits the
// fields first (offsets as in struct tar_header).
func rawHeader(name string, typeflag byte, size int64, set func(b *[tarBlockSize]byte)) []byte {
	var b [tarBlockSize]byte
	copy(b[:], name)
	copy(thMode.of(&b), "0000644\x00")
	copy(thUID.of(&b), "0000000\x00")
	copy(thGID.of(&b), "0000000\x00")
	copy(thSize.of(&b), fmt.Sprintf("%011o\x00", size))
	copy(thMtime.of(&b), "14531674000\x00")
	b[156] = typeflag
	copy(thMagic.of(&b), "ustar  \x00")
	copy(thUname.of(&b), "root")
	copy(thGname.of(&b), "root")
	if set != nil {
		set(&b)
	}
	copy(thChecksum.of(&b), "        ")
	var sum int
	for _, c := range b {
		sum += int(c)
	}
	copy(thChecksum.of(&b), fmt.Sprintf("%06o\x00 ", sum))
	return b[:]
}

// block pads s with NULs to whole blocks.
func block(s string) []byte {
	b := []byte(s)
	return append(b, make([]byte, -len(b)&(tarBlockSize-1))...)
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// The tar forms dpkg's extractor has its own view of (lib/dpkg/tarfn.c).
func TestDataTarLikeTarfn(t *testing.T) {
	zero := make([]byte, 2*tarBlockSize)
	file := join(rawHeader("./a", '0', 3, nil), block("ab\n"))
	tests := []struct {
		name  string
		tar   []byte
		paths string // the entries read, space-separated
		err   string
	}{
		{"with end blocks", join(file, zero), "./a", ""},
		{"no end blocks", file, "./a", ""},
		{"NUL typeflag is a file", join(rawHeader("./a", 0, 3, nil), block("ab\n")), "./a", ""},
		{"file type with a slash is a directory without data", join(rawHeader("./x/", '0', 512, nil), file), "./x/ ./a", ""},
		{"size on a symlink is not data", join(rawHeader("./s", '2', 512, func(b *[512]byte) { copy(thLinkname.of(b), "a") }), file), "./s ./a", ""},
		{"ustar prefix", join(rawHeader("b", '0', 0, func(b *[512]byte) { copy(thMagic.of(b), "ustar\x0000"); copy(thPrefix.of(b), "./p") })), "./p/b", ""},
		{"prefix ignored in GNU format", join(rawHeader("b", '0', 0, func(b *[512]byte) { copy(thPrefix.of(b), "./p") })), "b", ""},
		{"base-256 size", join(rawHeader("./a", '0', 0, func(b *[512]byte) { copy(thSize.of(b), "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03") }), block("ab\n")), "./a", ""},
		{"space-padded numbers", join(rawHeader("./a", '0', 0, func(b *[512]byte) { copy(thSize.of(b), "         3 ") }), block("ab\n")), "./a", ""},
		{"GNU long name", join(rawHeader("././@LongLink", 'L', 301, nil), block(strings.Repeat("x", 300)+"\x00"), rawHeader("short", '0', 0, nil)), strings.Repeat("x", 300), ""},
		{"bad checksum, empty name: the end", join(file, block("\x00garbage after the archive")), "./a", ""},
		{"bad checksum", join(rawHeader("./a", '0', 0, func(b *[512]byte) { b[500] = 1 })[:148], []byte("0000000\x00"), make([]byte, 512-156)), "", "./a: invalid tar header checksum"},
		{"octal digit 8 in size", join(rawHeader("./a", '0', 0, func(b *[512]byte) { copy(thSize.of(b), "00000000008\x00") })), "", "invalid tar header size field"},
		{"blank uid", join(rawHeader("./a", '0', 0, func(b *[512]byte) { copy(thUID.of(b), "        ") })), "", "invalid tar header uid field"},
		{"negative size", join(rawHeader("./a", '0', 0, func(b *[512]byte) { copy(thSize.of(b), bytes.Repeat([]byte{0xff}, 12)) })), "", "invalid tar header size field"},
		{"partial header", join(file, make([]byte, 100)), "", "partially read tar header"},
		{"truncated content", rawHeader("./a", '0', 3, nil), "", "unexpected EOF"},
		{"missing padding", join(rawHeader("./a", '0', 3, nil), []byte("ab\n")), "", "unexpected end of file or stream"},
		{"empty long name", join(rawHeader("././@LongLink", 'L', 1, nil), block("\x00"), rawHeader("short", '0', 0, nil)), "", "invalid tar header with empty name field"},
		{"longest long name", join(rawHeader("././@LongLink", 'L', maxPath, nil), block(strings.Repeat("x", maxPath-1)+"\x00"), rawHeader("short", '0', 0, nil)), strings.Repeat("x", maxPath-1), ""},
		{"long name past PATH_MAX", rawHeader("././@LongLink", 'L', maxPath+1, nil), "", "GNU long name of 4097 bytes is longer than PATH_MAX (4096 bytes)"},
		{"long link past PATH_MAX", rawHeader("././@LongLink", 'K', 1<<20, nil), "", "GNU long link target of 1048576 bytes is longer than PATH_MAX"},
		{"GNU sparse", rawHeader("./a", 'S', 0, nil), "", "unsupported GNU tar header type 'S'"},
		{"PAX global header", rawHeader("pax_global_header", 'g', 0, nil), "", "unsupported PAX tar header type 'g'"},
		{"Solaris ACL", rawHeader("./a", 'A', 0, nil), "", "unsupported Solaris tar header type 'A'"},
		{"newline in a name", rawHeader("./a\nb", '0', 0, nil), "", "newline not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Package{}
			err := p.readData(io.NewSectionReader(bytes.NewReader(tt.tar), 0, int64(len(tt.tar))), None, nil, &keeper{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, f := range p.Files {
				paths = append(paths, f.Path)
			}
			if got := strings.Join(paths, " "); got != tt.paths {
				t.Errorf("entries %q, want %q", got, tt.paths)
			}
		})
	}
}
