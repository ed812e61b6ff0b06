package buildspec

import (
	"io/fs"

	"github.com/debfleet/debfleet/deb"
)

// Spec is a package description before any file is read. Paths in it are
// usable from the current directory: Load joins the YAML's relative paths to
// the YAML file's directory.
type Spec struct {
	Name    string
	Version string
	// VersionFromGit derives Version from `git describe --tags` in Dir (see
	// GitVersion). It is an error to set both.
	VersionFromGit bool
	// Arch is the Debian architecture. When empty it comes from GOARCH and
	// GOARM, then from the environment's GOARCH/GOARM, then from the running
	// binary's architecture.
	Arch        string
	GOARCH      string
	GOARM       string
	Maintainer  string
	Description string // first line: synopsis; the rest: long description
	Section     string
	Priority    string
	Homepage    string

	Depends, PreDepends, Recommends, Suggests []string
	Conflicts, Breaks, Replaces, Provides     []string
	// Fields are custom control fields, in order.
	Fields []deb.Field

	Files    []File
	Dirs     []Dir
	Symlinks []Symlink
	// Man are manual pages (e.g. "hello.1"), installed gzip -9n compressed
	// under /usr/share/man/manN/, N taken from the file name's suffix.
	Man []string

	Preinst, Postinst, Prerm, Postrm string // script paths
	Copyright                        string // path of the copyright file
	Changelog                        string // path of the Debian changelog
	Compression                      string // gzip (default), zstd, xz or none

	// Dir is the directory git is asked about (version and mtime): the YAML
	// file's directory, or "" for the current directory.
	Dir string
}

// File maps a file, or a directory tree, on disk to its place in the package.
type File struct {
	// Src is a file or a directory; a directory maps its whole tree under
	// Dest.
	Src string
	// Dest is absolute. A trailing "/" with a file Src means "into this
	// directory, same base name".
	Dest string
	// Mode applies to every regular file. Zero means from the disk,
	// normalized to 0755 when any execute bit is set and 0644 otherwise, so
	// that the umask of a checkout does not change the package.
	Mode fs.FileMode
	// Conffile marks the file(s) as conffiles even outside /etc.
	Conffile bool
	// NoConffile keeps files under /etc from being conffiles.
	NoConffile bool
}

// Dir is an (empty) directory the package creates.
type Dir struct {
	Dest string
	Mode fs.FileMode // zero means 0755
}

// Symlink is a symbolic link the package creates.
type Symlink struct {
	Dest   string // where the link is
	Target string // what it points to
}
