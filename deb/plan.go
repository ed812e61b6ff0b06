package deb

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// item is one planned entry of the data tarball.
type item struct {
	name     string // "./usr/bin/x", "./usr/" for directories
	dest     string // "/usr/bin/x"
	typ      EntryType
	mode     fs.FileMode
	source   string
	body     []byte
	target   string
	conffile bool
	linked   bool // a hard link names it
}

// plan validates the entries, adds generated files and every parent
// directory, and sorts the result as dpkg-deb does (byte order of paths,
// which puts each directory before its content).
func plan(spec *Spec) ([]item, error) {
	entries, err := withGenerated(spec)
	if err != nil {
		return nil, err
	}
	byDest := map[string]*item{}
	var items []*item
	for i, e := range entries {
		dest, err := cleanDest(e.Dest)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		it, err := newItem(dest, e, spec.KeepSymlinkTargets)
		if err != nil {
			return nil, err
		}
		if prev, ok := byDest[dest]; ok {
			if prev.typ == Dir && e.Type == Dir && prev.mode == it.mode {
				continue
			}
			return nil, fmt.Errorf("%s: given twice", dest)
		}
		byDest[dest] = it
		items = append(items, it)
	}
	items, err = addParents(items, byDest)
	if err != nil {
		return nil, err
	}
	if err := checkHardlinks(items, byDest); err != nil {
		return nil, err
	}
	return archiveOrder(items), nil
}

// withGenerated returns spec's entries followed by the files generated from
// the spec: the copyright file and the compressed changelog.
func withGenerated(spec *Spec) ([]Entry, error) {
	entries := append([]Entry(nil), spec.Entries...)
	doc := "/usr/share/doc/" + spec.Control.Package + "/"
	if spec.Copyright != nil {
		entries = append(entries, Entry{Dest: doc + "copyright", Body: spec.Copyright})
	}
	if spec.Changelog != nil {
		gz, err := gzipBest(spec.Changelog)
		if err != nil {
			return nil, fmt.Errorf("compress changelog: %w", err)
		}
		entries = append(entries, Entry{Dest: doc + "changelog.Debian.gz", Body: gz})
	}
	return entries, nil
}

// newItem checks the entry e, whose destination cleanDest made dest, on its
// own, and plans it: default modes, conffiles under /etc, symlink targets
// made as Debian Policy wants them unless keepTargets.
func newItem(dest string, e Entry, keepTargets bool) (*item, error) {
	it := &item{dest: dest, typ: e.Type, mode: normMode(e.Mode)}
	var err error
	switch e.Type {
	case Regular:
		if it.mode == 0 {
			it.mode = 0o644
		}
		if e.Source != "" && e.Body != nil {
			return nil, fmt.Errorf("%s: set Source or Body, not both", dest)
		}
		it.source, it.body = e.Source, e.Body
		it.conffile = e.Conffile || strings.HasPrefix(dest, "/etc/") && !e.NoConffile
	case Dir:
		if it.mode == 0 {
			it.mode = 0o755
		}
	case Hardlink:
		if e.Conffile {
			return nil, fmt.Errorf("%s: a hard link cannot be a conffile: %s", dest, conffileLinkAdvice)
		}
		if it.target, err = cleanDest(e.Target); err != nil {
			return nil, fmt.Errorf("%s: hard link target: %w", dest, err)
		}
		it.conffile = strings.HasPrefix(dest, "/etc/") && !e.NoConffile
	case Symlink:
		if e.Target == "" {
			return nil, fmt.Errorf("%s: symlink without a target", dest)
		}
		if strings.ContainsRune(e.Target, 0) {
			return nil, fmt.Errorf("%s: symlink target contains a NUL byte", dest)
		}
		it.mode, it.target = 0o777, e.Target
		if !keepTargets {
			if it.target, err = policyTarget(dest, e.Target); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%s: unsupported entry type %v", dest, e.Type)
	}
	if e.Type != Regular && (e.Conffile || e.Source != "" || e.Body != nil) {
		return nil, fmt.Errorf("%s: only regular files have a Source, a Body or are conffiles", dest)
	}
	if dest == "/" && e.Type != Dir {
		return nil, fmt.Errorf("/: the root can only be a directory")
	}
	return it, nil
}

// addParents checks that every ancestor of the items is a directory, and
// adds the missing ones (mode 0755) to items and byDest.
func addParents(items []*item, byDest map[string]*item) ([]*item, error) {
	for _, it := range items[:len(items):len(items)] {
		for d := path.Dir(it.dest); ; d = path.Dir(d) {
			if p, ok := byDest[d]; ok {
				if p.typ != Dir {
					return nil, fmt.Errorf("%s: its parent %s is a %v, not a directory", it.dest, d, p.typ)
				}
			} else {
				np := &item{dest: d, typ: Dir, mode: 0o755}
				byDest[d] = np
				items = append(items, np)
			}
			if d == "/" {
				break
			}
		}
	}
	return items, nil
}

// archiveOrder names the items as the data tarball holds them ("./",
// "./usr/", "./usr/bin/x") and sorts them by path.
func archiveOrder(items []*item) []item {
	out := make([]item, 0, len(items))
	for _, it := range items {
		switch {
		case it.dest == "/":
			it.name = "./"
		case it.typ == Dir:
			it.name = "." + it.dest + "/"
		default:
			it.name = "." + it.dest
		}
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dest < out[j].dest })
	return out
}

// conffileLinkAdvice says why a conffile cannot share its inode and what to
// do instead.
const conffileLinkAdvice = "dpkg installs and upgrades a conffile on its own (keeping the installed one when it is unchanged or edited), " +
	"so the other name would lose the link on upgrade or change with the administrator's edits; make the names separate copies"

// checkHardlinks checks that each hard link names a regular file that comes
// before it in the archive, and that no conffile shares an inode. It sets
// each link's mode to its target's.
func checkHardlinks(items []*item, byDest map[string]*item) error {
	for _, it := range items {
		if it.typ != Hardlink {
			continue
		}
		t, ok := byDest[it.target]
		switch {
		case !ok:
			return fmt.Errorf("%s: hard link to %s, which is not an entry of the package: add it as a regular file", it.dest, it.target)
		case t.typ != Regular:
			return fmt.Errorf("%s: hard link to %s, a %v: a hard link must name a regular file", it.dest, it.target, t.typ)
		case t.dest >= it.dest:
			return fmt.Errorf("%s: hard link to %s, which sorts after it: dpkg links to what it has already unpacked, so make %s the file and %s the link", it.dest, it.target, it.dest, it.target)
		case it.conffile:
			return fmt.Errorf("%s: a hard link under /etc is a conffile (set NoConffile to keep it from being one): %s", it.dest, conffileLinkAdvice)
		case t.conffile:
			return fmt.Errorf("%s: hard link to the conffile %s: %s", it.dest, it.target, conffileLinkAdvice)
		case it.mode != 0 && it.mode != t.mode:
			return fmt.Errorf("%s: mode %v differs from its target's %v: a hard link shares its target's mode (leave Mode zero)", it.dest, it.mode, t.mode)
		}
		it.mode = t.mode
		t.linked = true
	}
	return nil
}

// normMode keeps the permission bits and setuid, setgid and sticky, given
// either as fs.ModeSetuid etc. or as Unix bits (0o4755), as a mode parsed
// from octal text would be.
func normMode(m fs.FileMode) fs.FileMode {
	out := m.Perm() | m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// cleanDest checks that dest is absolute and canonical.
func cleanDest(dest string) (string, error) {
	if dest == "" {
		return "", errors.New("empty destination path")
	}
	if !strings.HasPrefix(dest, "/") {
		return "", fmt.Errorf("destination %q is relative: it must be absolute, e.g. /usr/bin/x", dest)
	}
	for _, part := range strings.Split(dest, "/") {
		if part == ".." {
			return "", fmt.Errorf("destination %q contains \"..\"", dest)
		}
	}
	if strings.ContainsAny(dest, "\x00\n\r") {
		return "", fmt.Errorf("destination %q contains a NUL or newline", dest)
	}
	clean := path.Clean(dest)
	if clean != strings.TrimSuffix(dest, "/") && dest != "/" {
		return "", fmt.Errorf("destination %q is not canonical (want %q)", dest, clean)
	}
	return clean, nil
}

func gzipBest(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	z, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// gzip -9n: no name, mtime 0, OS Unix.
	z.OS = 3
	if _, err := z.Write(b); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
