package buildspec

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
)

const treeControlFile = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: Jane Doe <jane@example.com>\n" +
	"Installed-Size: 99999\nX-Team: web\nDescription: greets people\n Long text.\n .\n More.\n"

// writeTree lays out a small dpkg-deb tree in a new directory and returns it.
func writeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"DEBIAN/control":           treeControlFile,
		"DEBIAN/conffiles":         "/etc/hello/hello.conf\n/usr/share/hello/defaults\n",
		"DEBIAN/md5sums":           "stale  usr/bin/hello\n",
		"DEBIAN/postinst":          "#!/bin/sh\nset -e\n",
		"usr/bin/hello":            "#!/bin/sh\necho hello\n",
		"usr/share/hello/secret":   "s",
		"usr/share/hello/defaults": "d",
		"etc/hello/hello.conf":     "x=1\n",
		"etc/hello/generated":      "g\n",
	})
	for p, mode := range map[string]fs.FileMode{"": 0o755, "usr/bin/hello": fs.ModeSetuid | 0o755, "usr/share/hello/secret": 0o600, "usr/share/hello": fs.ModeSetgid | 0o775} {
		if err := os.Chmod(filepath.Join(dir, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/bin/hello", filepath.Join(dir, "usr/bin/hi")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTree(t *testing.T) {
	dir := writeTree(t)
	// The name first in byte order becomes the file, whichever came first.
	if err := os.Link(filepath.Join(dir, "usr/share/hello/secret"), filepath.Join(dir, "usr/bin/secret")); err != nil {
		t.Fatal(err)
	}
	ctl := map[string]string{
		"DEBIAN/config":    "#!/bin/sh\n",
		"DEBIAN/templates": "Template: hello/x\nType: note\nDescription: x\n",
		"DEBIAN/triggers":  "interest-noawait /usr/share/hello\n",
		"DEBIAN/shlibs":    "libhello 1 hello\n",
		"DEBIAN/symbols":   "libhello.so.1 hello #MINVER#\n",
	}
	writeFiles(t, dir, ctl)
	spec, err := Tree(t.Context(), dir, envOf(map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}))
	if err != nil {
		t.Fatal(err)
	}
	c := spec.Control
	if c.Package != "hello" || c.Synopsis != "greets people" || c.Description != "Long text.\n\nMore." ||
		!reflect.DeepEqual(c.Extra, []deb.Field{{Name: "X-Team", Value: "web"}}) {
		t.Errorf("control %#v", c)
	}
	if !spec.KeepSymlinkTargets || !spec.ModTime.Equal(time.Unix(1700000000, 0)) || string(spec.Scripts.Postinst) != "#!/bin/sh\nset -e\n" {
		t.Errorf("KeepSymlinkTargets %v, ModTime %v, postinst %q", spec.KeepSymlinkTargets, spec.ModTime, spec.Scripts.Postinst)
	}
	wantFiles := deb.ControlFiles{Templates: []byte(ctl["DEBIAN/templates"]), Triggers: []byte(ctl["DEBIAN/triggers"]), Shlibs: []byte(ctl["DEBIAN/shlibs"]), Symbols: []byte(ctl["DEBIAN/symbols"])}
	if string(spec.Scripts.Config) != ctl["DEBIAN/config"] || !reflect.DeepEqual(spec.ControlFiles, wantFiles) {
		t.Errorf("config %q, control files %q", spec.Scripts.Config, spec.ControlFiles)
	}
	src := func(p string) string { return filepath.Join(dir, p) }
	want := []deb.Entry{
		{Type: deb.Dir, Dest: "/", Mode: 0o755},
		{Type: deb.Dir, Dest: "/etc", Mode: 0o755},
		{Type: deb.Dir, Dest: "/etc/hello", Mode: 0o755},
		{Dest: "/etc/hello/generated", Source: src("etc/hello/generated"), Mode: 0o644},
		{Dest: "/etc/hello/hello.conf", Source: src("etc/hello/hello.conf"), Mode: 0o644, Conffile: true},
		{Type: deb.Dir, Dest: "/usr", Mode: 0o755},
		{Type: deb.Dir, Dest: "/usr/bin", Mode: 0o755},
		{Dest: "/usr/bin/hello", Source: src("usr/bin/hello"), Mode: 0o755 | fs.ModeSetuid},
		{Type: deb.Symlink, Dest: "/usr/bin/hi", Target: "/usr/bin/hello"},
		{Dest: "/usr/bin/secret", Source: src("usr/bin/secret"), Mode: 0o600},
		{Type: deb.Dir, Dest: "/usr/share", Mode: 0o755},
		{Type: deb.Dir, Dest: "/usr/share/hello", Mode: 0o775 | fs.ModeSetgid},
		{Dest: "/usr/share/hello/defaults", Source: src("usr/share/hello/defaults"), Mode: 0o644, Conffile: true},
		{Type: deb.Hardlink, Dest: "/usr/share/hello/secret", Target: "/usr/bin/secret"},
	}
	if !reflect.DeepEqual(spec.Entries, want) {
		t.Errorf("entries:\n%v\nwant\n%v", spec.Entries, want)
	}
}

func TestTreeErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string // "DIR" stands for the tree
	}{
		{"no control", remove("DEBIAN/control"), "DIR/DEBIAN/control: missing: a tree to build needs its control file there"},
		{"no version", write("DEBIAN/control", strings.Replace(treeControlFile, "Version: 1.0-1\n", "", 1)), `DIR/DEBIAN/control: missing Version field (add a line "Version: ...")`},
		{"bad version", write("DEBIAN/control", strings.Replace(treeControlFile, "1.0-1", "one", 1)), `DIR/DEBIAN/control: Version: "one": version number does not start with digit`},
		{"syntax", write("DEBIAN/control", "Package hello\n"), "DIR/DEBIAN/control: line 1: missing ':' after the field name"},
		{"config without #!", write("DEBIAN/config", "db_input\n"), "DIR/DEBIAN/config: a maintainer script must start with #!"},
		{"linked conffile", link("usr/share/hello/defaults", "usr/bin/defaults"), "DIR/usr/share/hello/defaults: a conffile that is a hard link to DIR/usr/bin/defaults"},
		{"linked under /etc", link("etc/hello/generated", "usr/share/hello/generated"), "DIR/etc/hello/generated: a conffile that is a hard link to DIR/usr/share/hello/generated: dpkg installs and upgrades a conffile on its own"},
		{"unknown control file", write("DEBIAN/notes", "x"), "DIR/DEBIAN/notes: not a control file pkgdeb knows"},
		{"script without #!", write("DEBIAN/prerm", "set -e\n"), "DIR/DEBIAN/prerm: a maintainer script must start with #!"},
		{"conffile missing", write("DEBIAN/conffiles", "/etc/hello/nope\n"), "DIR/DEBIAN/conffiles: lists /etc/hello/nope, which is not a file of the tree (no DIR/etc/hello/nope)"},
		{"conffile flag", write("DEBIAN/conffiles", "remove-on-upgrade /etc/hello/old\n"), `DIR/DEBIAN/conffiles:1: "remove-on-upgrade /etc/hello/old": want one absolute path a line`},
		{"conffile twice", write("DEBIAN/conffiles", "/etc/hello/hello.conf\n/etc/hello/hello.conf\n"), "DIR/DEBIAN/conffiles:2: /etc/hello/hello.conf is listed twice"},
		{"conffile symlink", write("DEBIAN/conffiles", "/usr/bin/hi\n"), "DIR/usr/bin/hi: listed in DEBIAN/conffiles but a symlink"},
		{"fifo", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "usr/share/hello/fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "DIR/usr/share/hello/fifo: a fifo: pkgdeb packs only regular files, directories and symlinks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t)
			tt.change(t, dir)
			_, err := Tree(t.Context(), dir, envOf(nil))
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v\nwant one containing %q", err, want)
			}
		})
	}
}

func remove(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// link gives the file old the name new too.
func link(old, new string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Link(filepath.Join(dir, old), filepath.Join(dir, new)); err != nil {
			t.Fatal(err)
		}
	}
}

func write(name, body string) func(*testing.T, string) {
	return func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{name: body}) }
}
