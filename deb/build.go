package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/blakesmith/ar"
)

// copyBuffer is the size of the buffer files are streamed through: large
// enough that syscalls and per-Write overheads vanish, small enough to not
// matter for memory.
const copyBuffer = 1 << 20

// Build writes the .deb for spec to w. It streams: memory use does not grow
// with the payload. The compressed data tarball is spooled to a temporary
// file in spec.TempDir (removed before Build returns) because an ar member's
// size comes before its content.
//
// The output depends only on spec and the content of the source files: not on
// the time, the machine, the number of cores or the files' owners and mtimes
// on disk.
func Build(ctx context.Context, w io.Writer, spec *Spec) (*Result, error) {
	ctl := spec.Control
	comp := spec.Compression
	if comp == "" {
		comp = Gzip
	}
	if _, err := ParseCompression(string(comp)); err != nil {
		return nil, fmt.Errorf("build %s: %w", ctl.Package, err)
	}
	if err := checkLevel(comp, spec.Level); err != nil {
		return nil, fmt.Errorf("build %s: %w", ctl.Package, err)
	}
	if err := ctl.Validate(); err != nil {
		return nil, fmt.Errorf("build %s: invalid control: %w", ctl.Package, err)
	}
	scripts, err := spec.Scripts.list()
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", ctl.Package, err)
	}
	ctlFiles, err := spec.ControlFiles.list()
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", ctl.Package, err)
	}
	mtime := spec.ModTime
	if mtime.IsZero() || mtime.Before(time.Unix(0, 0)) {
		mtime = time.Unix(0, 0)
	}
	mtime = mtime.UTC().Truncate(time.Second)

	entries, err := plan(spec)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", ctl.Package, err)
	}

	spool, err := os.CreateTemp(spec.TempDir, "pkgdeb-data-*.tar"+comp.ext())
	if err != nil {
		return nil, fmt.Errorf("build %s: spool data tarball: %w", ctl.Package, err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	sums, installed, err := writeData(ctx, spool, entries, comp, spec.Level, mtime)
	if err != nil {
		return nil, fmt.Errorf("build %s: data tarball: %w", ctl.Package, err)
	}
	ctl.InstalledSize = installed
	dataSize, err := spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("build %s: data tarball: %w", ctl.Package, err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("build %s: data tarball: %w", ctl.Package, err)
	}

	control, err := controlTarball(&ctl, entries, sums, scripts, ctlFiles, comp, spec.Level, mtime)
	if err != nil {
		return nil, fmt.Errorf("build %s: control tarball: %w", ctl.Package, err)
	}

	cw := &countWriter{w: w}
	aw := ar.NewWriter(cw)
	if err := aw.WriteGlobalHeader(); err != nil {
		return nil, fmt.Errorf("build %s: write: %w", ctl.Package, err)
	}
	members := []struct {
		name string
		size int64
		body io.Reader
	}{
		{"debian-binary", 4, strings.NewReader("2.0\n")},
		{"control.tar" + comp.ext(), int64(len(control)), bytes.NewReader(control)},
		{"data.tar" + comp.ext(), dataSize, &ctxReader{ctx: ctx, r: spool}},
	}
	for _, m := range members {
		if err := writeMember(aw, m.name, m.size, m.body, mtime); err != nil {
			return nil, fmt.Errorf("build %s: write %s: %w", ctl.Package, m.name, err)
		}
	}
	res := &Result{Control: ctl, Size: cw.n}
	if wn := comp.Warning(); wn != "" {
		res.Warnings = append(res.Warnings, wn)
	}
	return res, nil
}

// writeMember writes one ar member. blakesmith/ar pads after every Write of
// odd length and counts the pad byte in the returned n (which io.Copy takes
// for an invalid write), so the body goes through evenWriter: every Write
// reaching ar has even length except possibly the very last one, and the
// member gets exactly one pad byte, at its end, when its size is odd.
func writeMember(aw *ar.Writer, name string, size int64, body io.Reader, mtime time.Time) error {
	hdr := &ar.Header{Name: name, ModTime: mtime, Mode: 0o644, Size: size}
	if err := aw.WriteHeader(hdr); err != nil {
		return err
	}
	ew := &evenWriter{w: aw}
	buf := make([]byte, copyBuffer)
	n, err := io.CopyBuffer(ew, io.LimitReader(body, size), buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("wrote %d bytes, header says %d", n, size)
	}
	return ew.flush()
}

// evenWriter forwards only even-length writes, holding back one byte when
// needed; flush writes the held byte last.
type evenWriter struct {
	w    io.Writer
	held []byte // 0 or 1 byte
	pair []byte
}

func (e *evenWriter) Write(p []byte) (int, error) {
	total := len(p)
	if len(e.held) == 1 && len(p) > 0 {
		e.pair = append(e.pair[:0], e.held[0], p[0])
		if _, err := e.w.Write(e.pair); err != nil {
			return 0, err
		}
		e.held = e.held[:0]
		p = p[1:]
	}
	even := len(p) &^ 1
	if even > 0 {
		if _, err := e.w.Write(p[:even]); err != nil {
			return 0, err
		}
	}
	if even < len(p) {
		e.held = append(e.held[:0], p[even])
	}
	return total, nil
}

func (e *evenWriter) flush() error {
	if len(e.held) == 0 {
		return nil
	}
	_, err := e.w.Write(e.held)
	e.held = e.held[:0]
	return err
}

// countWriter counts bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// item is one planned entry of the data tarball.
type item struct {
	name     string // "./usr/bin/x", "./usr/" for directories
	dest     string // "/usr/bin/x"
	typ      EntryType
	mode     fs.FileMode
	source   string
	body     []byte
	target   string
	conffile bool
	linked   bool // a hard link names it
}

// plan validates the entries, adds generated files and every parent
// directory, and sorts the result as dpkg-deb does (byte order of paths,
// which puts each directory before its content).
func plan(spec *Spec) ([]item, error) {
	pkg := spec.Control.Package
	entries := append([]Entry(nil), spec.Entries...)
	doc := "/usr/share/doc/" + pkg + "/"
	if spec.Copyright != nil {
		entries = append(entries, Entry{Dest: doc + "copyright", Body: spec.Copyright})
	}
	if spec.Changelog != nil {
		gz, err := gzipBest(spec.Changelog)
		if err != nil {
			return nil, fmt.Errorf("compress changelog: %w", err)
		}
		entries = append(entries, Entry{Dest: doc + "changelog.Debian.gz", Body: gz})
	}

	byDest := map[string]*item{}
	var items []*item
	for i, e := range entries {
		dest, err := cleanDest(e.Dest)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		it := &item{dest: dest, typ: e.Type, mode: normMode(e.Mode)}
		switch e.Type {
		case Regular:
			if it.mode == 0 {
				it.mode = 0o644
			}
			if e.Source != "" && e.Body != nil {
				return nil, fmt.Errorf("%s: set Source or Body, not both", dest)
			}
			it.source, it.body = e.Source, e.Body
			it.conffile = e.Conffile || strings.HasPrefix(dest, "/etc/") && !e.NoConffile
		case Dir:
			if it.mode == 0 {
				it.mode = 0o755
			}
		case Hardlink:
			if e.Conffile {
				return nil, fmt.Errorf("%s: a hard link cannot be a conffile: %s", dest, conffileLinkAdvice)
			}
			if it.target, err = cleanDest(e.Target); err != nil {
				return nil, fmt.Errorf("%s: hard link target: %w", dest, err)
			}
			it.conffile = strings.HasPrefix(dest, "/etc/") && !e.NoConffile
		case Symlink:
			if e.Target == "" {
				return nil, fmt.Errorf("%s: symlink without a target", dest)
			}
			if strings.ContainsRune(e.Target, 0) {
				return nil, fmt.Errorf("%s: symlink target contains a NUL byte", dest)
			}
			it.mode, it.target = 0o777, e.Target
			if !spec.KeepSymlinkTargets {
				if it.target, err = policyTarget(dest, e.Target); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%s: unsupported entry type %v", dest, e.Type)
		}
		if e.Type != Regular && (e.Conffile || e.Source != "" || e.Body != nil) {
			return nil, fmt.Errorf("%s: only regular files have a Source, a Body or are conffiles", dest)
		}
		if dest == "/" {
			if e.Type != Dir {
				return nil, fmt.Errorf("/: the root can only be a directory")
			}
		}
		if prev, ok := byDest[dest]; ok {
			if prev.typ == Dir && e.Type == Dir && prev.mode == it.mode {
				continue
			}
			return nil, fmt.Errorf("%s: given twice", dest)
		}
		byDest[dest] = it
		items = append(items, it)
	}
	// Parents: every ancestor must be a directory; missing ones are added.
	for _, it := range items[:len(items):len(items)] {
		for d := path.Dir(it.dest); ; d = path.Dir(d) {
			if p, ok := byDest[d]; ok {
				if p.typ != Dir {
					return nil, fmt.Errorf("%s: its parent %s is a %v, not a directory", it.dest, d, p.typ)
				}
			} else {
				np := &item{dest: d, typ: Dir, mode: 0o755}
				byDest[d] = np
				items = append(items, np)
			}
			if d == "/" {
				break
			}
		}
	}
	if err := checkHardlinks(items, byDest); err != nil {
		return nil, err
	}
	out := make([]item, 0, len(items))
	for _, it := range items {
		switch {
		case it.dest == "/":
			it.name = "./"
		case it.typ == Dir:
			it.name = "." + it.dest + "/"
		default:
			it.name = "." + it.dest
		}
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dest < out[j].dest })
	return out, nil
}

// conffileLinkAdvice says why a conffile cannot share its inode and what to
// do instead.
const conffileLinkAdvice = "dpkg installs and upgrades a conffile on its own (keeping the installed one when it is unchanged or edited), " +
	"so the other name would lose the link on upgrade or change with the administrator's edits; make the names separate copies"

// checkHardlinks checks that each hard link names a regular file that comes
// before it in the archive, and that no conffile shares an inode. It sets
// each link's mode to its target's.
func checkHardlinks(items []*item, byDest map[string]*item) error {
	for _, it := range items {
		if it.typ != Hardlink {
			continue
		}
		t, ok := byDest[it.target]
		switch {
		case !ok:
			return fmt.Errorf("%s: hard link to %s, which is not an entry of the package: add it as a regular file", it.dest, it.target)
		case t.typ != Regular:
			return fmt.Errorf("%s: hard link to %s, a %v: a hard link must name a regular file", it.dest, it.target, t.typ)
		case t.dest >= it.dest:
			return fmt.Errorf("%s: hard link to %s, which sorts after it: dpkg links to what it has already unpacked, so make %s the file and %s the link", it.dest, it.target, it.dest, it.target)
		case it.conffile:
			return fmt.Errorf("%s: a hard link under /etc is a conffile (set NoConffile to keep it from being one): %s", it.dest, conffileLinkAdvice)
		case t.conffile:
			return fmt.Errorf("%s: hard link to the conffile %s: %s", it.dest, it.target, conffileLinkAdvice)
		case it.mode != 0 && it.mode != t.mode:
			return fmt.Errorf("%s: mode %v differs from its target's %v: a hard link shares its target's mode (leave Mode zero)", it.dest, it.mode, t.mode)
		}
		it.mode = t.mode
		t.linked = true
	}
	return nil
}

// normMode keeps the permission bits and setuid, setgid and sticky, given
// either as fs.ModeSetuid etc. or as Unix bits (0o4755), as a mode parsed
// from octal text would be.
func normMode(m fs.FileMode) fs.FileMode {
	out := m.Perm() | m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// cleanDest checks that dest is absolute and canonical.
func cleanDest(dest string) (string, error) {
	if dest == "" {
		return "", errors.New("empty destination path")
	}
	if !strings.HasPrefix(dest, "/") {
		return "", fmt.Errorf("destination %q is relative: it must be absolute, e.g. /usr/bin/x", dest)
	}
	for _, part := range strings.Split(dest, "/") {
		if part == ".." {
			return "", fmt.Errorf("destination %q contains \"..\"", dest)
		}
	}
	if strings.ContainsAny(dest, "\x00\n\r") {
		return "", fmt.Errorf("destination %q contains a NUL or newline", dest)
	}
	clean := path.Clean(dest)
	if clean != strings.TrimSuffix(dest, "/") && dest != "/" {
		return "", fmt.Errorf("destination %q is not canonical (want %q)", dest, clean)
	}
	return clean, nil
}

func gzipBest(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	z, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// gzip -9n: no name, mtime 0, OS Unix.
	z.OS = 3
	if _, err := z.Write(b); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fileSum is the md5 of one regular file of the data tarball.
type fileSum struct {
	path string // as in md5sums: "usr/bin/x"
	sum  string
}

// writeData streams the data tarball through the compressor into w, and
// returns the md5sums lines and the Installed-Size in KiB (deb-substvars(5):
// regular files and symlinks count their size rounded up to KiB, every other
// object 1 KiB). A hard link adds nothing: dpkg-gencontrol counts an inode
// once. md5sums lists it under its own name, as dh_md5sums does.
func writeData(ctx context.Context, w io.Writer, items []item, comp Compression, level int, mtime time.Time) ([]fileSum, int64, error) {
	zw, err := compressor(w, comp, level)
	if err != nil {
		return nil, 0, err
	}
	defer zw.Close()
	tw := tar.NewWriter(zw)
	buf := make([]byte, copyBuffer)
	var sums []fileSum
	sumOf := map[string]string{} // dest -> md5, for later hard links
	var kib int64
	h := md5.New()
	th := newTeeHash(tw, h)
	defer th.close()
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		hdr := header(it.name, it.mode, mtime)
		switch it.typ {
		case Dir:
			hdr.Typeflag = tar.TypeDir
			kib++
		case Symlink:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = it.target
			kib += (int64(len(it.target)) + 1023) / 1024
		case Hardlink:
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = "." + it.target
			sums = append(sums, fileSum{path: it.dest[1:], sum: sumOf[it.target]})
		case Regular:
			h.Reset()
			size, err := writeFile(ctx, tw, th, hdr, it, buf)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", it.dest, err)
			}
			kib += (size + 1023) / 1024
			sum := hex.EncodeToString(h.Sum(nil))
			sums = append(sums, fileSum{path: it.dest[1:], sum: sum})
			if it.linked {
				sumOf[it.dest] = sum
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", it.dest, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return sums, kib, nil
}

// header returns a tar header owned by root:root. GNU format, as dpkg-deb
// writes, which every dpkg reads (long names use GNU long-name records).
func header(name string, mode fs.FileMode, mtime time.Time) *tar.Header {
	m := int64(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return &tar.Header{
		Name: name, Mode: m, ModTime: mtime,
		Uname: "root", Gname: "root", Format: tar.FormatGNU,
	}
}

// writeFile writes one regular file's header and content, hashing it.
func writeFile(ctx context.Context, tw *tar.Writer, th *teeHash, hdr *tar.Header, it item, buf []byte) (int64, error) {
	hdr.Typeflag = tar.TypeReg
	var src io.Reader
	if it.source == "" {
		hdr.Size = int64(len(it.body))
		src = bytes.NewReader(it.body)
	} else {
		f, err := os.Open(it.source)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if !st.Mode().IsRegular() {
			return 0, fmt.Errorf("source %s is not a regular file", it.source)
		}
		hdr.Size = st.Size()
		src = &ctxReader{ctx: ctx, r: f}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(th, io.LimitReader(src, hdr.Size), buf)
	if err != nil {
		return n, err
	}
	if n != hdr.Size {
		return n, fmt.Errorf("source %s shrank while being read (%d of %d bytes)", it.source, n, hdr.Size)
	}
	return n, nil
}

// teeHash writes to w and hashes the same bytes on another goroutine, so
// that md5 overlaps with tar and compression instead of adding to them.
// Each Write returns only once both are done with p, so callers may reuse p
// (io.CopyBuffer does).
type teeHash struct {
	w   io.Writer
	h   hash.Hash
	in  chan []byte
	ack chan struct{}
}

// handoff is the smallest write worth a trip to the hashing goroutine.
const handoff = 64 << 10

func newTeeHash(w io.Writer, h hash.Hash) *teeHash {
	t := &teeHash{w: w, h: h, in: make(chan []byte), ack: make(chan struct{})}
	go func() {
		for p := range t.in {
			t.h.Write(p)
			t.ack <- struct{}{}
		}
	}()
	return t
}

func (t *teeHash) Write(p []byte) (int, error) {
	if len(p) < handoff {
		t.h.Write(p)
		return t.w.Write(p)
	}
	t.in <- p
	n, err := t.w.Write(p)
	<-t.ack
	return n, err
}

// close stops the hashing goroutine.
func (t *teeHash) close() { close(t.in) }

// controlTarball builds the compressed control tarball in memory: it holds
// only metadata (control, md5sums, conffiles, scripts and data files).
func controlTarball(ctl *Control, items []item, sums []fileSum, scripts, data []Field, comp Compression, level int, mtime time.Time) ([]byte, error) {
	type file struct {
		name string
		mode fs.FileMode
		body []byte
	}
	files := []file{{"control", 0o644, ctl.Marshal()}}
	var conf []string
	for _, it := range items {
		if it.typ == Regular && it.conffile {
			conf = append(conf, it.dest)
		}
	}
	if len(conf) > 0 {
		sort.Strings(conf)
		files = append(files, file{"conffiles", 0o644, []byte(strings.Join(conf, "\n") + "\n")})
	}
	if len(sums) > 0 {
		sort.Slice(sums, func(i, j int) bool { return sums[i].path < sums[j].path })
		var b strings.Builder
		for _, s := range sums {
			b.WriteString(s.sum + "  " + s.path + "\n")
		}
		files = append(files, file{"md5sums", 0o644, []byte(b.String())})
	}
	for _, s := range scripts {
		files = append(files, file{s.Name, 0o755, []byte(s.Value)})
	}
	for _, d := range data {
		files = append(files, file{d.Name, 0o644, []byte(d.Value)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })

	var buf bytes.Buffer
	zw, err := compressor(&buf, comp, level)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	root := header("./", 0o755, mtime)
	root.Typeflag = tar.TypeDir
	if err := tw.WriteHeader(root); err != nil {
		return nil, err
	}
	for _, f := range files {
		hdr := header("./"+f.name, f.mode, mtime)
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(f.body))
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
