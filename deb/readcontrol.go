package deb

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// readControl reads the control tarball into p (control fields, conffiles,
// maintainer scripts) and returns md5sums as a map. What it keeps counts
// against k.
func (p *Package) readControl(r *io.SectionReader, c Compression, k *keeper) (map[string]string, error) {
	files, err := p.readControlTar(r, c, k)
	if err != nil {
		return nil, err
	}
	ctl, ok := files["control"]
	if !ok {
		return nil, errors.New("no control file")
	}
	// The fields, and the relations split out of them, are substrings of
	// ctl: what they cost is a slot per line and per comma.
	if err := k.keep(lineCost * int64(strings.Count(ctl, "\n")+strings.Count(ctl, ",")+1)); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if p.Fields, err = parseParagraph(ctl); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if p.Control, err = controlFromFields(p.Fields); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	for l := range strings.Lines(files["conffiles"]) {
		if l = strings.TrimSpace(l); l != "" {
			if err := k.keep(lineCost); err != nil {
				return nil, fmt.Errorf("conffiles: %w", err)
			}
			p.Conffiles = append(p.Conffiles, l)
		}
	}
	return parseMD5Sums(files["md5sums"], k)
}

// readControlTar reads the control tarball within the limits on its
// entries and sizes. It returns the control, md5sums and conffiles files by
// name, and puts the maintainer scripts in p.Scripts; it skips the rest.
func (p *Package) readControlTar(r *io.SectionReader, c Compression, k *keeper) (map[string]string, error) {
	zr, done, err := decompressor(r, c)
	if err != nil {
		return nil, err
	}
	defer done()
	lr := &io.LimitedReader{R: zr, N: maxControlTotal + 1}
	tooBig := func(err error) error {
		if lr.N <= 0 {
			return fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
		}
		return err
	}
	tr := tar.NewReader(lr)
	files := map[string]string{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, tooBig(err)
		}
		if n == maxControlEntries {
			return nil, fmt.Errorf("more than %d entries in the control tarball", maxControlEntries)
		}
		if n := max(len(h.Name), len(h.Linkname)); n >= maxPath {
			return nil, fmt.Errorf("entry name or link target of %d bytes (and its NUL) is longer than PATH_MAX (%d bytes)", n, maxPath)
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		_, script := maintainerScripts[name]
		if h.Typeflag != tar.TypeReg || !script && name != "control" && name != "md5sums" && name != "conffiles" {
			continue // Next skips the content
		}
		if h.Size > maxControlTotal {
			return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", name, h.Size, maxControlTotal)
		}
		if err := k.keep(h.Size); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if script {
			b := make([]byte, h.Size)
			_, err = io.ReadFull(tr, b)
			p.Scripts[name] = b
		} else {
			var b strings.Builder // its String is the bytes read, no copy
			b.Grow(int(h.Size))
			_, err = io.CopyN(&b, tr, h.Size)
			files[name] = b.String()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, tooBig(noEOF(err)))
		}
	}
	return files, nil
}

// maintainerScripts are the control files Read returns in Scripts.
var maintainerScripts = map[string]struct{}{"preinst": {}, "postinst": {}, "prerm": {}, "postrm": {}, "config": {}}

// parseMD5Sums maps each path md5sums lists (without a leading "./") to its
// md5 in lowercase hex.
func parseMD5Sums(s string, k *keeper) (map[string]string, error) {
	sums := map[string]string{}
	i := 0
	for l := range strings.Lines(s) {
		i++
		l = strings.TrimSuffix(l, "\n")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if err := k.keep(lineCost); err != nil {
			return nil, fmt.Errorf("md5sums: %w", err)
		}
		sum, name, ok := strings.Cut(l, " ")
		if !ok || len(sum) != 32 {
			return nil, fmt.Errorf("md5sums line %d is malformed", i)
		}
		name = strings.TrimLeft(name, " *")
		sums[strings.TrimPrefix(name, "./")] = strings.ToLower(sum)
	}
	return sums, nil
}
