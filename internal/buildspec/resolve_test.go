package buildspec

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
)

// envOf returns an Env reading only vars.
func envOf(vars map[string]string) Env {
	return Env{Getenv: func(k string) string { return vars[k] }}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(body, "#!") || strings.HasSuffix(name, ".bin") {
			mode = 0o775 // odd umask on purpose: the package must not care
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func minimal(dir string) *Spec {
	return &Spec{
		Name: "hello", Version: "1.0.0", Arch: "amd64", Maintainer: "Jane Doe <jane@example.com>",
		Description: "greets people\nLong text.", Dir: dir,
	}
}

func TestResolveEntries(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.bin":             "ELF",
		"tree/a.txt":            "a",
		"tree/sub/run.sh":       "#!/bin/sh\n",
		"tree/sub/deeper/b.txt": "b",
		"default":               "X=1\n",
		"hello.8":               ".TH HELLO 8\n",
	})
	if err := os.Symlink("a.txt", filepath.Join(dir, "tree/link")); err != nil {
		t.Fatal(err)
	}
	s := minimal(dir)
	s.Files = []File{
		{Src: filepath.Join(dir, "hello.bin"), Dest: "/usr/bin/"},
		{Src: filepath.Join(dir, "tree"), Dest: "/usr/share/hello"},
		{Src: filepath.Join(dir, "default"), Dest: "/etc/default/hello", Mode: 0o600},
		{Src: filepath.Join(dir, "default"), Dest: "/opt/hello.conf", Conffile: true},
	}
	s.Dirs = []Dir{{Dest: "/var/lib/hello/", Mode: 0o750}}
	s.Symlinks = []Symlink{{Dest: "/usr/sbin/hello", Target: "../bin/hello.bin"}}
	s.Man = []string{filepath.Join(dir, "hello.8")}
	got, err := s.Resolve(context.Background(), envOf(map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}))
	if err != nil {
		t.Fatal(err)
	}
	byDest := map[string]deb.Entry{}
	var dests []string
	for _, e := range got.Entries {
		byDest[e.Dest] = e
		dests = append(dests, e.Dest)
	}
	sort.Strings(dests)
	wantDests := []string{
		"/etc/default/hello", "/opt/hello.conf", "/usr/bin/hello.bin", "/usr/sbin/hello",
		"/usr/share/hello", "/usr/share/hello/a.txt", "/usr/share/hello/link", "/usr/share/hello/sub",
		"/usr/share/hello/sub/deeper", "/usr/share/hello/sub/deeper/b.txt", "/usr/share/hello/sub/run.sh",
		"/usr/share/man/man8/hello.8.gz", "/var/lib/hello",
	}
	if !reflect.DeepEqual(dests, wantDests) {
		t.Fatalf("entries:\n got %q\nwant %q", dests, wantDests)
	}
	checks := []struct {
		dest string
		want deb.Entry
	}{
		{"/usr/bin/hello.bin", deb.Entry{Type: deb.Regular, Dest: "/usr/bin/hello.bin", Source: filepath.Join(dir, "hello.bin"), Mode: 0o755}},
		{"/usr/share/hello/a.txt", deb.Entry{Type: deb.Regular, Dest: "/usr/share/hello/a.txt", Source: filepath.Join(dir, "tree/a.txt"), Mode: 0o644}},
		{"/usr/share/hello/sub/run.sh", deb.Entry{Type: deb.Regular, Dest: "/usr/share/hello/sub/run.sh", Source: filepath.Join(dir, "tree/sub/run.sh"), Mode: 0o755}},
		{"/usr/share/hello/link", deb.Entry{Type: deb.Symlink, Dest: "/usr/share/hello/link", Target: "a.txt"}},
		{"/usr/share/hello/sub", deb.Entry{Type: deb.Dir, Dest: "/usr/share/hello/sub"}},
		{"/etc/default/hello", deb.Entry{Type: deb.Regular, Dest: "/etc/default/hello", Source: filepath.Join(dir, "default"), Mode: 0o600}},
		{"/opt/hello.conf", deb.Entry{Type: deb.Regular, Dest: "/opt/hello.conf", Source: filepath.Join(dir, "default"), Mode: 0o644, Conffile: true}},
		{"/var/lib/hello", deb.Entry{Type: deb.Dir, Dest: "/var/lib/hello", Mode: 0o750}},
		{"/usr/sbin/hello", deb.Entry{Type: deb.Symlink, Dest: "/usr/sbin/hello", Target: "../bin/hello.bin"}},
	}
	for _, c := range checks {
		if e := byDest[c.dest]; !reflect.DeepEqual(e, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.dest, e, c.want)
		}
	}
	man := byDest["/usr/share/man/man8/hello.8.gz"]
	if body := gunzip(t, man.Body); body != ".TH HELLO 8\n" || man.Mode != 0o644 {
		t.Errorf("man page: mode %v body %q", man.Mode, body)
	}
	if man.Body[9] != 3 || !bytes.Equal(man.Body[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("man page gzip header has a timestamp or a foreign OS byte: % x", man.Body[:10])
	}
	c := got.Control
	if c.Synopsis != "greets people" || c.Description != "Long text." || c.Priority != "optional" {
		t.Errorf("control: %+v", c)
	}
	if !got.ModTime.Equal(time.Unix(1700000000, 0)) || got.Compression != deb.Gzip {
		t.Errorf("ModTime %v Compression %q", got.ModTime, got.Compression)
	}
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestResolveScriptsCopyrightChangelog(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"preinst": "#!/bin/sh\necho pre\n", "postinst": "#!/bin/sh\necho post\n",
		"prerm": "#!/bin/sh\necho prerm\n", "postrm": "#!/bin/sh\necho postrm\n",
		"copyright": "Format: x\n", "changelog": "hello (1.0.0) unstable; urgency=low\n",
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		version       string
		wantChangelog bool // in Spec.Changelog (changelog.Debian.gz)
		wantEntry     string
	}{
		{"1.0.0", false, "/usr/share/doc/hello/changelog.gz"},
		{"2:1.0.0+git3.abc", false, "/usr/share/doc/hello/changelog.gz"},
		{"1.0.0-1", true, ""},
	}
	for _, tt := range tests {
		s := minimal(dir)
		s.Version = tt.version
		s.Preinst, s.Postinst, s.Prerm, s.Postrm = p("preinst"), p("postinst"), p("prerm"), p("postrm")
		s.Copyright, s.Changelog = p("copyright"), p("changelog")
		got, err := s.Resolve(context.Background(), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		sc := got.Scripts
		if string(sc.Preinst) != "#!/bin/sh\necho pre\n" || string(sc.Postinst) != "#!/bin/sh\necho post\n" ||
			string(sc.Prerm) != "#!/bin/sh\necho prerm\n" || string(sc.Postrm) != "#!/bin/sh\necho postrm\n" {
			t.Errorf("scripts: %+v", sc)
		}
		if string(got.Copyright) != "Format: x\n" {
			t.Errorf("copyright %q", got.Copyright)
		}
		if (got.Changelog != nil) != tt.wantChangelog {
			t.Errorf("%s: Spec.Changelog set = %v, want %v", tt.version, got.Changelog != nil, tt.wantChangelog)
		}
		if tt.wantEntry != "" {
			if len(got.Entries) != 1 || got.Entries[0].Dest != tt.wantEntry || gunzip(t, got.Entries[0].Body) != "hello (1.0.0) unstable; urgency=low\n" {
				t.Errorf("%s: entries %+v, want the changelog at %s", tt.version, got.Entries, tt.wantEntry)
			}
		}
		// No git repository around a temp dir: the epoch.
		if !got.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("ModTime = %v, want the epoch", got.ModTime)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"noshebang": "echo hi\n", "x": "x", "big.1": ".TH"})
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Spec)
		env    map[string]string
		want   []string
	}{
		{"required fields", func(s *Spec) { *s = Spec{Arch: "amd64"} }, nil, []string{
			"name is required", "version is required", "maintainer is required", "description is required",
		}},
		{"both versions", func(s *Spec) { s.VersionFromGit = true }, nil, []string{"version and version-from-git are mutually exclusive"}},
		{"invalid control", func(s *Spec) { s.Name = "Hello"; s.Version = "v1" }, nil, []string{
			`Package: "Hello"`, `Version: "v1": version number does not start with digit`,
		}},
		{"missing file", func(s *Spec) { s.Files = []File{{Src: filepath.Join(dir, "nope"), Dest: "/x"}} }, nil, []string{"file " + filepath.Join(dir, "nope") + ": stat"}},
		{"script without shebang", func(s *Spec) { s.Postinst = filepath.Join(dir, "noshebang") }, nil, []string{"postinst: " + filepath.Join(dir, "noshebang") + " must start with #!"}},
		{"missing script", func(s *Spec) { s.Prerm = filepath.Join(dir, "nope") }, nil, []string{"prerm: stat"}},
		{"copyright is a directory", func(s *Spec) { s.Copyright = filepath.Join(dir, "adir") }, nil, []string{"copyright: " + filepath.Join(dir, "adir") + " is not a regular file"}},
		{"missing changelog", func(s *Spec) { s.Changelog = filepath.Join(dir, "nope") }, nil, []string{"changelog: stat"}},
		{"man without section", func(s *Spec) { s.Man = []string{filepath.Join(dir, "x")} }, nil, []string{"must end in a section number"}},
		{"bad compression", func(s *Spec) { s.Compression = "rar" }, nil, []string{`compression: unknown compression "rar"`}},
		{"bare arm", func(s *Spec) { s.Arch = ""; s.GOARCH = "arm" }, nil, []string{"architecture: GOARCH=arm needs GOARM", "set goarm: in the spec or --goarm", "arch: or --arch"}},
		{"env bare arm", func(s *Spec) { s.Arch = "" }, map[string]string{"GOARCH": "arm"}, []string{"GOARCH=arm needs GOARM", "set GOARM in the environment"}},
		{"bad SOURCE_DATE_EPOCH", func(*Spec) {}, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, []string{`SOURCE_DATE_EPOCH="yesterday": want a non-negative number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := minimal(dir)
			tt.mutate(s)
			_, err := s.Resolve(context.Background(), envOf(tt.env))
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n got %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestResolveArch(t *testing.T) {
	tests := []struct {
		arch, goarch, goarm string
		env                 map[string]string
		want                string
	}{
		{"all", "", "", nil, "all"},
		{"", "arm64", "", nil, "arm64"},
		{"", "arm", "7", nil, "armhf"},
		{"", "arm", "5", nil, "armel"},
		{"", "386", "", map[string]string{"GOARCH": "amd64"}, "i386"},
		{"", "", "", map[string]string{"GOARCH": "arm", "GOARM": "6"}, "armhf"},
		{"", "", "", map[string]string{"GOARCH": "riscv64"}, "riscv64"},
	}
	for _, tt := range tests {
		s := minimal(t.TempDir())
		s.Arch, s.GOARCH, s.GOARM = tt.arch, tt.goarch, tt.goarm
		got, err := s.Resolve(context.Background(), envOf(tt.env))
		if err != nil {
			t.Fatal(err)
		}
		if got.Control.Architecture != tt.want {
			t.Errorf("arch %q goarch %q goarm %q env %v: got %q, want %q", tt.arch, tt.goarch, tt.goarm, tt.env, got.Control.Architecture, tt.want)
		}
	}
}

func TestSplitDescription(t *testing.T) {
	tests := []struct{ in, syn, long string }{
		{"one line", "one line", ""},
		{"syn\nlong\nmore", "syn", "long\nmore"},
		{"syn\n\nlong\n\npara 2\n", "syn", "long\n\npara 2"},
		{"  syn  \n", "syn", ""},
		// A plain line starting with a space is shown verbatim: kept.
		{"syn\nlong\n  code\n", "syn", "long\n  code"},
		// Continuation lines copied from a control file: one space off,
		// " ." is a blank line, a verbatim line keeps its second space.
		{"syn\n line one\n .\n para 2\n   verbatim\n", "syn", "line one\n\npara 2\n  verbatim"},
		{"syn\n\n line one\n\n para 2", "syn", "line one\n\npara 2"},
		{"syn\n line\n.", "syn", " line\n."},
	}
	for _, tt := range tests {
		syn, long := splitDescription(tt.in)
		if syn != tt.syn || long != tt.long {
			t.Errorf("splitDescription(%q) = %q, %q; want %q, %q", tt.in, syn, long, tt.syn, tt.long)
		}
	}
}
