package deb

import (
	"strings"
	"testing"
)

func TestPolicyTarget(t *testing.T) {
	tests := []struct {
		name, dest, target, want string
		err                      string // a part of the error, when one is wanted
	}{
		{"absolute within /usr", "/usr/sbin/svc", "/usr/bin/svc", "../bin/svc", ""},
		{"absolute, same directory", "/usr/bin/hi", "/usr/bin/hello", "hello", ""},
		{"relative already minimal", "/usr/sbin/svc", "../bin/svc", "../bin/svc", ""},
		{"relative, plain name", "/usr/share/x/link", "data.txt", "data.txt", ""},
		{"relative, up and back down", "/usr/sbin/svc", "../../usr/bin/svc", "../bin/svc", ""},
		{"dot segments", "/usr/lib/x/link", "./../x/./y", "y", ""},
		{"absolute with dot segments", "/usr/lib/a", "/usr/./share/../lib/b/", "b", ""},
		{"across top-level, absolute", "/usr/lib/x/conf", "/etc/x/conf", "/etc/x/conf", ""},
		{"across top-level, relative given", "/usr/lib/x/conf", "../../../etc/x/conf", "/etc/x/conf", ""},
		{"too many ups clamp at /", "/usr/bin/x", "../../../../etc/x", "/etc/x", ""},
		{"link at top level", "/lib", "usr/lib", "/usr/lib", ""},
		{"to the root", "/usr/bin/root", "/", "/", ""},
		{"to its own directory", "/usr/lib/x/self", "/usr/lib/x", ".", ""},
		{"to the parent directory", "/usr/lib/x/up", "/usr/lib", "..", ""},
		{"deep in one tree", "/usr/share/doc/a/changelog.gz", "/usr/share/doc/b/changelog.gz", "../b/changelog.gz", ""},
		{"to the top-level directory", "/usr/share/x/top", "/usr", "../..", ""},
		{"into the link's own path", "/usr/a", "/usr/a/b", "a/b", ""},
		{"itself, absolute", "/usr/bin/x", "/usr/bin/x", "", "/usr/bin/x: symlink to itself"},
		{"itself, relative", "/usr/bin/x", "../bin/./x", "", "/usr/bin/x: symlink to itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policyTarget(tt.dest, tt.target)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("policyTarget(%q, %q) = %q, %v; want an error containing %q", tt.dest, tt.target, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("policyTarget(%q, %q) = %q, %v; want %q", tt.dest, tt.target, got, err, tt.want)
			}
		})
	}
}

// With KeepSymlinkTargets, targets are written as given, as dpkg-deb
// writes those of a tree.
func TestPlanKeepSymlinkTargets(t *testing.T) {
	for _, keep := range []bool{false, true} {
		spec := &Spec{KeepSymlinkTargets: keep, Entries: []Entry{{Type: Symlink, Dest: "/usr/sbin/svc", Target: "/usr/bin/svc"}}}
		items, err := plan(spec)
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "../bin/svc", true: "/usr/bin/svc"}[keep]
		for _, it := range items {
			if it.dest == "/usr/sbin/svc" && it.target != want {
				t.Errorf("KeepSymlinkTargets %v: target %q, want %q", keep, it.target, want)
			}
		}
	}
}
