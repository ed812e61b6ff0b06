package deb

import (
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Compression names how the control and data tarballs are compressed.
type Compression string

// Supported compressions. The zero value means Gzip.
const (
	// Gzip is the default: compressed on every core in 1 MiB blocks by an
	// encoder chosen per block (see Spec.Level), with no name or timestamp
	// in the gzip header. Every dpkg and lintian reads it.
	Gzip Compression = "gzip"
	// Zstd is opt-in. See ZstdWarning: older dpkg cannot read it.
	Zstd Compression = "zstd"
	// XZ is opt-in: smaller, much slower to build (single core).
	XZ Compression = "xz"
	// None stores the tarballs uncompressed.
	None Compression = "none"
)

// ZstdWarning is the caveat of Zstd that tools should show their users when
// it is chosen (Compression.Warning returns it).
const ZstdWarning = "zstd-compressed .deb files need dpkg >= 1.21.18: Debian 11 (bullseye) and Ubuntu 20.04 (focal) cannot install them, and lintian on Debian 12 (bookworm) rejects them"

// Warning returns a caveat about c that a user should see, or "" when
// there is none.
func (c Compression) Warning() string {
	if c == Zstd {
		return ZstdWarning
	}
	return ""
}

// ParseCompression accepts "gzip", "zstd", "xz", "none" (and "" for gzip).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case "":
		return Gzip, nil
	case Gzip, Zstd, XZ, None:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q (want gzip, zstd, xz or none)", s)
}

// ext is the member name suffix of c, e.g. ".gz".
func (c Compression) ext() string {
	switch c {
	case "", Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	case XZ:
		return ".xz"
	}
	return ""
}

// Control is a binary package's control paragraph.
type Control struct {
	Package      string
	Version      string
	Architecture string
	Maintainer   string
	Section      string
	Priority     string
	Homepage     string
	// Synopsis is the first line of Description: one short line.
	Synopsis string
	// Description is the long description. It may span several lines and
	// contain blank lines (written as " ." in the control file).
	Description string

	// Relationship fields: each element is one comma-separated item, which
	// may itself hold alternatives ("a (>= 1) | b").
	Depends    []string
	PreDepends []string
	Recommends []string
	Suggests   []string
	Conflicts  []string
	Breaks     []string
	Replaces   []string
	Provides   []string

	// InstalledSize is in KiB. Build computes it (deb-substvars(5));
	// Read fills it from the control file.
	InstalledSize int64
	// Extra holds custom fields, written in order after the standard ones.
	Extra []Field
}

// Field is one control field.
type Field struct {
	Name  string
	Value string
}

// Filename returns the conventional file name name_version_arch.deb, with
// the epoch dropped as dpkg-name does.
func (c *Control) Filename() string {
	v := c.Version
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	return c.Package + "_" + v + "_" + c.Architecture + ".deb"
}

// EntryType is the kind of an Entry or of a FileInfo.
type EntryType int

// Kinds of entries. Build accepts Regular, Dir, Symlink and Hardlink; Read
// also reports Other when it meets one.
const (
	Regular EntryType = iota
	Dir
	Symlink
	Hardlink
	Other // devices, fifos and anything else
)

// String returns "file", "dir", "symlink", "hardlink" or "other".
func (t EntryType) String() string {
	switch t {
	case Regular:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Hardlink:
		return "hardlink"
	}
	return "other"
}

// Entry is one thing in the data tarball.
type Entry struct {
	Type EntryType
	// Dest is the absolute path on the target system, e.g. /usr/bin/hello.
	Dest string
	// Source is, for Regular, the file on disk to read. It is streamed,
	// never loaded whole.
	Source string
	// Body is, for Regular without Source, the literal content (small
	// generated files).
	Body []byte
	// Mode holds the permission bits and setuid, setgid and sticky (as
	// fs.ModeSetuid etc. or as Unix bits, 0o4755); zero means 0644 for
	// files, 0755 for directories. Symlinks are always 0777; a Hardlink
	// has its Target's mode (zero or that mode).
	Mode fs.FileMode
	// Target is, for Symlink, what the link points to: absolute, or
	// relative to the link's directory. Build writes it as Debian Policy
	// 10.5 and dh_link want, whatever the form given: relative and as short
	// as possible within one top-level directory (/usr/sbin/x -> /usr/bin/x
	// is written ../bin/x), absolute between two (/usr/lib/x -> ../../etc/x
	// is written /etc/x). "." and ".." are resolved lexically, as dh_link
	// does. Spec.KeepSymlinkTargets turns this off.
	//
	// For Hardlink, Target is the Dest of the Regular entry whose file the
	// link names too, e.g. /usr/bin/x for Dest /usr/bin/y. The archive
	// holds entries in byte order of their paths and dpkg links to what it
	// has already unpacked, so Target must sort before Dest. Neither may
	// be a conffile.
	Target string
	// NoConffile keeps a file under /etc from being a conffile.
	NoConffile bool
	// Conffile makes a file outside /etc a conffile.
	Conffile bool
}

// Scripts are the maintainer scripts, and the debconf config script. Each
// one set must start with "#!"; they are installed with mode 0755.
type Scripts struct {
	Preinst, Postinst, Prerm, Postrm []byte
	// Config is the debconf config script (debconf-devel(7)), which needs
	// Templates in ControlFiles.
	Config []byte
}

// ControlFiles are the data files of the control member that dpkg and
// the tools around it read, beside control, md5sums and conffiles (which
// Build writes). Each one set is installed with mode 0644.
type ControlFiles struct {
	// Templates are the debconf templates (debconf-devel(7)).
	Templates []byte
	// Triggers declares the triggers the package is interested in or
	// activates (deb-triggers(5)). Build checks its syntax, as dpkg does
	// when it unpacks the package.
	Triggers []byte
	// Shlibs and Symbols describe the shared libraries the package holds
	// (deb-shlibs(5), deb-symbols(5)), for dpkg-shlibdeps.
	Shlibs, Symbols []byte
}

// Spec is everything Build needs.
type Spec struct {
	Control Control
	// Entries are the package's files, directories, symlinks and hard
	// links. Parent directories are added automatically (mode 0755).
	Entries []Entry
	Scripts Scripts
	// ControlFiles are the control member's other files: debconf
	// templates, triggers, shlibs, symbols.
	ControlFiles ControlFiles
	// Copyright, when set, is installed as /usr/share/doc/<pkg>/copyright.
	Copyright []byte
	// Changelog, when set, is installed as
	// /usr/share/doc/<pkg>/changelog.Debian.gz, compressed like gzip -9n.
	Changelog []byte
	// Compression of both tarballs; "" means Gzip.
	Compression Compression
	// Level is the compression level: 1-9 for gzip, 1-22 for zstd; xz
	// and none take none. An explicit gzip level is klauspost/compress's
	// level, used for every 1 MiB block. 0 means the default: 3 for zstd,
	// and for gzip an encoder chosen per block from its content alone (so
	// the output still depends only on the input): blocks whose bytes look
	// random (already compressed data) get klauspost's fast level 6, which
	// stores them at once, and the rest our own encoder
	// (internal/deflate), which comes within ~0.4 % of dpkg-deb's gzip -9
	// size at a sixth of its CPU time.
	Level int
	// ModTime is the mtime of every entry and ar member (later times are
	// clamped to it). The zero value means the Unix epoch, never "now", so
	// that the same Spec always gives the same bytes.
	ModTime time.Time
	// KeepSymlinkTargets writes every symlink's Target exactly as given,
	// as dpkg-deb --build does with a tree, instead of in the form of
	// Policy 10.5 (see Entry.Target).
	KeepSymlinkTargets bool
	// TempDir is where the compressed data tarball is spooled while its
	// size is not known yet; "" means os.TempDir().
	TempDir string
}

// Result describes a package Build wrote.
type Result struct {
	// Control is the control paragraph as written, InstalledSize included.
	Control Control
	// Size is the number of bytes written.
	Size int64
	// Warnings are caveats the user should see (e.g. ZstdWarning).
	Warnings []string
}
