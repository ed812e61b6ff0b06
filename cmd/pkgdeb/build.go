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

Build a .deb without dpkg-deb, root or fakeroot. The package is described by
a pkgdeb.yaml spec (-f), by flags, or both: flags override the spec (scalar
and relationship flags replace its values; --file, --conffile, --dir,
--symlink and --man add to it). Paths in the spec are relative to the spec's
directory, paths in flags to the current directory.

The output is reproducible: owners are root:root, entries are sorted, and
every mtime is clamped to SOURCE_DATE_EPOCH when set, else to the time of the
last git commit of the spec's directory, else to 1970-01-01.

Prints the output path, its size and its SHA-256.

Examples:
  pkgdeb build -f packaging/hello/pkgdeb.yaml --version-from-git -o dist/
  pkgdeb build --name hello --version 1.2.3 --goarch arm64 \
      --maintainer "Jane Doe <jane@example.com>" \
      --description $'HTTP greeter\nA small example service.' \
      --file bin/hello:/usr/bin/hello --conffile hello.default:/etc/default/hello \
      --file systemd/hello.service:/usr/lib/systemd/system/hello.service

Flags:
`

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("pkgdeb build", buildHelp, stderr)
	flags := buildspec.RegisterFlags(fs)
	out := fs.String("o", "", "output .deb, or a directory (ending in /, or existing) to put name_version_arch.deb in; default: name_version_arch.deb here")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("unexpected argument %q (the spec file goes after -f)", pos[0])
	}
	spec := &buildspec.Spec{}
	if flags.SpecFile != "" {
		if spec, err = buildspec.Load(flags.SpecFile); err != nil {
			return err
		}
	}
	if err := flags.Apply(spec); err != nil {
		return err
	}
	if flags.SpecFile == "" && spec.Name == "" && len(spec.Files) == 0 {
		return cli.Usagef("nothing to build: give -f pkgdeb.yaml or --name, --version, --file, ...")
	}
	ds, err := spec.Resolve(ctx, buildspec.Env{})
	if err != nil {
		return err
	}
	if ds.ModTime.Unix() == 0 && os.Getenv("SOURCE_DATE_EPOCH") == "" {
		fmt.Fprintln(stderr, "pkgdeb build: warning: no SOURCE_DATE_EPOCH and no git commit to take a date from: every mtime is 1970-01-01, which lintian reports as package-contains-ancient-file")
	}
	dest := outputPath(*out, ds.Control.Filename())
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
