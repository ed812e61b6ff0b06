package deb

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Package is what Read found in a .deb.
type Package struct {
	// Control is the parsed control paragraph.
	Control Control
	// Fields is the raw control paragraph, in order.
	Fields []Field
	// Members are the ar members, in order.
	Members []Member
	// Compression is the data member's compression.
	Compression Compression
	// Files is the data tarball's content, in archive order.
	Files []FileInfo
	// Conffiles are the absolute paths listed in the conffiles member.
	Conffiles []string
	// Scripts maps a maintainer script's name ("preinst", "postinst",
	// "prerm", "postrm", "config", ...) to its content.
	Scripts map[string][]byte
	// MD5Mismatches are the paths (as in md5sums, e.g. "usr/bin/x") whose
	// content does not match md5sums, plus regular files (and hard links
	// to them) md5sums does not list. Empty means md5sums verified.
	MD5Mismatches []string
}

// Member is one member of the outer ar archive.
type Member struct {
	Name string
	Size int64
}

// FileInfo is one entry of the data tarball.
type FileInfo struct {
	// Path is as stored, e.g. "./usr/bin/x" (directories end in "/").
	Path string
	Type EntryType
	// Typeflag is the entry's tar type as dpkg reads it: '0' regular
	// (also for '\x00'), '1' hard link, '2' symlink, '3' character device,
	// '4' block device, '5' directory, '6' fifo. It tells Other entries
	// apart.
	Typeflag byte
	Mode     fs.FileMode // permission bits, setuid/setgid/sticky included
	Uid      int
	Gid      int
	Uname    string
	Gname    string
	Size     int64
	// ModTime is the entry's modification time.
	ModTime time.Time
	// LinkTarget is the target of a symlink or hard link, as stored. A
	// hard link always names an earlier entry (Read rejects any other).
	LinkTarget string
	// MD5 is the hex md5 of a regular file's content, or of the content
	// a hard link to one shares.
	MD5 string
	// Devmajor and Devminor are a device's numbers.
	Devmajor, Devminor int64
}

// ErrMD5Mismatch is returned (wrapped) by Verify when a file's content does
// not match md5sums.
var ErrMD5Mismatch = errors.New("md5sums do not match")

const (
	arHeaderSize = 60
	arMagic      = "!<arch>\n"
)

// ReadFile reads the .deb at path (see Read).
func ReadFile(path string) (*Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	p, err := Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return p, nil
}

// Read parses a .deb of size bytes. It never panics, and one Read stays
// under 64 MB whatever the package holds: ar and tar sizes are checked
// against the file; the control member is capped (16 MiB, compressed and
// not); names and link targets are at most PATH_MAX (4096 bytes, as Linux
// takes); each xz block's dictionary and the zstd window are at most
// 16 MiB; the data tarball is streamed (its md5s computed on the fly); and
// the metadata Read keeps (control files, md5sums, the entries in Files)
// is at most 24 MiB, some 33,000 files with their md5sums. Past a limit,
// Read fails with an error that names it.
//
// The data tarball is read as dpkg -i reads it, not as tar does: regular
// files, hard links, symlinks, directories, devices and fifos, GNU long
// names and links; PAX headers, sparse files and any other type are errors,
// as in dpkg. A hard link must name an earlier regular file, device, fifo
// or hard link (dpkg links to what it has already extracted), and md5sums
// checks it against the content it shares.
//
// A package whose md5sums do not match is not an error: see MD5Mismatches
// and Verify.
func Read(r io.ReaderAt, size int64) (*Package, error) {
	members, offsets, err := readAr(r, size)
	if err != nil {
		return nil, err
	}
	p := &Package{Members: members, Scripts: map[string][]byte{}}
	section := func(i int) *io.SectionReader {
		return io.NewSectionReader(r, offsets[i], members[i].Size)
	}
	if len(members) < 3 || members[0].Name != "debian-binary" {
		return nil, errors.New("not a .deb: want members debian-binary, control.tar.*, data.tar.*")
	}
	if err := readDebianBinary(section(0)); err != nil {
		return nil, err
	}
	cc, err := controlCompression(members[1])
	if err != nil {
		return nil, err
	}
	dc, ok := compressionOfMember(members[2].Name, "data")
	if !ok {
		return nil, fmt.Errorf("third member is %q, want data.tar[.gz|.xz|.zst]", members[2].Name)
	}
	p.Compression = dc
	var k keeper
	sums, err := p.readControl(section(1), cc, &k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", members[1].Name, err)
	}
	if err := p.readData(section(2), dc, sums, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", members[2].Name, err)
	}
	return p, nil
}

// readAr parses the ar container strictly: magic, header terminators,
// decimal sizes, and every member within size.
func readAr(r io.ReaderAt, size int64) ([]Member, []int64, error) {
	if size < int64(len(arMagic)) {
		return nil, nil, errors.New("not a .deb: too short for an ar archive")
	}
	magic := make([]byte, len(arMagic))
	if _, err := r.ReadAt(magic, 0); err != nil {
		return nil, nil, fmt.Errorf("read ar magic: %w", err)
	}
	if string(magic) != arMagic {
		return nil, nil, errors.New("not a .deb: no ar magic")
	}
	var members []Member
	var offsets []int64
	for off := int64(len(arMagic)); off < size; {
		if len(members) == maxMembers {
			return nil, nil, fmt.Errorf("more than %d ar members", maxMembers)
		}
		if size-off < arHeaderSize {
			return nil, nil, fmt.Errorf("ar member header at offset %d is truncated", off)
		}
		m, err := readArHeader(r, off)
		if err != nil {
			return nil, nil, err
		}
		body := off + arHeaderSize
		if m.Size > size-body {
			return nil, nil, fmt.Errorf("ar member %q: size %d runs past the end of the file", m.Name, m.Size)
		}
		members = append(members, m)
		offsets = append(offsets, body)
		off = body + m.Size + m.Size%2
	}
	return members, offsets, nil
}

// readArHeader parses the ar member header at off, which the caller knows
// to lie within the file: its terminator, name and decimal size. Whether
// the member fits in the file is the caller's to check.
func readArHeader(r io.ReaderAt, off int64) (Member, error) {
	hdr := make([]byte, arHeaderSize)
	if _, err := r.ReadAt(hdr, off); err != nil {
		return Member{}, fmt.Errorf("read ar header at offset %d: %w", off, err)
	}
	if string(hdr[58:60]) != "`\n" {
		return Member{}, fmt.Errorf("bad ar header at offset %d", off)
	}
	name := strings.TrimRight(string(hdr[0:16]), " ")
	name = strings.TrimSuffix(name, "/")
	sz := strings.TrimRight(string(hdr[48:58]), " ")
	n, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || n < 0 || sz == "" || sz[0] == '+' || sz[0] == '-' {
		return Member{}, fmt.Errorf("ar member %q: bad size %q", name, sz)
	}
	return Member{Name: name, Size: n}, nil
}

// readDebianBinary checks the debian-binary member: short, and a format
// 2.x that this reader and dpkg read.
func readDebianBinary(r *io.SectionReader) error {
	if r.Size() > maxDebianBinary {
		return fmt.Errorf("debian-binary: %d bytes is too long", r.Size())
	}
	vb := make([]byte, r.Size())
	if _, err := r.ReadAt(vb, 0); err != nil {
		return fmt.Errorf("debian-binary: %w", err)
	}
	if !strings.HasPrefix(string(vb), "2.") {
		return fmt.Errorf("debian-binary: unsupported format version %q", strings.TrimSpace(string(vb)))
	}
	return nil
}

// controlCompression checks the second member's name and size and returns
// the control tarball's compression.
func controlCompression(m Member) (Compression, error) {
	c, ok := compressionOfMember(m.Name, "control")
	if !ok {
		return "", fmt.Errorf("second member is %q, want control.tar[.gz|.xz|.zst]", m.Name)
	}
	if m.Size > maxControlMember {
		return "", fmt.Errorf("%s: %d bytes is more than the %d allowed", m.Name, m.Size, maxControlMember)
	}
	return c, nil
}

// Verify returns nil when every regular file (and hard link to one)
// matches md5sums and md5sums lists nothing missing; otherwise an error wrapping ErrMD5Mismatch naming
// the files (conffiles that md5sums omits, as debhelper does, are fine).
func (p *Package) Verify() error {
	if len(p.MD5Mismatches) == 0 {
		return nil
	}
	names := p.MD5Mismatches
	more := ""
	if len(names) > 10 {
		more = fmt.Sprintf(" and %d more", len(names)-10)
		names = names[:10]
	}
	return fmt.Errorf("%w: %s%s", ErrMD5Mismatch, strings.Join(names, ", "), more)
}
