package buildspec

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/debfleet/debfleet/deb"
)

// Env is what Resolve takes from its surroundings.
type Env struct {
	// Getenv reads GOARCH, GOARM and SOURCE_DATE_EPOCH; nil means os.Getenv.
	Getenv func(string) string
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

// Resolve checks s, reads the small files it names (scripts, copyright,
// changelog, manual pages), walks its directory trees and returns the
// deb.Spec to build. Regular files are referenced by path, never loaded.
// Every problem found is reported at once, so that one run names them all.
func (s *Spec) Resolve(ctx context.Context, env Env) (*deb.Spec, error) {
	out := &deb.Spec{}
	errs := s.control(ctx, env, &out.Control)
	errs = append(errs, s.entries(&out.Entries)...)
	errs = append(errs, s.scripts(&out.Scripts)...)
	errs = append(errs, s.docs(out)...)
	var err error
	if out.Compression, err = deb.ParseCompression(s.Compression); err != nil {
		errs = append(errs, fmt.Errorf("compression: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if out.ModTime, err = ModTime(ctx, s.Dir, env.getenv); err != nil {
		return nil, err
	}
	return out, nil
}

// control fills c from the package's fields, deriving the version from git
// and the architecture from GOARCH when asked to. The control is validated
// only when every required field is there, so that a missing field is
// reported once, in words that say where to set it.
func (s *Spec) control(ctx context.Context, env Env, c *deb.Control) []error {
	var errs []error
	version := s.Version
	switch {
	case s.VersionFromGit && s.Version != "":
		errs = append(errs, errors.New("version and version-from-git are mutually exclusive"))
	case s.VersionFromGit:
		v, err := GitVersion(ctx, s.Dir)
		if err != nil {
			errs = append(errs, err)
		}
		version = v
	case s.Version == "":
		errs = append(errs, errors.New("version is required (version: in the spec, --version or --version-from-git)"))
	}
	if s.Name == "" {
		errs = append(errs, errors.New("name is required (name: in the spec or --name)"))
	}
	if s.Maintainer == "" {
		errs = append(errs, errors.New(`maintainer is required (maintainer: in the spec or --maintainer "Name <email>")`))
	}
	if strings.TrimSpace(s.Description) == "" {
		errs = append(errs, errors.New("description is required (description: in the spec or --description)"))
	}
	arch, err := s.arch(env)
	if err != nil {
		errs = append(errs, err)
	}
	synopsis, long := splitDescription(s.Description)
	*c = deb.Control{
		Package: s.Name, Version: version, Architecture: arch,
		Maintainer: s.Maintainer, Section: s.Section, Priority: s.Priority,
		Homepage: s.Homepage, Synopsis: synopsis, Description: long,
		Depends: s.Depends, PreDepends: s.PreDepends, Recommends: s.Recommends,
		Suggests: s.Suggests, Conflicts: s.Conflicts, Breaks: s.Breaks,
		Replaces: s.Replaces, Provides: s.Provides, Extra: s.Fields,
	}
	if c.Priority == "" {
		c.Priority = "optional"
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// entries adds the files, directories, symlinks and manual pages to out.
func (s *Spec) entries(out *[]deb.Entry) []error {
	var errs []error
	for _, f := range s.Files {
		entries, err := fileEntries(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*out = append(*out, entries...)
	}
	for _, d := range s.Dirs {
		*out = append(*out, deb.Entry{Type: deb.Dir, Dest: path.Clean(d.Dest), Mode: d.Mode})
	}
	for _, l := range s.Symlinks {
		*out = append(*out, deb.Entry{Type: deb.Symlink, Dest: path.Clean(l.Dest), Target: l.Target})
	}
	for _, m := range s.Man {
		e, err := manEntry(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*out = append(*out, e)
	}
	return errs
}

// scripts reads the maintainer scripts into out.
func (s *Spec) scripts(out *deb.Scripts) []error {
	scripts := []struct {
		name, path string
		dst        *[]byte
	}{
		{"preinst", s.Preinst, &out.Preinst},
		{"postinst", s.Postinst, &out.Postinst},
		{"prerm", s.Prerm, &out.Prerm},
		{"postrm", s.Postrm, &out.Postrm},
	}
	var errs []error
	for _, sc := range scripts {
		if sc.path == "" {
			continue
		}
		b, err := readSmall(sc.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sc.name, err))
			continue
		}
		if !bytes.HasPrefix(b, []byte("#!")) {
			errs = append(errs, fmt.Errorf("%s: %s must start with #! (e.g. #!/bin/sh)", sc.name, sc.path))
			continue
		}
		*sc.dst = b
	}
	return errs
}

// docs reads the copyright file and the changelog into out, whose control
// must be filled: where the changelog goes depends on the version.
func (s *Spec) docs(out *deb.Spec) []error {
	var errs []error
	if s.Copyright != "" {
		var err error
		if out.Copyright, err = readSmall(s.Copyright); err != nil {
			errs = append(errs, fmt.Errorf("copyright: %w", err))
		}
	}
	if s.Changelog == "" {
		return errs
	}
	b, err := readSmall(s.Changelog)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("changelog: %w", err))
	case isNative(out.Control.Version):
		// Policy 12.7 (and lintian's
		// wrong-name-for-changelog-of-native-package): a package whose
		// version has no Debian revision is native, and its changelog is
		// changelog.gz, not changelog.Debian.gz as deb.Spec names it.
		gz, err := gzip9n(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("changelog: %w", err))
		}
		out.Entries = append(out.Entries, deb.Entry{Type: deb.Regular, Dest: "/usr/share/doc/" + s.Name + "/changelog.gz", Body: gz, Mode: 0o644})
	default:
		out.Changelog = b
	}
	return errs
}

// arch picks the Debian architecture: Arch, else GOARCH/GOARM of the spec,
// else of the environment, else of this binary.
func (s *Spec) arch(env Env) (string, error) {
	if s.Arch != "" {
		return s.Arch, nil
	}
	goarch, goarm := s.GOARCH, s.GOARM
	// Where GOARM goes is where GOARCH came from.
	setGOARM := "set goarm: in the spec or --goarm"
	if goarch == "" {
		goarch, goarm = env.getenv("GOARCH"), env.getenv("GOARM")
		setGOARM = "set GOARM in the environment"
		if goarch == "" {
			goarch = runtime.GOARCH
		}
	}
	a, err := deb.Arch(goarch, goarm)
	switch {
	case errors.Is(err, deb.ErrNeedGOARM):
		return "", fmt.Errorf("architecture: %w; %s, or name the architecture with arch: or --arch", err, setGOARM)
	case err != nil:
		return "", fmt.Errorf("architecture: %w (or name it with arch: in the spec or --arch)", err)
	}
	return a, nil
}

// splitDescription splits "synopsis\n\nlong text" into its two parts; one
// blank line between them is optional. The long text is returned as
// deb.Control.Description takes it: plain lines, "" for a blank one.
func splitDescription(d string) (synopsis, long string) {
	d = strings.TrimSpace(d)
	synopsis, long, _ = strings.Cut(d, "\n")
	return strings.TrimSpace(synopsis), unindent(strings.Trim(long, "\n"))
}

// unindent accepts a long description copied from a control file, where
// every line starts with a space and a blank line is " .": it strips that
// one space and turns " ." back into a blank line, so that deb.Build does
// not indent the text twice (which would make every line verbatim, and
// lintian warn description-starts-with-leading-spaces). Text in which some
// line does not start with a space is plain already and is returned as is:
// there, a line starting with a space is meant to be shown verbatim.
func unindent(long string) string {
	lines := strings.Split(long, "\n")
	for _, l := range lines {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, " ") {
			return long
		}
	}
	for i, l := range lines {
		l = strings.TrimPrefix(l, " ")
		if strings.TrimSpace(l) == "." {
			l = ""
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// maxSmallFile bounds scripts, copyright, changelog and manual pages, which
// are loaded into memory.
const maxSmallFile = 16 << 20

func readSmall(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if fi.Size() > maxSmallFile {
		return nil, fmt.Errorf("%s is larger than %d MiB", name, maxSmallFile>>20)
	}
	return os.ReadFile(name)
}

// fileEntries maps f.Src (a file or a tree) to entries under f.Dest.
func fileEntries(f File) ([]deb.Entry, error) {
	fi, err := os.Stat(f.Src)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.Src, err)
	}
	dest := f.Dest
	if !fi.IsDir() {
		if strings.HasSuffix(dest, "/") {
			dest += filepath.Base(f.Src)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("file %s: not a regular file or directory", f.Src)
		}
		return []deb.Entry{f.entry(path.Clean(dest), f.Src, fi.Mode())}, nil
	}
	var out []deb.Entry
	err = filepath.WalkDir(f.Src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(f.Src, p)
		if err != nil {
			return err
		}
		dst := path.Join(dest, filepath.ToSlash(rel))
		switch t := d.Type(); {
		case t.IsDir():
			out = append(out, deb.Entry{Type: deb.Dir, Dest: dst})
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, deb.Entry{Type: deb.Symlink, Dest: dst, Target: target})
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			out = append(out, f.entry(dst, p, info.Mode()))
		default:
			return fmt.Errorf("%s: not a regular file, directory or symlink", p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.Src, err)
	}
	return out, nil
}

func (f File) entry(dest, src string, mode fs.FileMode) deb.Entry {
	m := f.Mode
	if m == 0 {
		// The umask of a checkout must not change the package.
		m = 0o644
		if mode&0o111 != 0 {
			m = 0o755
		}
	}
	return deb.Entry{Type: deb.Regular, Dest: dest, Source: src, Mode: m, Conffile: f.Conffile, NoConffile: f.NoConffile}
}

// manEntry compresses a manual page as gzip -9n does (maximum compression,
// no name, no timestamp), which lintian expects.
func manEntry(src string) (deb.Entry, error) {
	base := filepath.Base(strings.TrimSuffix(src, ".gz"))
	ext := strings.TrimPrefix(filepath.Ext(base), ".")
	if ext == "" || ext[0] < '1' || ext[0] > '9' {
		return deb.Entry{}, fmt.Errorf("man %s: the name must end in a section number, e.g. hello.1 or hello.8", src)
	}
	b, err := readSmall(src)
	if err != nil {
		return deb.Entry{}, fmt.Errorf("man %s: %w", src, err)
	}
	dest := "/usr/share/man/man" + ext[:1] + "/" + base + ".gz"
	if strings.HasSuffix(src, ".gz") {
		return deb.Entry{Type: deb.Regular, Dest: dest, Body: b, Mode: 0o644}, nil
	}
	gz, err := gzip9n(b)
	if err != nil {
		return deb.Entry{}, fmt.Errorf("man %s: %w", src, err)
	}
	return deb.Entry{Type: deb.Regular, Dest: dest, Body: gz, Mode: 0o644}, nil
}

// gzip9n compresses b as gzip -9n does: maximum compression, no name, no
// timestamp, so the bytes depend on b alone.
func gzip9n(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.OS = 3 // Unix, as gzip(1) writes
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// isNative reports whether version has no Debian revision (no '-' after the
// epoch).
func isNative(version string) bool {
	if _, after, ok := strings.Cut(version, ":"); ok {
		version = after
	}
	return !strings.Contains(version, "-")
}
