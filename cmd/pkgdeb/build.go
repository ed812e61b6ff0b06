package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/buildspec"
	"github.com/debfleet/debfleet/internal/cli"
)

const buildHelp = `Usage: pkgdeb build [-f pkgdeb.yaml] [flags] [-o OUT.deb|DIR/]
       pkgdeb build --root TREE [-o OUT.deb|DIR/]    (or: pkgdeb build TREE [OUT])

Build a .deb without dpkg-deb, root or fakeroot. The package is described by
a pkgdeb.yaml spec (-f), by flags, or both: flags override the spec (scalar
and relationship flags replace its values; --file, --conffile, --dir,
--symlink and --man add to it). Paths in the spec are relative to the spec's
directory, paths in flags to the current directory.

Tree mode (--root TREE, or TREE as the first argument) builds a directory laid
out for dpkg-deb --build: TREE/DEBIAN/control (and conffiles, preinst,
postinst, prerm, postrm, config, templates, triggers, shlibs, symbols)
beside the files as installed (TREE/usr/...). The
package installs as dpkg-deb --build --root-owner-group TREE would make it:
the tree's modes and symlinks are kept as they are, owners are root:root.
Installed-Size and md5sums are computed (a DEBIAN/md5sums is ignored); files
DEBIAN/conffiles lists, and those under /etc, are conffiles; hard links stay
hard links (a conffile cannot be one). Unlike dpkg-deb, which writes TREE.deb, the default output is
NAME_VERSION_ARCH.deb here; an OUT that is a directory gets that name inside.

The output is reproducible: owners are root:root, entries are sorted, and
every mtime is clamped to SOURCE_DATE_EPOCH when set, else to the time of the
last git commit of the spec's directory (or the tree's), else to 1970-01-01.

Prints the output path, its size and its SHA-256.

Examples:
  pkgdeb build -f packaging/hello/pkgdeb.yaml --version-from-git -o dist/
  pkgdeb build --name hello --version 1.2.3 --goarch arm64 \
      --maintainer "Jane Doe <jane@example.com>" \
      --description $'HTTP greeter\nA small example service.' \
      --file bin/hello:/usr/bin/hello --conffile hello.default:/etc/default/hello \
      --file systemd/hello.service:/usr/lib/systemd/system/hello.service
  # Tree mode: what "dpkg-deb --root-owner-group --build build dist/" did.
  mkdir -p build/DEBIAN build/usr/bin && cp bin/hello build/usr/bin/
  printf '%s\n' 'Package: hello' 'Version: 1.2.3' 'Architecture: amd64' \
      'Maintainer: Jane Doe <jane@example.com>' 'Description: HTTP greeter' \
      > build/DEBIAN/control
  pkgdeb build build/ dist/

Flags:
`

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb build", buildHelp, stderr)
	flags := buildspec.RegisterFlags(fs)
	out := fs.String("o", "", "output .deb, or a directory (ending in /, or existing) to put name_version_arch.deb in; default: name_version_arch.deb here")
	root := fs.String("root", "", "build the tree TREE laid out for dpkg-deb --build (TREE/DEBIAN/control beside TREE/usr/...); the tree describes the package, only -o and --compression apply")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	var ds *deb.Spec
	if *root != "" || len(pos) > 0 {
		ds, err = treeSpec(ctx, flags, root, out, pos)
	} else {
		ds, err = specFromFlags(ctx, flags)
	}
	if err != nil {
		return err
	}
	return buildAndReport(ctx, ds, *out, stdout, stderr)
}

// specFromFlags resolves the -f spec with the package flags applied over it.
func specFromFlags(ctx context.Context, flags *buildspec.Flags) (*deb.Spec, error) {
	spec := &buildspec.Spec{}
	if flags.SpecFile != "" {
		var err error
		if spec, err = buildspec.Load(flags.SpecFile); err != nil {
			return nil, err
		}
	}
	if err := flags.Apply(spec); err != nil {
		return nil, err
	}
	if flags.SpecFile == "" && spec.Name == "" && len(spec.Files) == 0 {
		return nil, cli.Usagef("nothing to build: give -f pkgdeb.yaml or --name, --version, --file, ...")
	}
	return spec.Resolve(ctx, buildspec.Env{})
}

// treeSpec reads the tree given as --root, or as the first argument (the
// second being the output, as dpkg-deb --build TREE [OUT] takes them).
func treeSpec(ctx context.Context, flags *buildspec.Flags, root, out *string, pos []string) (*deb.Spec, error) {
	switch {
	case len(pos) > 0 && *root != "":
		return nil, cli.Usagef("unexpected argument %q: the tree is already given with --root", pos[0])
	case len(pos) > 2:
		return nil, cli.Usagef("unexpected argument %q: pkgdeb build TREE [OUT]", pos[2])
	case len(pos) == 2 && *out != "":
		return nil, cli.Usagef("the output is given twice: -o %s and %s", *out, pos[1])
	case len(pos) > 0:
		if fi, err := os.Stat(pos[0]); err != nil || !fi.IsDir() {
			return nil, cli.Usagef("unexpected argument %q: give a spec with -f, or a directory with DEBIAN/control to build a tree", pos[0])
		}
		*root = pos[0]
		if len(pos) == 2 {
			*out = pos[1]
		}
	}
	ds, err := buildspec.Tree(ctx, *root, buildspec.Env{})
	if err != nil {
		return nil, err
	}
	return ds, flags.ApplyTree(ds)
}

// buildAndReport writes the package where -o says and prints what it wrote
// and any warning.
func buildAndReport(ctx context.Context, ds *deb.Spec, out string, stdout, stderr io.Writer) error {
	if ds.ModTime.Unix() == 0 && os.Getenv("SOURCE_DATE_EPOCH") == "" {
		fmt.Fprintln(stderr, "pkgdeb build: warning: no SOURCE_DATE_EPOCH and no git commit to take a date from: every mtime is 1970-01-01, which lintian reports as package-contains-ancient-file")
	}
	dest := outputPath(out, ds.Control.Filename())
	ds.TempDir = filepath.Dir(dest)
	res, sum, err := writeDeb(ctx, dest, ds)
	if err != nil {
		return err
	}
	warned := false
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "pkgdeb build: warning: %s\n", w)
		warned = warned || w == deb.ZstdWarning
	}
	if w := ds.Compression.Warning(); w != "" && !warned {
		fmt.Fprintf(stderr, "pkgdeb build: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s %d bytes sha256 %s\n", dest, res.Size, sum)
	return nil
}

// outputPath applies -o: empty means the conventional name here; a
// directory (existing, or named with a trailing slash) gets the
// conventional name inside it.
func outputPath(out, filename string) string {
	if out == "" {
		return filename
	}
	if strings.HasSuffix(out, "/") {
		return filepath.Join(out, filename)
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return filepath.Join(out, filename)
	}
	return out
}

// writeDeb builds into a temporary file next to dest and renames it into
// place, so that dest is never a half-written package, and hashes the bytes
// on their way out.
func writeDeb(ctx context.Context, dest string, spec *deb.Spec) (*deb.Result, string, error) {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("build %s: %w", dest, err)
	}
	f, err := os.CreateTemp(dir, ".pkgdeb-*.deb.tmp")
	if err != nil {
		return nil, "", fmt.Errorf("build %s: %w", dest, err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	h := sha256.New()
	res, err := deb.Build(ctx, io.MultiWriter(f, h), spec)
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("build %s: %w", dest, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("build %s: %w", dest, err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("build %s: %w", dest, err)
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return nil, "", fmt.Errorf("build %s: %w", dest, err)
	}
	return res, hex.EncodeToString(h.Sum(nil)), nil
}
