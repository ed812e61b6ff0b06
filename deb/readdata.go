package deb

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// readData streams the data tarball as dpkg's extractor reads it (see
// datatar.go), listing entries, resolving hard links and checking md5sums.
// The entries it keeps count against k.
func (p *Package) readData(r *io.SectionReader, c Compression, sums map[string]string, k *keeper) error {
	zr, done, err := decompressor(r, c)
	if err != nil {
		return err
	}
	defer done()
	d := newDataReader(p, zr, sums, k)
	for {
		hdr, err := d.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := d.add(hdr); err != nil {
			return err
		}
	}
	// Whatever follows the end of the archive is read and dropped, as
	// dpkg does: a corrupt compressed tail still fails.
	if _, err := io.CopyBuffer(io.Discard, zr, d.buf); err != nil {
		return fmt.Errorf("after the end of the archive: %w", err)
	}
	p.MD5Mismatches = append(p.MD5Mismatches, d.missing()...)
	return nil
}

// dataReader lists the entries of one data tarball in a Package's Files.
type dataReader struct {
	p    *Package
	k    *keeper
	tr   *dpkgTarReader
	buf  []byte
	h    hash.Hash
	sum  [md5.Size]byte
	sums map[string]string // md5sums: path ("usr/bin/x") -> md5
	conf map[string]bool   // conffiles, as paths in md5sums
	// byName maps dpkg's name for an entry (leading "/" and "./" skipped,
	// a directory's trailing "/" dropped) to its latest index in Files:
	// what a later hard link may name.
	byName map[string]int
	seen   map[string]bool // paths of the entries md5sums must cover
}

func newDataReader(p *Package, r io.Reader, sums map[string]string, k *keeper) *dataReader {
	d := &dataReader{
		p: p, k: k, tr: &dpkgTarReader{r: r}, buf: make([]byte, 256<<10), h: md5.New(),
		sums: sums, conf: map[string]bool{}, byName: map[string]int{}, seen: map[string]bool{},
	}
	for _, c := range p.Conffiles {
		d.conf[strings.TrimPrefix(c, "/")] = true
	}
	return d
}

// add lists the entry hdr in Files, within the limits on their number and
// names: it reads a regular file's content for its md5, resolves a hard
// link, and notes a mismatch when md5sums disagrees.
func (d *dataReader) add(hdr *tarEntry) error {
	p := d.p
	if err := d.k.keep(entryCost + int64(len(hdr.name)+len(hdr.linkname)+len(hdr.uname)+len(hdr.gname))); err != nil {
		name := hdr.name
		if len(name) > 80 {
			name = name[:80] + "..."
		}
		return fmt.Errorf("entry %d (%s): %w", len(p.Files)+1, name, err)
	}
	if strings.Contains(hdr.name, "\n") {
		return fmt.Errorf("newline not allowed in archive object name %q", hdr.name)
	}
	fi := fileInfo(hdr)
	dpkgName := dpkgPath(hdr.name)
	// checked says whether md5sums must cover the entry: regular
	// files, and hard links to them.
	checked := false
	inode := len(p.Files)
	switch hdr.typeflag {
	case '0':
		fi.Type = Regular
		d.h.Reset()
		n, err := io.CopyBuffer(d.h, d.tr, d.buf)
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.name, err)
		}
		if n != hdr.size {
			return fmt.Errorf("%s: %d bytes, header says %d", hdr.name, n, hdr.size)
		}
		fi.MD5 = hex.EncodeToString(d.h.Sum(d.sum[:0]))
		checked = true
	case '1':
		fi.Type = Hardlink
		i, err := linkTarget(p.Files, d.byName, dpkgName, hdr.linkname)
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
		key := md5sumsPath(dpkgName)
		d.seen[key] = true
		want, listed := d.sums[key]
		if listed && want != fi.MD5 || !listed && !d.conf[key] {
			p.MD5Mismatches = append(p.MD5Mismatches, key)
		}
	}
	d.byName[dpkgName] = inode
	if len(p.Files) == cap(p.Files) {
		// Double, where append would add a quarter to a long slice: the
		// copies left for the collector then add up to Files once, not
		// four times.
		p.Files = append(make([]FileInfo, 0, max(64, 2*cap(p.Files))), p.Files...)
	}
	p.Files = append(p.Files, fi)
	return nil
}

// fileInfo is hdr as Files lists it, before its type is known.
func fileInfo(hdr *tarEntry) FileInfo {
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
	return fi
}

// missing returns the paths md5sums lists that the archive holds no
// regular file (or hard link to one) for, sorted.
func (d *dataReader) missing() []string {
	var missing []string
	for name := range d.sums {
		if !d.seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing
}

// md5sumsPath is the path md5sums lists for an entry of dpkg name name
// ("usr/bin/x"): name cleaned, a copy only when cleaning changes it.
func md5sumsPath(name string) string {
	for s := name; ; {
		elem, rest, more := strings.Cut(s, "/")
		if elem == "" || elem == "." || elem == ".." {
			return strings.TrimPrefix(path.Clean("/"+name), "/")
		}
		if !more {
			return name
		}
		s = rest
	}
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
