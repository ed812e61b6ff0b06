package buildspec

import (
	"flag"
	"fmt"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
)

// Flags are the command-line flags that describe a package. Register them on
// a FlagSet, parse, then Load the -f file (if any) and Apply the flags over
// it.
type Flags struct {
	// SpecFile is the -f value: the pkgdeb.yaml to start from, or "".
	SpecFile string

	fs             *flag.FlagSet
	str            map[string]*string
	lists          map[string]*cli.Strings
	versionFromGit bool
}

// scalarFlags are the flags that replace one Spec string field.
var scalarFlags = []struct{ name, usage string }{
	{"name", "package name, e.g. hello"},
	{"version", "package version, e.g. 1.2.3 (see also --version-from-git)"},
	{"arch", "Debian architecture (amd64, arm64, armhf, all, ...); default from --goarch/--goarm, then GOARCH/GOARM, then this machine"},
	{"goarch", "Go architecture the binaries were built for; mapped to the Debian one"},
	{"goarm", "GOARM (5, 6 or 7) when --goarch is arm"},
	{"maintainer", `maintainer, "Full Name <email@example.com>"`},
	{"description", "description: the first line is the synopsis, the following lines the long description, as plain lines or as control-file continuation lines (' text', ' .' for an empty line)"},
	{"section", "section, e.g. net, admin, utils"},
	{"priority", "priority (optional by default)"},
	{"homepage", "upstream URL"},
	{"preinst", "preinst maintainer script (must start with #!)"},
	{"postinst", "postinst maintainer script"},
	{"prerm", "prerm maintainer script"},
	{"postrm", "postrm maintainer script"},
	{"copyright", "copyright file, installed as /usr/share/doc/NAME/copyright"},
	{"changelog", "Debian changelog, installed compressed in /usr/share/doc/NAME/"},
	{"compression", "gzip (default), zstd (needs dpkg >= 1.21.18), xz or none"},
}

// listFlags are the repeatable flags.
var listFlags = []struct{ name, usage string }{
	{"depends", "Depends relation, e.g. 'adduser' or 'libc6 (>= 2.31)' (repeatable)"},
	{"pre-depends", "Pre-Depends relation (repeatable)"},
	{"recommends", "Recommends relation (repeatable)"},
	{"suggests", "Suggests relation (repeatable)"},
	{"conflicts", "Conflicts relation (repeatable)"},
	{"breaks", "Breaks relation (repeatable)"},
	{"replaces", "Replaces relation (repeatable)"},
	{"provides", "Provides relation (repeatable)"},
	{"file", "SRC:DEST[:MODE]: install file SRC as DEST; a directory SRC maps its whole tree under DEST (repeatable)"},
	{"conffile", "SRC:DEST[:MODE]: like --file, and mark it a conffile (repeatable)"},
	{"dir", "DEST: create an empty directory (repeatable)"},
	{"symlink", "DEST:TARGET: create symlink DEST pointing to TARGET, written relative within one top-level directory and absolute between two, as Policy 10.5 wants (repeatable)"},
	{"man", "manual page source, e.g. hello.1: installed gzipped in /usr/share/man/man1 (repeatable)"},
}

// RegisterFlags defines the package flags on fs and returns where their
// values land.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, str: map[string]*string{}, lists: map[string]*cli.Strings{}}
	fs.StringVar(&f.SpecFile, "f", "", "pkgdeb.yaml spec to build from; flags override it")
	for _, s := range scalarFlags {
		f.str[s.name] = fs.String(s.name, "", s.usage)
	}
	for _, l := range listFlags {
		v := new(cli.Strings)
		f.lists[l.name] = v
		fs.Var(v, l.name, l.usage)
	}
	fs.BoolVar(&f.versionFromGit, "version-from-git", false, "derive the version from `git describe --tags` (v1.2.3-4-gabc -> 1.2.3+git4.abc)")
	return f
}

// Apply sets on s every flag that was given on the command line. Scalar
// flags and relationship flags replace what the spec file said; --file,
// --conffile, --dir, --symlink and --man add to it. File paths given as
// flags are relative to the current directory.
func (f *Flags) Apply(s *Spec) error {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["version"] && set["version-from-git"] {
		return cli.Usagef("--version and --version-from-git are mutually exclusive")
	}
	fields := map[string]*string{
		"name": &s.Name, "version": &s.Version, "arch": &s.Arch, "goarch": &s.GOARCH,
		"goarm": &s.GOARM, "maintainer": &s.Maintainer, "description": &s.Description,
		"section": &s.Section, "priority": &s.Priority, "homepage": &s.Homepage,
		"preinst": &s.Preinst, "postinst": &s.Postinst, "prerm": &s.Prerm,
		"postrm": &s.Postrm, "copyright": &s.Copyright, "changelog": &s.Changelog,
		"compression": &s.Compression,
	}
	for name, dst := range fields {
		if set[name] {
			*dst = *f.str[name]
		}
	}
	if set["version"] {
		s.VersionFromGit = false
	}
	if set["version-from-git"] {
		s.VersionFromGit = f.versionFromGit
		if f.versionFromGit {
			s.Version = ""
		}
	}
	// An architecture from the spec file must not win over a --goarch given
	// on the command line.
	if (set["goarch"] || set["goarm"]) && !set["arch"] {
		s.Arch = ""
	}
	if set["compression"] {
		if _, err := deb.ParseCompression(s.Compression); err != nil {
			return cli.Usagef("--compression: %v", err)
		}
	}
	lists := map[string]*[]string{
		"depends": &s.Depends, "pre-depends": &s.PreDepends, "recommends": &s.Recommends,
		"suggests": &s.Suggests, "conflicts": &s.Conflicts, "breaks": &s.Breaks,
		"replaces": &s.Replaces, "provides": &s.Provides,
	}
	for name, dst := range lists {
		if set[name] {
			*dst = append([]string(nil), (*f.lists[name])...)
		}
	}
	for _, a := range *f.lists["file"] {
		fl, err := ParseFileArg(a)
		if err != nil {
			return cli.Usagef("--file %v", err)
		}
		s.Files = append(s.Files, fl)
	}
	for _, a := range *f.lists["conffile"] {
		fl, err := ParseFileArg(a)
		if err != nil {
			return cli.Usagef("--conffile %v", err)
		}
		fl.Conffile = true
		s.Files = append(s.Files, fl)
	}
	for _, a := range *f.lists["dir"] {
		if err := checkDest(a); err != nil {
			return cli.Usagef("--dir %v", err)
		}
		s.Dirs = append(s.Dirs, Dir{Dest: a})
	}
	for _, a := range *f.lists["symlink"] {
		l, err := ParseSymlinkArg(a)
		if err != nil {
			return cli.Usagef("--symlink %v", err)
		}
		s.Symlinks = append(s.Symlinks, l)
	}
	s.Man = append(s.Man, (*f.lists["man"])...)
	if s.Compression != "" {
		if _, err := deb.ParseCompression(s.Compression); err != nil {
			return fmt.Errorf("compression: %w", err)
		}
	}
	return nil
}

// ApplyTree applies to a spec made by Tree the one package flag that makes
// sense there, --compression. Any other package flag (or -f) is a usage
// error: the tree's DEBIAN/control describes the package.
func (f *Flags) ApplyTree(s *deb.Spec) error {
	var err error
	f.fs.Visit(func(fl *flag.Flag) {
		_, str := f.str[fl.Name]
		_, list := f.lists[fl.Name]
		own := str || list || fl.Name == "f" || fl.Name == "version-from-git"
		if err == nil && own && fl.Name != "compression" {
			dash := "--"
			if len(fl.Name) == 1 {
				dash = "-"
			}
			err = cli.Usagef("%s%s: a tree is described by its DEBIAN/control; only --compression and -o apply to it", dash, fl.Name)
		}
	})
	if err != nil {
		return err
	}
	c, err := deb.ParseCompression(*f.str["compression"])
	if err != nil {
		return cli.Usagef("--compression: %v", err)
	}
	s.Compression = c
	return nil
}
