package buildspec

import (
	"flag"
	"fmt"
	"slices"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
)

// Flags are the command-line flags that describe a package. Register them on
// a FlagSet, parse, then Load the -f file (if any) and Apply the flags over
// it.
type Flags struct {
	// SpecFile is the -f value: the pkgdeb.yaml to start from, or "".
	SpecFile string

	fs *flag.FlagSet
	// keys are the keys that have a flag, in the order of keys(), each with
	// what its flag does to a Spec when given.
	keys []flagKey
}

// flagKey is a key whose flag is defined on the Flags' FlagSet.
type flagKey struct {
	key
	apply func(*Spec) error
}

// RegisterFlags defines the package flags on fs and returns where their
// values land.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.SpecFile, "f", "", "pkgdeb.yaml spec to build from; flags override it")
	for _, k := range keys() {
		if k.flag != "" {
			f.keys = append(f.keys, flagKey{key: k, apply: k.kind.flag(fs, k.flag, k.usage)})
		}
	}
	return f
}

// Apply sets on s every flag that was given on the command line. Scalar
// flags and relationship flags replace what the spec file said; --file,
// --conffile, --dir, --symlink and --man add to it. File paths given as
// flags are relative to the current directory.
func (f *Flags) Apply(s *Spec) error {
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if given["version"] && given["version-from-git"] {
		return cli.Usagef("--version and --version-from-git are mutually exclusive")
	}
	for _, k := range f.keys {
		if !given[k.flag] {
			continue
		}
		if err := k.apply(s); err != nil {
			return err
		}
		if k.flagClears != nil {
			k.flagClears(s)
		}
	}
	// A Spec made by hand rather than by Load has not had its compression
	// checked.
	if s.Compression != "" {
		if err := checkCompression(s.Compression); err != nil {
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
	var compression *flagKey
	f.fs.Visit(func(fl *flag.Flag) {
		i := slices.IndexFunc(f.keys, func(k flagKey) bool { return k.flag == fl.Name })
		switch {
		case err != nil:
		case fl.Name == "compression":
			compression = &f.keys[i]
		case i >= 0 || fl.Name == "f":
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
	// --compression is applied as Apply applies it, to a Spec of its own, so
	// that it is checked, and its errors read, the same in both modes.
	var given Spec
	if compression != nil {
		if err := compression.apply(&given); err != nil {
			return err
		}
	}
	c, err := deb.ParseCompression(given.Compression)
	if err != nil {
		return fmt.Errorf("compression: %w", err)
	}
	s.Compression = c
	return nil
}
