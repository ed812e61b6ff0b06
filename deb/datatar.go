package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// The data tarball is read the way dpkg's own extractor reads it
// (tar_extractor in lib/dpkg/tarfn.c, then tarobject in src/main/archives.c),
// not the way archive/tar or GNU tar do: dpkg -i never runs tar on data.tar,
// so what that code accepts is what a package may contain. It differs from
// archive/tar in ways that matter to a package: PAX headers, GNU sparse files
// and contiguous files ('7') are errors; only regular files carry data (a
// size on any other entry is ignored, not skipped); a '0' entry whose name
// ends in '/' is a directory; the checksum is the unsigned sum only; the
// archive ends at the first header that fails to decode with an empty name
// (or at end of input), without needing two zero blocks.

const tarBlockSize = 512

// tarEntry is one decoded data tarball entry.
type tarEntry struct {
	name, linkname     string
	typeflag           byte // '\0' already mapped to '0'
	mode               int64
	uid, gid           int64
	uname, gname       string
	size               int64
	mtime              int64
	devmajor, devminor int64
}

// dpkgTarReader reads a tar stream entry by entry; Read reads the current
// regular file's content.
type dpkgTarReader struct {
	r    io.Reader
	blk  [tarBlockSize]byte
	cur  tarEntry      // what Next returns, reused
	long [maxPath]byte // a GNU long name or link being read
	left int64         // content bytes of the current entry not read yet
	pad  int64         // padding after them
}

// Read reads the current regular file's content; it returns io.EOF at its
// end and io.ErrUnexpectedEOF when the stream ends first.
func (t *dpkgTarReader) Read(p []byte) (int, error) {
	if t.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > t.left {
		p = p[:t.left]
	}
	n, err := t.r.Read(p)
	t.left -= int64(n)
	if err == io.EOF {
		if t.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	return n, err
}

// skipCurrent discards what is left of the current entry and its padding.
func (t *dpkgTarReader) skipCurrent() error {
	n := t.left + t.pad
	if n == 0 {
		return nil
	}
	got, err := io.CopyN(io.Discard, t.r, n)
	t.left, t.pad = 0, 0
	if err == io.EOF || err == nil && got < n {
		return errors.New("unexpected end of file or stream")
	}
	return err
}

// Next returns the next entry, GNU long names and links applied, or io.EOF
// at the end of the archive; the entry is valid until the next call. Errors
// carry dpkg's wording.
func (t *dpkgTarReader) Next() (*tarEntry, error) {
	if err := t.skipCurrent(); err != nil {
		return nil, err
	}
	var longName, longLink *string
	for {
		n, err := io.ReadFull(t.r, t.blk[:])
		switch {
		case n == 0 && err == io.EOF:
			return nil, io.EOF // dpkg needs no end-of-archive blocks
		case err == io.ErrUnexpectedEOF:
			return nil, errors.New("partially read tar header")
		case err != nil:
			return nil, err
		}
		e := &t.cur
		if err := decodeTarHeader(&t.blk, e); err != nil {
			if e.name == "" {
				return nil, io.EOF // the zero blocks that end the archive
			}
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		if e.typeflag != 'K' && e.typeflag != 'L' {
			if longName != nil {
				e.name = *longName
			}
			if longLink != nil {
				e.linkname = *longLink
			}
		}
		if e.name == "" {
			return nil, errors.New("invalid tar header with empty name field")
		}
		switch e.typeflag {
		case '0':
			if !strings.HasSuffix(e.name, "/") {
				t.left, t.pad = e.size, -e.size&(tarBlockSize-1)
				return e, nil
			}
			// A pre-POSIX directory: dpkg makes it one and reads no data.
			e.typeflag = '5'
			return e, nil
		case '1', '2', '3', '4', '5', '6':
			return e, nil
		case 'K', 'L':
			what := "name"
			if e.typeflag == 'K' {
				what = "link target"
			}
			s, err := t.readLong(e.size, what)
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, io.EOF // dpkg stops quietly at a clean end here
			}
			if e.typeflag == 'L' {
				longName = s
			} else {
				longLink = s
			}
		case 'V', 'M', 'S', 'D':
			return nil, fmt.Errorf("%s: unsupported GNU tar header type '%c'", e.name, e.typeflag)
		case 'X', 'A':
			return nil, fmt.Errorf("%s: unsupported Solaris tar header type '%c'", e.name, e.typeflag)
		case 'g', 'x':
			return nil, fmt.Errorf("%s: unsupported PAX tar header type '%c'", e.name, e.typeflag)
		default:
			return nil, fmt.Errorf("%s: unknown tar header type %q", e.name, e.typeflag)
		}
	}
}

// readLong reads a GNU long name or link of size bytes (in whole blocks),
// cut at its first NUL as dpkg does. It returns nil at a clean end of input.
// dpkg allocates whatever size the header gives; Read refuses more than
// PATH_MAX, its NUL included, which no system call would take.
func (t *dpkgTarReader) readLong(size int64, what string) (*string, error) {
	if size > maxPath {
		return nil, fmt.Errorf("GNU long %s of %d bytes is longer than PATH_MAX (%d bytes)", what, size, maxPath)
	}
	b := t.long[:0]
	for left := size; left > 0; left -= tarBlockSize {
		n, err := io.ReadFull(t.r, t.blk[:])
		switch {
		case n == 0 && err == io.EOF:
			return nil, nil
		case err == io.ErrUnexpectedEOF:
			return nil, errors.New("partially read tar header")
		case err != nil:
			return nil, err
		}
		b = append(b, t.blk[:min(left, tarBlockSize)]...)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	return &s, nil
}

// Header field offsets and sizes (struct tar_header in tarfn.c).
var (
	thName     = field{0, 100}
	thMode     = field{100, 8}
	thUID      = field{108, 8}
	thGID      = field{116, 8}
	thSize     = field{124, 12}
	thMtime    = field{136, 12}
	thChecksum = field{148, 8}
	thLinkname = field{157, 100}
	thMagic    = field{257, 8}
	thUname    = field{265, 32}
	thGname    = field{297, 32}
	thDevmajor = field{329, 8}
	thDevminor = field{337, 8}
	thPrefix   = field{345, 155}
)

type field struct{ off, size int }

func (f field) of(b *[tarBlockSize]byte) []byte { return b[f.off : f.off+f.size] }

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// decodeTarHeader is tar_header_decode into e: it always fills the name
// (the caller tells the end of the archive by it) before checking the
// numbers.
func decodeTarHeader(b *[tarBlockSize]byte, e *tarEntry) error {
	*e = tarEntry{typeflag: b[156]}
	if e.typeflag == 0 {
		e.typeflag = '0'
	}
	magic := thMagic.of(b)
	ustar := string(magic[:6]) == "ustar\x00"
	if ustar && thPrefix.of(b)[0] != 0 {
		e.name = cstring(thPrefix.of(b)) + "/" + cstring(thName.of(b))
	} else {
		e.name = cstring(thName.of(b))
	}
	e.linkname = cstring(thLinkname.of(b))
	// dpkg ignores a bad mode field and keeps what the parse gave.
	mode, _ := tarUnsigned(thMode.of(b), math.MaxUint32)
	e.mode = int64(mode & 0o7777)
	size, err := tarUnsigned(thSize.of(b), math.MaxInt64)
	if err != nil {
		return errors.New("invalid tar header size field")
	}
	e.size = int64(size)
	mtime, err := tarSigned(thMtime.of(b))
	if err != nil {
		return errors.New("invalid tar header mtime field")
	}
	e.mtime = mtime
	if e.typeflag == '3' || e.typeflag == '4' {
		// Unchecked, as in dpkg; makedev keeps 32 bits of each.
		maj, _ := tarUnsigned(thDevmajor.of(b), math.MaxUint64)
		minor, _ := tarUnsigned(thDevminor.of(b), math.MaxUint64)
		e.devmajor, e.devminor = int64(uint32(maj)), int64(uint32(minor))
	}
	e.uname = cstring(thUname.of(b))
	uid, err := tarUnsigned(thUID.of(b), math.MaxUint32)
	if err != nil {
		return errors.New("invalid tar header uid field")
	}
	e.gname = cstring(thGname.of(b))
	gid, err := tarUnsigned(thGID.of(b), math.MaxUint32)
	if err != nil {
		return errors.New("invalid tar header gid field")
	}
	e.uid, e.gid = int64(uid), int64(gid)
	sum, err := tarOctal(thChecksum.of(b))
	if err != nil {
		return errors.New("invalid tar header checksum field")
	}
	var got uint64 = ' ' * 8
	for i, c := range b {
		if i < thChecksum.off || i >= thChecksum.off+thChecksum.size {
			got += uint64(c)
		}
	}
	if got != sum {
		return errors.New("invalid tar header checksum")
	}
	return nil
}

var errTarNumber = errors.New("invalid tar number")

// tarOctal is tar_atol8: optional leading spaces, octal digits, then only
// NULs and spaces. A field of NULs is 0; a field of spaces is an error.
func tarOctal(s []byte) (uint64, error) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i == len(s) {
		return 0, errTarNumber
	}
	var n uint64
	for ; i < len(s) && s[i] != 0 && s[i] != ' '; i++ {
		if s[i] < '0' || s[i] > '7' {
			return 0, errTarNumber
		}
		n = n<<3 | uint64(s[i]-'0')
	}
	for ; i < len(s); i++ {
		if s[i] != 0 && s[i] != ' ' {
			return 0, errTarNumber
		}
	}
	return n, nil
}

// tarBase256 is tar_atol256: a two's complement number in the field's last
// eight bytes, marked by a first byte of 0x80 (positive) or 0xff
// (negative); the bytes before them must be sign extension.
func tarBase256(s []byte) (uint64, error) {
	var n uint64
	c := s[0]
	if c == 0x80 {
		c = 0
	} else {
		n = math.MaxUint64
	}
	sign := c
	s = s[1:]
	for len(s)+1 > 8 {
		if c != sign {
			return 0, errTarNumber
		}
		c, s = s[0], s[1:]
	}
	if c&0x80 != sign&0x80 {
		return 0, errTarNumber
	}
	for {
		n = n<<8 | uint64(c)
		if len(s) == 0 {
			return n, nil
		}
		c, s = s[0], s[1:]
	}
}

// tarUnsigned is tar_atoul: octal or base-256, at most max.
func tarUnsigned(s []byte, max uint64) (uint64, error) {
	var n uint64
	var err error
	if s[0] == 0x80 || s[0] == 0xff {
		n, err = tarBase256(s)
	} else {
		n, err = tarOctal(s)
	}
	if err != nil {
		return n, err
	}
	if n > max {
		return 0, errTarNumber
	}
	return n, nil
}

// tarSigned is tar_atosl for a 64-bit time_t.
func tarSigned(s []byte) (int64, error) {
	if s[0] == 0x80 || s[0] == 0xff {
		n, err := tarBase256(s)
		return int64(n), err
	}
	n, err := tarOctal(s)
	if n > math.MaxInt64 {
		return 0, errTarNumber
	}
	return int64(n), err
}
