package deb

import (
	"archive/tar"
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
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

// Limits that bound Read's memory on hostile input. Real packages are far
// below them: the control member holds metadata only.
const (
	maxMembers        = 32
	maxControlMember  = 32 << 20 // compressed control.tar.*
	maxControlTotal   = 48 << 20 // decompressed control tarball
	maxControlFile    = 32 << 20 // one file of the control tarball
	maxDataEntries    = 250_000  // entries of the data tarball kept in Files
	maxDataNames      = 64 << 20 // bytes of names, link targets, owners kept in Files
	maxDebianBinary   = 64
	maxXZDict         = 64 << 20
	arHeaderSize      = 60
	arMagic           = "!<arch>\n"
	maxControlEntries = 1000
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

// Read parses a .deb of size bytes. It never panics and bounds its memory on
// hostile input: ar and tar sizes are checked against the file, the control
// member and each file in it are capped, the data tarball is streamed (its
// md5s computed on the fly) and at most 250,000 of its entries are listed.
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
	if members[0].Size > maxDebianBinary {
		return nil, fmt.Errorf("debian-binary: %d bytes is too long", members[0].Size)
	}
	vb := make([]byte, members[0].Size)
	if _, err := section(0).ReadAt(vb, 0); err != nil {
		return nil, fmt.Errorf("debian-binary: %w", err)
	}
	if !strings.HasPrefix(string(vb), "2.") {
		return nil, fmt.Errorf("debian-binary: unsupported format version %q", strings.TrimSpace(string(vb)))
	}
	cc, ok := compressionOfMember(members[1].Name, "control")
	if !ok {
		return nil, fmt.Errorf("second member is %q, want control.tar[.gz|.xz|.zst]", members[1].Name)
	}
	dc, ok := compressionOfMember(members[2].Name, "data")
	if !ok {
		return nil, fmt.Errorf("third member is %q, want data.tar[.gz|.xz|.zst]", members[2].Name)
	}
	p.Compression = dc
	if members[1].Size > maxControlMember {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", members[1].Name, members[1].Size, maxControlMember)
	}
	sums, err := p.readControl(section(1), cc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", members[1].Name, err)
	}
	if err := p.readData(section(2), dc, sums); err != nil {
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
	hdr := make([]byte, arHeaderSize)
	for off := int64(len(arMagic)); off < size; {
		if len(members) == maxMembers {
			return nil, nil, fmt.Errorf("more than %d ar members", maxMembers)
		}
		if size-off < arHeaderSize {
			return nil, nil, fmt.Errorf("ar member header at offset %d is truncated", off)
		}
		if _, err := r.ReadAt(hdr, off); err != nil {
			return nil, nil, fmt.Errorf("read ar header at offset %d: %w", off, err)
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, nil, fmt.Errorf("bad ar header at offset %d", off)
		}
		name := strings.TrimRight(string(hdr[0:16]), " ")
		name = strings.TrimSuffix(name, "/")
		sz := strings.TrimRight(string(hdr[48:58]), " ")
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || n < 0 || sz == "" || sz[0] == '+' || sz[0] == '-' {
			return nil, nil, fmt.Errorf("ar member %q: bad size %q", name, sz)
		}
		body := off + arHeaderSize
		if n > size-body {
			return nil, nil, fmt.Errorf("ar member %q: size %d runs past the end of the file", name, n)
		}
		members = append(members, Member{Name: name, Size: n})
		offsets = append(offsets, body)
		off = body + n + n%2
	}
	return members, offsets, nil
}

// readControl reads the control tarball and returns md5sums as a map.
func (p *Package) readControl(r io.Reader, c Compression) (map[string]string, error) {
	zr, done, err := openCompressed(r, c)
	if err != nil {
		return nil, err
	}
	defer done()
	lr := &io.LimitedReader{R: zr, N: maxControlTotal + 1}
	tr := tar.NewReader(lr)
	files := map[string][]byte{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return nil, fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
			}
			return nil, err
		}
		if n == maxControlEntries {
			return nil, fmt.Errorf("more than %d entries in the control tarball", maxControlEntries)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if h.Size > maxControlFile {
			return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", name, h.Size, maxControlFile)
		}
		body, err := io.ReadAll(io.LimitReader(tr, maxControlFile+1))
		if err != nil {
			if lr.N <= 0 {
				return nil, fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
		}
		switch name {
		case "control", "md5sums", "conffiles":
			files[name] = body
		case "preinst", "postinst", "prerm", "postrm", "config":
			p.Scripts[name] = body
		}
	}
	ctl, ok := files["control"]
	if !ok {
		return nil, errors.New("no control file")
	}
	if p.Fields, err = parseParagraph(ctl); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if p.Control, err = controlFromFields(p.Fields); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	for _, l := range strings.Split(string(files["conffiles"]), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			p.Conffiles = append(p.Conffiles, l)
		}
	}
	sums := map[string]string{}
	for i, l := range strings.Split(string(files["md5sums"]), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		sum, name, ok := strings.Cut(l, " ")
		if !ok || len(sum) != 32 {
			return nil, fmt.Errorf("md5sums line %d is malformed", i+1)
		}
		name = strings.TrimLeft(name, " *")
		sums[strings.TrimPrefix(name, "./")] = strings.ToLower(sum)
	}
	return sums, nil
}

// readData streams the data tarball as dpkg's extractor reads it (see
// datatar.go), listing entries, resolving hard links and checking md5sums.
func (p *Package) readData(r io.Reader, c Compression, sums map[string]string) error {
	zr, done, err := openCompressed(r, c)
	if err != nil {
		return err
	}
	defer done()
	tr := &dpkgTarReader{r: zr}
	buf := make([]byte, 256<<10)
	conf := map[string]bool{}
	for _, c := range p.Conffiles {
		conf[strings.TrimPrefix(c, "/")] = true
	}
	// byName maps dpkg's name for an entry (leading "/" and "./" skipped,
	// a directory's trailing "/" dropped) to its latest index in Files:
	// what a later hard link may name.
	byName := map[string]int{}
	seen := map[string]bool{}
	names := 0
	h := md5.New()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(p.Files) == maxDataEntries {
			return fmt.Errorf("more than %d entries", maxDataEntries)
		}
		if names += len(hdr.name) + len(hdr.linkname) + len(hdr.uname) + len(hdr.gname); names > maxDataNames {
			return fmt.Errorf("names of the entries exceed %d bytes", maxDataNames)
		}
		if strings.Contains(hdr.name, "\n") {
			return fmt.Errorf("newline not allowed in archive object name %q", hdr.name)
		}
		fi := FileInfo{
			Path: hdr.name, Typeflag: hdr.typeflag, Mode: fs.FileMode(hdr.mode).Perm(),
			Uid: int(hdr.uid), Gid: int(hdr.gid), Uname: hdr.uname, Gname: hdr.gname,
			Size: hdr.size, LinkTarget: hdr.linkname, ModTime: time.Unix(hdr.mtime, 0),
		}
		if hdr.mode&0o4000 != 0 {
			fi.Mode |= fs.ModeSetuid
		}
		if hdr.mode&0o2000 != 0 {
			fi.Mode |= fs.ModeSetgid
		}
		if hdr.mode&0o1000 != 0 {
			fi.Mode |= fs.ModeSticky
		}
		key := strings.TrimPrefix(path.Clean("/"+hdr.name), "/")
		dpkgName := dpkgPath(hdr.name)
		// checked says whether md5sums must cover the entry: regular
		// files, and hard links to them.
		checked := false
		inode := len(p.Files)
		switch hdr.typeflag {
		case '0':
			fi.Type = Regular
			h.Reset()
			n, err := io.CopyBuffer(h, tr, buf)
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.name, err)
			}
			if n != hdr.size {
				return fmt.Errorf("%s: %d bytes, header says %d", hdr.name, n, hdr.size)
			}
			fi.MD5 = hex.EncodeToString(h.Sum(nil))
			checked = true
		case '1':
			fi.Type = Hardlink
			i, err := linkTarget(p.Files, byName, dpkgName, hdr.linkname)
			if err != nil {
				return fmt.Errorf("hard link %s: %w", hdr.name, err)
			}
			fi.MD5 = p.Files[i].MD5
			checked = p.Files[i].Type == Regular
			inode = i
		case '2':
			fi.Type = Symlink
		case '5':
			fi.Type = Dir
			dpkgName = strings.TrimSuffix(dpkgName, "/")
		default: // '3', '4', '6': Next returns no other type
			fi.Type = Other
			fi.Devmajor, fi.Devminor = hdr.devmajor, hdr.devminor
		}
		if checked {
			seen[key] = true
			want, listed := sums[key]
			if listed && want != fi.MD5 || !listed && !conf[key] {
				p.MD5Mismatches = append(p.MD5Mismatches, key)
			}
		}
		byName[dpkgName] = inode
		p.Files = append(p.Files, fi)
	}
	// Whatever follows the end of the archive is read and dropped, as
	// dpkg does: a corrupt compressed tail still fails.
	if _, err := io.CopyBuffer(io.Discard, zr, buf); err != nil {
		return fmt.Errorf("after the end of the archive: %w", err)
	}
	var missing []string
	for name := range sums {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	p.MD5Mismatches = append(p.MD5Mismatches, missing...)
	return nil
}

// dpkgPath is the name dpkg files an entry or a hard link's target under
// (path_skip_slash_dotslash): leading "/" and "./" skipped, nothing else
// cleaned, so "usr//bin/x" and "usr/bin/x" are different names to it.
func dpkgPath(name string) string {
	for {
		switch {
		case strings.HasPrefix(name, "/"):
			name = name[1:]
		case strings.HasPrefix(name, "./"):
			name = name[2:]
		default:
			return name
		}
	}
}

// linkTarget returns the index in Files of the entry whose inode a hard link
// named name shares. dpkg makes the link with link(2) to the target it has
// already extracted (as its .dpkg-new file), so on a system without the
// file the target must be an earlier entry of the archive; directories
// cannot be linked, and symlinks are only created after every other entry.
// A link to an earlier hard link is fine: byName already maps that one to
// the inode's first entry.
func linkTarget(files []FileInfo, byName map[string]int, name, linkname string) (int, error) {
	target := dpkgPath(linkname)
	if target == name {
		return 0, errors.New("links to itself")
	}
	i, ok := byName[target]
	if !ok {
		return 0, fmt.Errorf("target %q is not an earlier entry of the archive", linkname)
	}
	switch files[i].Type {
	case Dir:
		return 0, fmt.Errorf("target %q is a directory", linkname)
	case Symlink:
		return 0, fmt.Errorf("target %q is a symlink, which dpkg creates after every other entry", linkname)
	}
	return i, nil
}

// openCompressed opens a decompressor for r, rejecting xz streams whose
// dictionary would take more than maxXZDict of memory.
func openCompressed(r io.Reader, c Compression) (io.Reader, func(), error) {
	if c == XZ {
		br := bufio.NewReaderSize(r, 64)
		head, _ := br.Peek(24)
		if err := checkXZDict(head); err != nil {
			return nil, nil, err
		}
		r = br
	}
	return decompressor(r, c)
}

// checkXZDict looks at the first block header of an xz stream (after the 12
// byte stream header) for an LZMA2 dictionary larger than maxXZDict.
func checkXZDict(b []byte) error {
	if len(b) < 14 {
		return nil // too short: the decoder reports the real error
	}
	hdr := b[12:]
	flags := hdr[1]
	i := 2
	vli := func() (uint64, bool) {
		var v uint64
		for s := 0; i < len(hdr) && s < 63; s += 7 {
			c := hdr[i]
			i++
			v |= uint64(c&0x7f) << s
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	if flags&0x40 != 0 {
		if _, ok := vli(); !ok {
			return nil
		}
	}
	if flags&0x80 != 0 {
		if _, ok := vli(); !ok {
			return nil
		}
	}
	for f := 0; f <= int(flags&3); f++ {
		id, ok1 := vli()
		psize, ok2 := vli()
		if !ok1 || !ok2 || uint64(len(hdr)-i) < psize {
			return nil
		}
		if id == 0x21 && psize == 1 {
			d := hdr[i]
			if d > 40 {
				return errors.New("xz: invalid LZMA2 dictionary size")
			}
			size := uint64(2|d&1) << (d/2 + 11)
			if size > maxXZDict {
				return fmt.Errorf("xz: LZMA2 dictionary of %d bytes exceeds the %d allowed", size, maxXZDict)
			}
		}
		i += int(psize)
	}
	return nil
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
