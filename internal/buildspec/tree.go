package buildspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/debfleet/debfleet/deb"
)

// Tree returns the deb.Spec of a package tree laid out as dpkg-deb --build
// takes it: DEBIAN/control (and conffiles, maintainer scripts, ...) beside
// the files as they will be installed (usr/, etc/, ...). The result installs
// as the package dpkg-deb --build --root-owner-group makes of the same tree:
//
//   - DEBIAN/control is validated as Build validates any control; its
//     Installed-Size is replaced by the one computed from the tree.
//   - DEBIAN/md5sums is ignored: Build computes the md5sums from the files.
//   - Conffiles are the files DEBIAN/conffiles lists plus, as with any spec,
//     the regular files under /etc.
//   - DEBIAN/preinst, postinst, prerm, postrm and config are scripts
//     (installed 0755); DEBIAN/templates, triggers, shlibs and symbols are
//     data (installed 0644).
//   - Modes are the tree's, the root directory's included, setuid and setgid
//     bits too; owners are root:root and mtimes ModTime's clamp whatever the
//     disk says.
//   - Symlinks are kept exactly as they are (Spec.KeepSymlinkTargets), as
//     dpkg-deb keeps them.
//   - Hard links (regular files sharing a device and inode) stay hard
//     links: the name first in byte order is the file, the others link to
//     it, and the content counts once in Installed-Size. A conffile cannot
//     be one of them (see deb.Entry). On systems without inode numbers
//     (Windows) they are copies.
//
// Devices, fifos and sockets are refused. Errors name the file in the tree
// and say what to change.
func Tree(ctx context.Context, dir string, env Env) (*deb.Spec, error) {
	spec := &deb.Spec{KeepSymlinkTargets: true}
	var err error
	if spec.Control, err = treeControl(dir); err != nil {
		return nil, err
	}
	conffiles, err := treeDEBIAN(dir, &spec.Scripts, &spec.ControlFiles)
	if err != nil {
		return nil, err
	}
	if spec.Entries, err = treeEntries(dir, conffiles); err != nil {
		return nil, err
	}
	if spec.ModTime, err = ModTime(ctx, dir, env.getenv); err != nil {
		return nil, err
	}
	return spec, nil
}

// requiredFields are the fields dpkg-deb insists on in DEBIAN/control.
var requiredFields = []string{"Package", "Version", "Architecture", "Maintainer", "Description"}

// treeControl reads and validates DIR/DEBIAN/control.
func treeControl(dir string) (deb.Control, error) {
	name := filepath.Join(dir, "DEBIAN", "control")
	data, err := readSmall(name)
	if errors.Is(err, fs.ErrNotExist) {
		return deb.Control{}, fmt.Errorf("%s: missing: a tree to build needs its control file there, as dpkg-deb --build does", name)
	}
	if err != nil {
		return deb.Control{}, fmt.Errorf("read control: %w", err)
	}
	c, err := deb.ParseControl(data)
	if err != nil {
		return deb.Control{}, fmt.Errorf("%s: %w", name, err)
	}
	values := map[string]string{"Package": c.Package, "Version": c.Version, "Architecture": c.Architecture, "Maintainer": c.Maintainer, "Description": c.Synopsis}
	var errs []error
	for _, f := range requiredFields {
		if values[f] == "" {
			errs = append(errs, fmt.Errorf("%s: missing %s field (add a line \"%s: ...\")", name, f, f))
		}
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, prefixEach(name, err))
		}
	}
	return c, errors.Join(errs...)
}

// prefixEach puts "name: " before each of the errors err joins.
func prefixEach(name string, err error) error {
	var errs []error
	for _, line := range strings.Split(err.Error(), "\n") {
		errs = append(errs, fmt.Errorf("%s: %s", name, line))
	}
	return errors.Join(errs...)
}

// treeDEBIAN reads the scripts into scripts and the data files into files,
// and returns the conffiles DIR/DEBIAN/conffiles lists.
func treeDEBIAN(dir string, scripts *deb.Scripts, files *deb.ControlFiles) (map[string]bool, error) {
	ctlDir := filepath.Join(dir, "DEBIAN")
	list, err := os.ReadDir(ctlDir)
	if err != nil {
		return nil, fmt.Errorf("read control files: %w", err)
	}
	script := map[string]*[]byte{"preinst": &scripts.Preinst, "postinst": &scripts.Postinst, "prerm": &scripts.Prerm, "postrm": &scripts.Postrm, "config": &scripts.Config}
	data := map[string]*[]byte{"templates": &files.Templates, "triggers": &files.Triggers, "shlibs": &files.Shlibs, "symbols": &files.Symbols}
	conffiles := map[string]bool{}
	for _, e := range list {
		name := filepath.Join(ctlDir, e.Name())
		switch {
		case e.Name() == "control", e.Name() == "md5sums":
		case e.Name() == "conffiles":
			if conffiles, err = readConffiles(name); err != nil {
				return nil, err
			}
		case script[e.Name()] != nil:
			if *script[e.Name()], err = readScript(name); err != nil {
				return nil, err
			}
		case data[e.Name()] != nil:
			if *data[e.Name()], err = readSmall(name); err != nil {
				return nil, fmt.Errorf("read control file: %w", err)
			}
		default:
			return nil, fmt.Errorf("%s: not a control file pkgdeb knows (control, conffiles, md5sums, preinst, postinst, prerm, postrm, config, templates, triggers, shlibs, symbols): move it out of DEBIAN/", name)
		}
	}
	return conffiles, nil
}

// readScript reads a maintainer script, which must start with "#!".
func readScript(name string) ([]byte, error) {
	b, err := readSmall(name)
	if err != nil {
		return nil, fmt.Errorf("read maintainer script: %w", err)
	}
	if !bytes.HasPrefix(b, []byte("#!")) {
		return nil, fmt.Errorf("%s: a maintainer script must start with #! (e.g. #!/bin/sh)", name)
	}
	return b, nil
}

// readConffiles parses DEBIAN/conffiles: one absolute path a line. The
// flags of dpkg >= 1.20.1 (remove-on-upgrade) are refused: Build writes
// plain conffiles only.
func readConffiles(name string) (map[string]bool, error) {
	b, err := readSmall(name)
	if err != nil {
		return nil, fmt.Errorf("read conffiles: %w", err)
	}
	out := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case !strings.HasPrefix(line, "/"):
			return nil, fmt.Errorf("%s:%d: %q: want one absolute path a line (flags such as remove-on-upgrade are not supported)", name, i+1, line)
		case out[path.Clean(line)]:
			return nil, fmt.Errorf("%s:%d: %s is listed twice", name, i+1, line)
		}
		out[path.Clean(line)] = true
	}
	return out, nil
}

// treeEntries walks dir, DEBIAN/ left out, into entries with the tree's
// modes, symlinks and hard links. conffiles are marked, and each must be a
// regular file of the tree.
func treeEntries(dir string, conffiles map[string]bool) ([]deb.Entry, error) {
	var out []deb.Entry
	names := map[fileID][]int{} // regular files with several names: indexes in out
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "DEBIAN" {
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e, err := treeEntry(p, path.Join("/", filepath.ToSlash(rel)), info)
		if err != nil {
			return err
		}
		if conffiles[e.Dest] {
			if e.Type != deb.Regular {
				return fmt.Errorf("%s: listed in DEBIAN/conffiles but a %v: only regular files can be conffiles", p, e.Type)
			}
			e.Conffile = true
			delete(conffiles, e.Dest)
		}
		if id, ok := inode(info); ok && e.Type == deb.Regular {
			names[id] = append(names[id], len(out))
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tree: %w", err)
	}
	if len(conffiles) > 0 {
		missing := make([]string, 0, len(conffiles))
		for c := range conffiles {
			missing = append(missing, c)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: lists %s, which is not a file of the tree (no %s)", filepath.Join(dir, "DEBIAN", "conffiles"), strings.Join(missing, ", "), filepath.Join(dir, filepath.FromSlash(missing[0])))
	}
	for _, idx := range names {
		if err := linkNames(out, idx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fileID is a file's device and inode numbers: what its names share.
type fileID struct{ dev, ino uint64 }

// linkNames turns the entries at idx, names of one file, into the file
// (the name first in byte order, which deb.Build writes first) and hard
// links to it. A conffile among them is refused.
func linkNames(entries []deb.Entry, idx []int) error {
	if len(idx) < 2 {
		return nil
	}
	sort.Slice(idx, func(i, j int) bool { return entries[idx[i]].Dest < entries[idx[j]].Dest })
	file := entries[idx[0]]
	for _, i := range idx {
		if e := entries[i]; e.Conffile || strings.HasPrefix(e.Dest, "/etc/") {
			other := entries[idx[1]].Source
			if i != idx[0] {
				other = file.Source
			}
			return fmt.Errorf("%s: a conffile that is a hard link to %s: dpkg installs and upgrades a conffile on its own, "+
				"so the link would break on upgrade; make the names separate copies (cp, not ln)", e.Source, other)
		}
	}
	for _, i := range idx[1:] {
		entries[i] = deb.Entry{Type: deb.Hardlink, Dest: entries[i].Dest, Target: file.Dest}
	}
	return nil
}

// treeEntry is the entry for the file p of the tree, installed as dest.
func treeEntry(p, dest string, info fs.FileInfo) (deb.Entry, error) {
	mode := info.Mode()
	keep := mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	switch {
	case mode.IsDir():
		return deb.Entry{Type: deb.Dir, Dest: dest, Mode: keep}, nil
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		return deb.Entry{Type: deb.Symlink, Dest: dest, Target: target}, err
	case mode.IsRegular():
		return deb.Entry{Type: deb.Regular, Dest: dest, Source: p, Mode: keep}, nil
	}
	return deb.Entry{}, fmt.Errorf("%s: a %s: pkgdeb packs only regular files, directories and symlinks (create it from a maintainer script instead)", p, special(mode))
}

// special names the kind of a file that is not a regular file, directory or
// symlink.
func special(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "fifo"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
