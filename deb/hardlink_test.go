package deb_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// A hard link is written as tar writes one (typeflag '1', its target in the
// "./path" form of names) after its target; md5sums lists both names,
// Installed-Size counts the content once, and dpkg-deb, Read and Verify
// agree.
func TestBuildHardlink(t *testing.T) {
	spec := testSpec()
	body := strings.Repeat("x", 3000) // 3 KiB, counted once
	spec.Entries = []deb.Entry{
		{Dest: "/usr/bin/hello", Body: []byte(body), Mode: 0o755},
		{Type: deb.Hardlink, Dest: "/usr/bin/hi", Target: "/usr/bin/hello"},
		{Type: deb.Hardlink, Dest: "/usr/lib/hello/hello", Target: "/usr/bin/hello", Mode: 0o755},
		{Type: deb.Hardlink, Dest: "/usr/share/hello/copy", Target: "/usr/bin/hello"},
	}
	p, res := buildFile(t, spec)
	// 3 for the file, 1 each for ./, usr, usr/bin, usr/lib, usr/lib/hello,
	// usr/share, usr/share/hello.
	if res.Control.InstalledSize != 3+7 {
		t.Errorf("Installed-Size %d, want 10", res.Control.InstalledSize)
	}
	pkg, err := deb.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := pkg.Verify(); err != nil {
		t.Error(err)
	}
	checkListing(t, p, pkg)
	links := map[string]string{}
	for _, f := range pkg.Files {
		if f.Type == deb.Hardlink {
			links[f.Path] = f.LinkTarget
			if f.Mode != 0o755 || f.Size != 0 {
				t.Errorf("%s: mode %v size %d, want the target's mode and no content", f.Path, f.Mode, f.Size)
			}
		}
	}
	want := map[string]string{"./usr/bin/hi": "./usr/bin/hello", "./usr/lib/hello/hello": "./usr/bin/hello", "./usr/share/hello/copy": "./usr/bin/hello"}
	if len(links) != len(want) {
		t.Errorf("hard links %q, want %q", links, want)
	}
	for name, target := range want {
		if links[name] != target {
			t.Errorf("hard link %s -> %q, want %q", name, links[name], target)
		}
	}
	x := t.TempDir()
	if out, err := runTool(t, lookTool(t, "dpkg-deb"), "--control", p, x); err != nil {
		t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
	}
	sums := string(readFile(t, filepath.Join(x, "md5sums")))
	for _, name := range []string{"usr/bin/hello", "usr/bin/hi", "usr/lib/hello/hello", "usr/share/hello/copy"} {
		if !strings.Contains(sums, "  "+name+"\n") {
			t.Errorf("md5sums lacks %s:\n%s", name, sums)
		}
	}
}

// The debconf config script, templates, triggers, shlibs and symbols are
// control members with dpkg-deb's modes: config 0755, the others 0644.
func TestBuildControlFiles(t *testing.T) {
	spec := testSpec()
	spec.Scripts.Config = []byte("#!/bin/sh\nset -e\n")
	spec.ControlFiles = deb.ControlFiles{
		Templates: []byte("Template: hello/greeting\nType: string\nDescription: Greeting?\n"),
		Triggers:  []byte("# watched\ninterest-noawait /usr/share/hello\n\tactivate-noawait\tldconfig \n"),
		Shlibs:    []byte("libhello 1 libhello1 (>= 1.0)\n"),
		Symbols:   []byte("libhello.so.1 libhello1 #MINVER#\n hello@Base 1.0\n"),
	}
	p, _ := buildFile(t, spec)
	info, err := runTool(t, lookTool(t, "dpkg-deb"), "--info", p)
	if err != nil {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
	}
	x := t.TempDir()
	if out, err := runTool(t, lookTool(t, "dpkg-deb"), "--control", p, x); err != nil {
		t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
	}
	for _, f := range []struct {
		name string
		body []byte
		mode fs.FileMode
	}{
		{"config", spec.Scripts.Config, 0o755},
		{"templates", spec.ControlFiles.Templates, 0o644},
		{"triggers", spec.ControlFiles.Triggers, 0o644},
		{"shlibs", spec.ControlFiles.Shlibs, 0o644},
		{"symbols", spec.ControlFiles.Symbols, 0o644},
	} {
		if !strings.Contains(info, " "+f.name+"\n") && !strings.Contains(info, " "+f.name+" ") {
			t.Errorf("dpkg-deb --info does not list %s:\n%s", f.name, info)
		}
		st, err := os.Stat(filepath.Join(x, f.name))
		if err != nil {
			t.Errorf("control member %s: %v", f.name, err)
			continue
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.name, st.Mode().Perm(), f.mode)
		}
		if got := readFile(t, filepath.Join(x, f.name)); string(got) != string(f.body) {
			t.Errorf("%s = %q, want %q", f.name, got, f.body)
		}
	}
	pkg, err := deb.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(pkg.Scripts["config"]) != string(spec.Scripts.Config) {
		t.Errorf("Read: config = %q", pkg.Scripts["config"])
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
