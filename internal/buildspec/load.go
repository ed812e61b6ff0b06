package buildspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/debfleet/debfleet/deb"
	"gopkg.in/yaml.v3"
)

// Load reads the pkgdeb.yaml at path. Relative paths in it are taken from
// the file's directory, which also becomes Spec.Dir.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	return Parse(data, path, filepath.Dir(path))
}

// Parse parses a pkgdeb.yaml document. name is used in error messages
// ("name:LINE: key: problem"); relative paths are joined to baseDir.
func Parse(data []byte, name, baseDir string) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &parser{name: name, base: baseDir}
	s := &Spec{Dir: baseDir}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty spec", name)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root, "", "the spec must be a mapping of keys (name:, version:, files:, ...)")
	}
	table := keys()
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			p.errs = append(p.errs, p.errorf(k, k.Value, "given twice (first on line %d)", line))
			continue
		}
		seen[k.Value] = k.Line
		p.key(table, s, k, v)
	}
	if line, ok := seen["version-from-git"]; ok && s.VersionFromGit && s.Version != "" {
		p.errs = append(p.errs, fmt.Errorf("%s:%d: version-from-git: true conflicts with version: on line %d (keep one)", name, line, seen["version"]))
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return s, nil
}

type parser struct {
	name string // file name for messages
	base string // directory relative paths start from
	errs []error
}

func (p *parser) errorf(n *yaml.Node, key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", p.name, n.Line, msg)
}

func (p *parser) fail(n *yaml.Node, key, format string, args ...any) {
	p.errs = append(p.errs, p.errorf(n, key, format, args...))
}

func (p *parser) path(s string) string {
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.base, s)
}

// key stores the value v of the top-level key k in s, as the key table
// says.
func (p *parser) key(table []key, s *Spec, k, v *yaml.Node) {
	if i := slices.IndexFunc(table, func(t key) bool { return t.name == k.Value }); i >= 0 {
		table[i].kind.yaml(p, s, k.Value, v)
		return
	}
	known := make([]string, len(table))
	for i, t := range table {
		known[i] = t.name
	}
	sort.Strings(known)
	p.fail(k, "", "unknown key %q (known keys: %s)", k.Value, strings.Join(known, ", "))
}

func (p *parser) scalar(v *yaml.Node, key string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.fail(v, key, "want a single value, not a %s", nodeKind(v))
		return "", false
	}
	return v.Value, true
}

// bool parses the scalar v as true or false; a bad value is reported, and
// is false.
func (p *parser) bool(v *yaml.Node, key string) (b, ok bool) {
	b, err := strconv.ParseBool(v.Value)
	if err != nil {
		p.fail(v, key, "%q is not true or false", v.Value)
		return false, false
	}
	return b, true
}

// strings accepts a list of scalars, or a single scalar as a one-item list.
func (p *parser) strings(v *yaml.Node, key string) []string {
	if v.Kind == yaml.ScalarNode {
		if v.Value == "" {
			return nil
		}
		return []string{v.Value}
	}
	if v.Kind != yaml.SequenceNode {
		p.fail(v, key, "want a list, not a %s", nodeKind(v))
		return nil
	}
	var out []string
	for i, it := range v.Content {
		if x, ok := p.scalar(it, fmt.Sprintf("%s[%d]", key, i)); ok {
			out = append(out, x)
		}
	}
	return out
}

func (p *parser) fields(v *yaml.Node, key string) []deb.Field {
	if v.Kind != yaml.MappingNode {
		p.fail(v, key, "want a mapping of field names to values (X-Team: payments), not a %s", nodeKind(v))
		return nil
	}
	var out []deb.Field
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if x, ok := p.scalar(val, key+"."+k.Value); ok {
			out = append(out, deb.Field{Name: k.Value, Value: x})
		}
	}
	return out
}

// mapping checks that v is a mapping with only the allowed keys and returns
// its scalar values by key.
func (p *parser) mapping(v *yaml.Node, key string, allowed ...string) (map[string]*yaml.Node, bool) {
	if v.Kind != yaml.MappingNode {
		p.fail(v, key, "want a mapping with keys %s, or a string, not a %s", strings.Join(allowed, ", "), nodeKind(v))
		return nil, false
	}
	out := map[string]*yaml.Node{}
	ok := true
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		known := false
		for _, a := range allowed {
			known = known || a == k.Value
		}
		if !known {
			p.fail(k, key, "unknown key %q (want %s)", k.Value, strings.Join(allowed, ", "))
			ok = false
			continue
		}
		if val.Kind != yaml.ScalarNode {
			p.fail(val, key+"."+k.Value, "want a single value, not a %s", nodeKind(val))
			ok = false
			continue
		}
		out[k.Value] = val
	}
	return out, ok
}

func (p *parser) files(v *yaml.Node, key string, conffile bool) []File {
	if v.Kind != yaml.SequenceNode {
		p.fail(v, key, "want a list, not a %s", nodeKind(v))
		return nil
	}
	var out []File
	for i, it := range v.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		var f File
		if it.Kind == yaml.ScalarNode {
			var err error
			if f, err = ParseFileArg(it.Value); err != nil {
				p.fail(it, ik, "%v", err)
				continue
			}
		} else {
			m, ok := p.mapping(it, ik, "src", "dest", "mode", "conffile")
			if !ok {
				continue
			}
			if m["src"] == nil || m["dest"] == nil {
				p.fail(it, ik, "needs both src and dest")
				continue
			}
			f.Src, f.Dest = m["src"].Value, m["dest"].Value
			if n := m["mode"]; n != nil {
				mode, err := ParseMode(n.Value)
				if err != nil {
					p.fail(n, ik+".mode", "%v", err)
					continue
				}
				f.Mode = mode
			}
			if n := m["conffile"]; n != nil {
				b, ok := p.bool(n, ik+".conffile")
				if !ok {
					continue
				}
				f.Conffile, f.NoConffile = b, !b
			}
		}
		if err := checkDest(f.Dest); err != nil {
			p.fail(it, ik+".dest", "%v", err)
			continue
		}
		if conffile {
			f.Conffile, f.NoConffile = true, false
		}
		f.Src = p.path(f.Src)
		out = append(out, f)
	}
	return out
}

func (p *parser) dirs(v *yaml.Node, key string) []Dir {
	if v.Kind != yaml.SequenceNode {
		p.fail(v, key, "want a list, not a %s", nodeKind(v))
		return nil
	}
	var out []Dir
	for i, it := range v.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		var d Dir
		if it.Kind == yaml.ScalarNode {
			d.Dest = it.Value
		} else {
			m, ok := p.mapping(it, ik, "dest", "mode")
			if !ok {
				continue
			}
			if m["dest"] == nil {
				p.fail(it, ik, "needs dest")
				continue
			}
			d.Dest = m["dest"].Value
			if n := m["mode"]; n != nil {
				mode, err := ParseMode(n.Value)
				if err != nil {
					p.fail(n, ik+".mode", "%v", err)
					continue
				}
				d.Mode = mode
			}
		}
		if err := checkDest(d.Dest); err != nil {
			p.fail(it, ik, "%v", err)
			continue
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) symlinks(v *yaml.Node, key string) []Symlink {
	if v.Kind != yaml.SequenceNode {
		p.fail(v, key, "want a list, not a %s", nodeKind(v))
		return nil
	}
	var out []Symlink
	for i, it := range v.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		var l Symlink
		if it.Kind == yaml.ScalarNode {
			var err error
			if l, err = ParseSymlinkArg(it.Value); err != nil {
				p.fail(it, ik, "%v", err)
				continue
			}
		} else {
			m, ok := p.mapping(it, ik, "dest", "target")
			if !ok {
				continue
			}
			if m["dest"] == nil || m["target"] == nil {
				p.fail(it, ik, "needs both dest and target")
				continue
			}
			l = Symlink{Dest: m["dest"].Value, Target: m["target"].Value}
			if err := checkSymlink(l); err != nil {
				p.fail(it, ik, "%v", err)
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "value"
}

// ParseMode parses an octal permission mode such as "0755" or "644".
func ParseMode(s string) (fs.FileMode, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("mode %q: want an octal permission mode such as 0755", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// ParseFileArg parses the --file and --conffile argument SRC:DEST[:MODE].
func ParseFileArg(s string) (File, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return File{}, fmt.Errorf("%q: want SRC:DEST or SRC:DEST:MODE", s)
	}
	f := File{Src: parts[0], Dest: parts[1]}
	if len(parts) == 3 {
		m, err := ParseMode(parts[2])
		if err != nil {
			return File{}, fmt.Errorf("%q: %w", s, err)
		}
		f.Mode = m
	}
	if err := checkDest(f.Dest); err != nil {
		return File{}, fmt.Errorf("%q: %w", s, err)
	}
	return f, nil
}

// ParseSymlinkArg parses the --symlink argument DEST:TARGET.
func ParseSymlinkArg(s string) (Symlink, error) {
	dest, target, ok := strings.Cut(s, ":")
	if !ok || dest == "" || target == "" {
		return Symlink{}, fmt.Errorf("%q: want DEST:TARGET", s)
	}
	l := Symlink{Dest: dest, Target: target}
	if err := checkSymlink(l); err != nil {
		return Symlink{}, fmt.Errorf("%q: %w", s, err)
	}
	return l, nil
}

func checkSymlink(l Symlink) error {
	if err := checkDest(l.Dest); err != nil {
		return err
	}
	if l.Target == "" {
		return errors.New("symlink target is empty")
	}
	return nil
}

// checkDest rejects early what deb.Build would reject later, so the error
// can carry the YAML line.
func checkDest(dest string) error {
	switch {
	case dest == "":
		return errors.New("destination is empty")
	case !strings.HasPrefix(dest, "/"):
		return fmt.Errorf("destination %q must be an absolute path (e.g. /usr/bin/hello)", dest)
	}
	for _, el := range strings.Split(dest, "/") {
		if el == ".." {
			return fmt.Errorf("destination %q must not contain \"..\"", dest)
		}
	}
	return nil
}
