package buildspec

import (
	"flag"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
	"gopkg.in/yaml.v3"
)

// A key is one setting of a package description, in every form it takes:
// its name in pkgdeb.yaml, its command-line flag, and where its value lands
// in a Spec. Parse, RegisterFlags and Apply all work from keys(), so that a
// key cannot exist in one form and be silently missing from another.
type key struct {
	name  string // in pkgdeb.yaml
	flag  string // of pkgdeb build; "" when only the YAML can say it
	usage string // the flag's help text
	kind  kind
	// flagClears, when set, runs after the flag's value is applied: it
	// drops what the spec file said that the flag makes wrong (--version
	// replaces a version-from-git: true as well as a version:).
	flagClears func(*Spec)
}

// A kind is how a key's value is read, from the YAML and from the command
// line, and where in a Spec it goes.
type kind struct {
	// yaml stores the value v of key in s; a problem is reported to p,
	// which gives it v's line.
	yaml func(p *parser, s *Spec, key string, v *yaml.Node)
	// flag defines the key's flag on fs and returns what the flag, when
	// given, does to s. Nil for a key that only the YAML has.
	flag func(fs *flag.FlagSet, name, usage string) func(s *Spec) error
}

// keys returns the keys of a package description. The order is the order
// Apply applies flags in and reports the first bad one in: arch comes after
// goarch and goarm, whose flags drop the spec file's arch, so that an --arch
// given with them wins.
func keys() []key {
	return []key{
		{name: "name", flag: "name", usage: "package name, e.g. hello",
			kind: text(func(s *Spec) *string { return &s.Name })},
		{name: "version", flag: "version", usage: "package version, e.g. 1.2.3 (see also --version-from-git)",
			kind:       text(func(s *Spec) *string { return &s.Version }),
			flagClears: func(s *Spec) { s.VersionFromGit = false }},
		{name: "version-from-git", flag: "version-from-git", usage: "derive the version from `git describe --tags` (v1.2.3-4-gabc -> 1.2.3+git4.abc)",
			kind: boolean(func(s *Spec) *bool { return &s.VersionFromGit }),
			flagClears: func(s *Spec) {
				if s.VersionFromGit {
					s.Version = ""
				}
			}},
		{name: "goarch", flag: "goarch", usage: "Go architecture the binaries were built for; mapped to the Debian one",
			kind:       text(func(s *Spec) *string { return &s.GOARCH }),
			flagClears: func(s *Spec) { s.Arch = "" }},
		{name: "goarm", flag: "goarm", usage: "GOARM (5, 6 or 7) when --goarch is arm",
			kind:       text(func(s *Spec) *string { return &s.GOARM }),
			flagClears: func(s *Spec) { s.Arch = "" }},
		{name: "arch", flag: "arch", usage: "Debian architecture (amd64, arm64, armhf, all, ...); default from --goarch/--goarm, then GOARCH/GOARM, then this machine",
			kind: text(func(s *Spec) *string { return &s.Arch })},
		{name: "maintainer", flag: "maintainer", usage: `maintainer, "Full Name <email@example.com>"`,
			kind: text(func(s *Spec) *string { return &s.Maintainer })},
		{name: "description", flag: "description", usage: "description: the first line is the synopsis, the following lines the long description, as plain lines or as control-file continuation lines (' text', ' .' for an empty line)",
			kind: text(func(s *Spec) *string { return &s.Description })},
		{name: "section", flag: "section", usage: "section, e.g. net, admin, utils",
			kind: text(func(s *Spec) *string { return &s.Section })},
		{name: "priority", flag: "priority", usage: "priority (optional by default)",
			kind: text(func(s *Spec) *string { return &s.Priority })},
		{name: "homepage", flag: "homepage", usage: "upstream URL",
			kind: text(func(s *Spec) *string { return &s.Homepage })},

		{name: "depends", flag: "depends", usage: "Depends relation, e.g. 'adduser' or 'libc6 (>= 2.31)' (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Depends })},
		{name: "pre-depends", flag: "pre-depends", usage: "Pre-Depends relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.PreDepends })},
		{name: "recommends", flag: "recommends", usage: "Recommends relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Recommends })},
		{name: "suggests", flag: "suggests", usage: "Suggests relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Suggests })},
		{name: "conflicts", flag: "conflicts", usage: "Conflicts relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Conflicts })},
		{name: "breaks", flag: "breaks", usage: "Breaks relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Breaks })},
		{name: "replaces", flag: "replaces", usage: "Replaces relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Replaces })},
		{name: "provides", flag: "provides", usage: "Provides relation (repeatable)",
			kind: list(func(s *Spec) *[]string { return &s.Provides })},
		{name: "fields", kind: fields()},

		{name: "compression", flag: "compression", usage: "gzip (default), zstd (needs dpkg >= 1.21.18), xz or none",
			kind: checked(func(s *Spec) *string { return &s.Compression }, checkCompression)},

		{name: "files", flag: "file", usage: "SRC:DEST[:MODE]: install file SRC as DEST; a directory SRC maps its whole tree under DEST (repeatable)",
			kind: files(false)},
		{name: "conffiles", flag: "conffile", usage: "SRC:DEST[:MODE]: like --file, and mark it a conffile (repeatable)",
			kind: files(true)},
		{name: "dirs", flag: "dir", usage: "DEST: create an empty directory (repeatable)",
			kind: dirs()},
		{name: "symlinks", flag: "symlink", usage: "DEST:TARGET: create symlink DEST pointing to TARGET, written relative within one top-level directory and absolute between two, as Policy 10.5 wants (repeatable)",
			kind: symlinks()},
		{name: "man", flag: "man", usage: "manual page source, e.g. hello.1: installed gzipped in /usr/share/man/man1 (repeatable)",
			kind: manPages()},

		{name: "preinst", flag: "preinst", usage: "preinst maintainer script (must start with #!)",
			kind: filePath(func(s *Spec) *string { return &s.Preinst })},
		{name: "postinst", flag: "postinst", usage: "postinst maintainer script",
			kind: filePath(func(s *Spec) *string { return &s.Postinst })},
		{name: "prerm", flag: "prerm", usage: "prerm maintainer script",
			kind: filePath(func(s *Spec) *string { return &s.Prerm })},
		{name: "postrm", flag: "postrm", usage: "postrm maintainer script",
			kind: filePath(func(s *Spec) *string { return &s.Postrm })},
		{name: "copyright", flag: "copyright", usage: "copyright file, installed as /usr/share/doc/NAME/copyright",
			kind: filePath(func(s *Spec) *string { return &s.Copyright })},
		{name: "changelog", flag: "changelog", usage: "Debian changelog, installed compressed in /usr/share/doc/NAME/",
			kind: filePath(func(s *Spec) *string { return &s.Changelog })},
	}
}

// checkCompression accepts the compressions deb.Build can write, so that
// a typo fails where it was typed rather than at build time.
func checkCompression(c string) error {
	_, err := deb.ParseCompression(c)
	return err
}

// text is a single value, kept as given. Its flag replaces the file's value.
func text(field func(*Spec) *string) kind { return single(field, false, nil) }

// filePath is a file name. In the YAML it is relative to the YAML file's
// directory; as a flag, to the current directory, as a shell user expects.
func filePath(field func(*Spec) *string) kind { return single(field, true, nil) }

// checked is a single value that check must accept, so that a bad one is
// reported with its line rather than when the package is built.
func checked(field func(*Spec) *string, check func(string) error) kind {
	return single(field, false, check)
}

// single is a value that one string holds; see text, filePath and checked.
func single(field func(*Spec) *string, isPath bool, check func(string) error) kind {
	return kind{
		yaml: func(p *parser, s *Spec, key string, v *yaml.Node) {
			x, ok := p.scalar(v, key)
			if !ok {
				return
			}
			if check != nil {
				if err := check(x); err != nil {
					p.fail(v, key, "%v", err)
				}
			}
			if isPath {
				x = p.path(x)
			}
			*field(s) = x
		},
		flag: func(fs *flag.FlagSet, name, usage string) func(*Spec) error {
			v := fs.String(name, "", usage)
			return func(s *Spec) error {
				if check != nil {
					if err := check(*v); err != nil {
						return cli.Usagef("--%s: %v", name, err)
					}
				}
				*field(s) = *v
				return nil
			}
		},
	}
}

// boolean is true or false. Its flag replaces the file's value.
func boolean(field func(*Spec) *bool) kind {
	return kind{
		yaml: func(p *parser, s *Spec, key string, v *yaml.Node) {
			if _, ok := p.scalar(v, key); ok {
				*field(s), _ = p.bool(v, key)
			}
		},
		flag: func(fs *flag.FlagSet, name, usage string) func(*Spec) error {
			v := fs.Bool(name, false, usage)
			return func(s *Spec) error {
				*field(s) = *v
				return nil
			}
		},
	}
}

// list is a list of values, such as relations. The flag is repeatable, and
// replaces the file's list: a relation cannot be taken back otherwise.
func list(field func(*Spec) *[]string) kind {
	return kind{
		yaml: func(p *parser, s *Spec, key string, v *yaml.Node) {
			*field(s) = p.strings(v, key)
		},
		flag: func(fs *flag.FlagSet, name, usage string) func(*Spec) error {
			v := new(cli.Strings)
			fs.Var(v, name, usage)
			return func(s *Spec) error {
				*field(s) = append([]string(nil), (*v)...)
				return nil
			}
		},
	}
}

// fields are custom control fields, a mapping of names to values. They have
// no flag: it would have to spell NAME=VALUE pairs, and they are for the file.
func fields() kind {
	return kind{yaml: func(p *parser, s *Spec, key string, v *yaml.Node) {
		s.Fields = p.fields(v, key)
	}}
}

// files maps files and directory trees to their destinations; conffile
// marks them all conffiles.
func files(conffile bool) kind {
	return contents(func(s *Spec) *[]File { return &s.Files },
		func(p *parser, v *yaml.Node, key string) []File { return p.files(v, key, conffile) },
		func(arg string) (File, error) {
			f, err := ParseFileArg(arg)
			f.Conffile = conffile
			return f, err
		})
}

// dirs are empty directories to create.
func dirs() kind {
	return contents(func(s *Spec) *[]Dir { return &s.Dirs }, (*parser).dirs,
		func(arg string) (Dir, error) { return Dir{Dest: arg}, checkDest(arg) })
}

// symlinks are symbolic links to create.
func symlinks() kind {
	return contents(func(s *Spec) *[]Symlink { return &s.Symlinks }, (*parser).symlinks, ParseSymlinkArg)
}

// manPages are the paths of manual pages.
func manPages() kind {
	return contents(func(s *Spec) *[]string { return &s.Man },
		func(p *parser, v *yaml.Node, key string) []string {
			var out []string
			for _, m := range p.strings(v, key) {
				out = append(out, p.path(m))
			}
			return out
		},
		func(arg string) (string, error) { return arg, nil })
}

// contents is a list of what the package holds. Each value of its
// repeatable flag, read by fromFlag, adds to what the spec file lists
// rather than replacing it, so that a build can put one more file into a
// packaged service. In the YAML, files: and conffiles: add to one list.
func contents[T any](field func(*Spec) *[]T, fromYAML func(*parser, *yaml.Node, string) []T, fromFlag func(string) (T, error)) kind {
	return kind{
		yaml: func(p *parser, s *Spec, key string, v *yaml.Node) {
			*field(s) = append(*field(s), fromYAML(p, v, key)...)
		},
		flag: func(fs *flag.FlagSet, name, usage string) func(*Spec) error {
			v := new(cli.Strings)
			fs.Var(v, name, usage)
			return func(s *Spec) error {
				for _, arg := range *v {
					x, err := fromFlag(arg)
					if err != nil {
						return cli.Usagef("--%s %v", name, err)
					}
					*field(s) = append(*field(s), x)
				}
				return nil
			}
		},
	}
}
