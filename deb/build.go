package deb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
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
	res, err := buildDeb(ctx, w, spec)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", spec.Control.Package, err)
	}
	return res, nil
}

// buildDeb is Build without the package's name on its errors: it checks the
// spec, plans the data tarball, spools it, builds the control tarball from
// what writing the data found, and writes the three ar members.
func buildDeb(ctx context.Context, w io.Writer, spec *Spec) (*Result, error) {
	in, err := prepare(spec)
	if err != nil {
		return nil, err
	}
	entries, err := plan(spec)
	if err != nil {
		return nil, err
	}

	spool, err := os.CreateTemp(spec.TempDir, "pkgdeb-data-*.tar"+in.comp.ext())
	if err != nil {
		return nil, fmt.Errorf("spool data tarball: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	sums, installed, err := writeData(ctx, spool, entries, in.comp, in.level, in.mtime)
	if err != nil {
		return nil, fmt.Errorf("data tarball: %w", err)
	}
	dataSize, err := rewind(spool)
	if err != nil {
		return nil, fmt.Errorf("data tarball: %w", err)
	}

	ctl := spec.Control
	ctl.InstalledSize = installed
	control, err := controlTarball(&ctl, entries, sums, in.scripts, in.files, in.comp, in.level, in.mtime)
	if err != nil {
		return nil, fmt.Errorf("control tarball: %w", err)
	}

	size, err := writeAr(w, []arMember{
		{"debian-binary", 4, strings.NewReader("2.0\n")},
		{"control.tar" + in.comp.ext(), int64(len(control)), bytes.NewReader(control)},
		{"data.tar" + in.comp.ext(), dataSize, &ctxReader{ctx: ctx, r: spool}},
	}, in.mtime)
	if err != nil {
		return nil, err
	}
	res := &Result{Control: ctl, Size: size}
	if wn := in.comp.Warning(); wn != "" {
		res.Warnings = append(res.Warnings, wn)
	}
	return res, nil
}

// buildInputs is what Build takes from a Spec, checked, besides the entries
// (see plan).
type buildInputs struct {
	comp    Compression // never empty
	level   int
	mtime   time.Time // of every entry and member: whole seconds, UTC, not before 1970
	scripts []Field   // maintainer scripts
	files   []Field   // other control files (triggers, shlibs, ...)
}

// prepare checks the compression, its level and the control fields, and
// collects the control files.
func prepare(spec *Spec) (buildInputs, error) {
	in := buildInputs{comp: spec.Compression, level: spec.Level}
	if in.comp == "" {
		in.comp = Gzip
	}
	if _, err := ParseCompression(string(in.comp)); err != nil {
		return in, err
	}
	if err := checkLevel(in.comp, in.level); err != nil {
		return in, err
	}
	if err := spec.Control.Validate(); err != nil {
		return in, fmt.Errorf("invalid control: %w", err)
	}
	var err error
	if in.scripts, err = spec.Scripts.list(); err != nil {
		return in, err
	}
	if in.files, err = spec.ControlFiles.list(); err != nil {
		return in, err
	}
	in.mtime = spec.ModTime
	if in.mtime.IsZero() || in.mtime.Before(time.Unix(0, 0)) {
		in.mtime = time.Unix(0, 0)
	}
	in.mtime = in.mtime.UTC().Truncate(time.Second)
	return in, nil
}

// rewind returns how many bytes were written to f and seeks back to its
// start.
func rewind(f *os.File) (int64, error) {
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return size, nil
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
