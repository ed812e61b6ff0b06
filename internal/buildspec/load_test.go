package buildspec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

const fullYAML = `name: hello
version: 1.2.3
arch: arm64
maintainer: Jane Doe <jane@example.com>
description: |
  greets people over HTTP
  A long description.

  With a second paragraph.
section: net
priority: optional
homepage: https://example.com
depends: [adduser, "libc6 (>= 2.31)"]
pre-depends: dpkg
recommends: [ca-certificates]
suggests: [curl]
conflicts: [hello-old]
breaks: [hello-old (<< 1.0)]
replaces: [hello-old]
provides: [greeter]
fields:
  X-Team: web
  X-Ticket: "42"
files:
  - {src: bin/hello, dest: /usr/bin/hello, mode: "0755"}
  - "share:/usr/share/hello"
  - "x.conf:/etc/hello/x.conf:0600"
  - {src: /abs/gen.conf, dest: /etc/hello/gen.conf, conffile: false}
conffiles:
  - {src: hello.default, dest: /etc/default/hello}
dirs:
  - /var/lib/hello
  - {dest: /var/log/hello, mode: "0750"}
symlinks:
  - {dest: /usr/sbin/hello, target: ../bin/hello}
  - /usr/bin/hi:hello
man: [hello.1]
preinst: scripts/preinst
postinst: scripts/postinst
prerm: scripts/prerm
postrm: scripts/postrm
copyright: copyright
changelog: changelog
compression: zstd
`

func TestParseFull(t *testing.T) {
	got, err := Parse([]byte(fullYAML), "pkgdeb.yaml", "base")
	if err != nil {
		t.Fatal(err)
	}
	want := &Spec{
		Name: "hello", Version: "1.2.3", Arch: "arm64",
		Maintainer:  "Jane Doe <jane@example.com>",
		Description: "greets people over HTTP\nA long description.\n\nWith a second paragraph.\n",
		Section:     "net", Priority: "optional", Homepage: "https://example.com",
		Depends: []string{"adduser", "libc6 (>= 2.31)"}, PreDepends: []string{"dpkg"},
		Recommends: []string{"ca-certificates"}, Suggests: []string{"curl"},
		Conflicts: []string{"hello-old"}, Breaks: []string{"hello-old (<< 1.0)"},
		Replaces: []string{"hello-old"}, Provides: []string{"greeter"},
		Fields: []deb.Field{{Name: "X-Team", Value: "web"}, {Name: "X-Ticket", Value: "42"}},
		Files: []File{
			{Src: "base/bin/hello", Dest: "/usr/bin/hello", Mode: 0o755},
			{Src: "base/share", Dest: "/usr/share/hello"},
			{Src: "base/x.conf", Dest: "/etc/hello/x.conf", Mode: 0o600},
			{Src: "/abs/gen.conf", Dest: "/etc/hello/gen.conf", NoConffile: true},
			{Src: "base/hello.default", Dest: "/etc/default/hello", Conffile: true},
		},
		Dirs:     []Dir{{Dest: "/var/lib/hello"}, {Dest: "/var/log/hello", Mode: 0o750}},
		Symlinks: []Symlink{{Dest: "/usr/sbin/hello", Target: "../bin/hello"}, {Dest: "/usr/bin/hi", Target: "hello"}},
		Man:      []string{"base/hello.1"},
		Preinst:  "base/scripts/preinst", Postinst: "base/scripts/postinst",
		Prerm: "base/scripts/prerm", Postrm: "base/scripts/postrm",
		Copyright: "base/copyright", Changelog: "base/changelog",
		Compression: "zstd", Dir: "base",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

// TestParseExample keeps the documented example loadable.
func TestParseExample(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", "packaging", "example.pkgdeb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "myservice" || len(s.Files) != 6 || !s.Files[5].Conffile || !s.Files[4].NoConffile {
		t.Errorf("example spec parsed as %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "x.yaml: empty spec"},
		{"not a mapping", "- a\n- b\n", "x.yaml:1: the spec must be a mapping"},
		{"syntax", "name: [a\n", "x.yaml: yaml: line 1"},
		{"unknown key", "name: a\nnmae: b\n", `x.yaml:2: unknown key "nmae" (known keys: arch, breaks,`},
		{"duplicate key", "name: a\nversion: 1\nname: b\n", "x.yaml:3: name: given twice (first on line 1)"},
		{"list for scalar", "description:\n  - a\n", "x.yaml:2: description: want a single value, not a list"},
		{"mapping for list", "depends:\n  a: b\n", "x.yaml:2: depends: want a list, not a mapping"},
		{"list item not scalar", "depends:\n  - [a]\n", "x.yaml:2: depends[0]: want a single value, not a list"},
		{"both versions", "version: 1.0\nname: a\nversion-from-git: true\n", "x.yaml:3: version-from-git: true conflicts with version: on line 1 (keep one)"},
		{"bad bool", "version-from-git: maybe\n", `x.yaml:1: version-from-git: "maybe" is not true or false`},
		{"bad compression", "compression: lz4\n", `x.yaml:1: compression: unknown compression "lz4"`},
		{"fields not mapping", "fields: [a]\n", "x.yaml:1: fields: want a mapping of field names to values"},
		{"files not list", "files: a:/b\n", "x.yaml:1: files: want a list, not a value"},
		{"file bad mode", "files:\n  - {src: a, dest: /a, mode: \"999\"}\n", `x.yaml:2: files[0].mode: mode "999": want an octal permission mode`},
		{"file string bad mode", "files:\n  - a:/a:rwx\n", `x.yaml:2: files[0]: "a:/a:rwx": mode "rwx"`},
		{"file missing dest", "files:\n  - {src: a}\n", "x.yaml:2: files[0]: needs both src and dest"},
		{"file unknown key", "files:\n  - {src: a, dest: /a, owner: x}\n", `x.yaml:2: files[0]: unknown key "owner" (want src, dest, mode, conffile)`},
		{"file relative dest", "files:\n  - {src: a, dest: usr/bin/a}\n", `x.yaml:2: files[0].dest: destination "usr/bin/a" must be an absolute path`},
		{"file dotdot dest", "conffiles:\n  - {src: a, dest: /etc/../a}\n", `x.yaml:2: conffiles[0].dest: destination "/etc/../a" must not contain ".."`},
		{"file string no dest", "files:\n  - justsrc\n", `x.yaml:2: files[0]: "justsrc": want SRC:DEST or SRC:DEST:MODE`},
		{"file bad conffile", "files:\n  - {src: a, dest: /a, conffile: perhaps}\n", `x.yaml:2: files[0].conffile: "perhaps" is not true or false`},
		{"file nested value", "files:\n  - {src: [a], dest: /a}\n", "x.yaml:2: files[0].src: want a single value, not a list"},
		{"dir relative", "dirs: [var/lib/x]\n", `x.yaml:1: dirs[0]: destination "var/lib/x" must be an absolute path`},
		{"dir bad mode", "dirs:\n  - {dest: /x, mode: abc}\n", `x.yaml:2: dirs[0].mode: mode "abc"`},
		{"dir missing dest", "dirs:\n  - {mode: \"0755\"}\n", "x.yaml:2: dirs[0]: needs dest"},
		{"symlink no target", "symlinks: [/usr/bin/x]\n", `x.yaml:1: symlinks[0]: "/usr/bin/x": want DEST:TARGET`},
		{"symlink mapping no target", "symlinks:\n  - {dest: /a}\n", "x.yaml:2: symlinks[0]: needs both dest and target"},
		{"symlink relative", "symlinks:\n  - {dest: a, target: b}\n", `x.yaml:2: symlinks[0]: destination "a" must be an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "x.yaml", ".")
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n got %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestParseReportsEveryError checks that one run names every bad key, so a
// user fixes the file in one go.
func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse([]byte("nmae: a\ncompression: lz4\ndirs: [x]\n"), "x.yaml", ".")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"x.yaml:1: unknown key", "x.yaml:2: compression", "x.yaml:3: dirs[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestLoadRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pkgdeb.yaml")
	if err := os.WriteFile(p, []byte("name: a\ncopyright: doc/copyright\nfiles: [\"bin/a:/usr/bin/a\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Copyright != filepath.Join(dir, "doc/copyright") || s.Files[0].Src != filepath.Join(dir, "bin/a") || s.Dir != dir {
		t.Errorf("paths not relative to the spec's directory: %+v", s)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "load spec:") {
		t.Errorf("Load(missing) = %v, want a load spec error", err)
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want os.FileMode
		ok   bool
	}{
		{"0755", 0o755, true},
		{"644", 0o644, true},
		{"0o600", 0o600, true},
		{"4755", 0o755 | os.ModeSetuid, true},
		{"2775", 0o775 | os.ModeSetgid, true},
		{"1777", 0o777 | os.ModeSticky, true},
		{"8", 0, false},
		{"17777", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
