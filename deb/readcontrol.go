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
// maintainer scripts) and returns md5sums as a map.
func (p *Package) readControl(r io.Reader, c Compression) (map[string]string, error) {
	files, err := p.readControlTar(r, c)
	if err != nil {
		return nil, err
	}
	ctl, ok := files["control"]
	if !ok {
		return nil, errors.New("no control file")
	}
	if p.Fields, err = parseParagraph(ctl); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if p.Control, err = controlFromFields(p.Fields); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	for _, l := range strings.Split(string(files["conffiles"]), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			p.Conffiles = append(p.Conffiles, l)
		}
	}
	return parseMD5Sums(files["md5sums"])
}

// readControlTar reads the control tarball within the limits on its
// entries and sizes. It returns the control, md5sums and conffiles files by
// name, and puts the maintainer scripts in p.Scripts; it ignores the rest.
func (p *Package) readControlTar(r io.Reader, c Compression) (map[string][]byte, error) {
	zr, done, err := openCompressed(r, c)
	if err != nil {
		return nil, err
	}
	defer done()
	lr := &io.LimitedReader{R: zr, N: maxControlTotal + 1}
	tr := tar.NewReader(lr)
	files := map[string][]byte{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return nil, fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
			}
			return nil, err
		}
		if n == maxControlEntries {
			return nil, fmt.Errorf("more than %d entries in the control tarball", maxControlEntries)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if h.Size > maxControlFile {
			return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", name, h.Size, maxControlFile)
		}
		body, err := io.ReadAll(io.LimitReader(tr, maxControlFile+1))
		if err != nil {
			if lr.N <= 0 {
				return nil, fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("decompressed control tarball exceeds %d bytes", maxControlTotal)
		}
		switch name {
		case "control", "md5sums", "conffiles":
			files[name] = body
		case "preinst", "postinst", "prerm", "postrm", "config":
			p.Scripts[name] = body
		}
	}
	return files, nil
}

// parseMD5Sums maps each path md5sums lists (without a leading "./") to its
// md5 in lowercase hex.
func parseMD5Sums(b []byte) (map[string]string, error) {
	sums := map[string]string{}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		sum, name, ok := strings.Cut(l, " ")
		if !ok || len(sum) != 32 {
			return nil, fmt.Errorf("md5sums line %d is malformed", i+1)
		}
		name = strings.TrimLeft(name, " *")
		sums[strings.TrimPrefix(name, "./")] = strings.ToLower(sum)
	}
	return sums, nil
}
