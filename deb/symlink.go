package deb

import (
	"fmt"
	"path"
	"strings"
)

// policyTarget rewrites the target of the symlink at dest the way Debian
// Policy 10.5 asks and dh_link does: relative (and as short as it can be)
// when the link and what it points to share their top-level directory,
// absolute otherwise. A relative target is first resolved against the
// link's directory. Both are resolved lexically, "." and ".." included, as
// dh_link does: the symlinks of the installed system are not known here.
// Lintian reports the other forms (absolute-symlink-in-top-level-folder,
// relative-symlink, lengthy-symlink, symlink-has-too-many-up-segments).
func policyTarget(dest, target string) (string, error) {
	abs := target
	if !strings.HasPrefix(target, "/") {
		abs = path.Join(path.Dir(dest), target)
	}
	abs = path.Clean(abs)
	if abs == dest {
		return "", fmt.Errorf("%s: symlink to itself (target %q)", dest, target)
	}
	to, dir := components(abs), components(path.Dir(dest))
	if len(to) == 0 || len(dir) == 0 || to[0] != dir[0] {
		return abs, nil
	}
	common := 0
	for common < len(to) && common < len(dir) && to[common] == dir[common] {
		common++
	}
	var rel []string
	for range len(dir) - common {
		rel = append(rel, "..")
	}
	rel = append(rel, to[common:]...)
	if len(rel) == 0 {
		return ".", nil
	}
	return strings.Join(rel, "/"), nil
}

// components splits a clean absolute path into its elements: none for "/".
func components(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}
