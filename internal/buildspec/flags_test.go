package buildspec

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/cli"
)

const baseYAML = `name: hello
version: 1.0.0
arch: amd64
maintainer: Jane Doe <jane@example.com>
description: greeter
depends: [adduser]
files: ["bin/hello:/usr/bin/hello"]
compression: xz
`

// applyFlags parses args as `pkgdeb build` would and applies them over
// the base spec.
func applyFlags(t *testing.T, base string, args ...string) (*Spec, error) {
	t.Helper()
	s, err := Parse([]byte(base), "pkgdeb.yaml", "spec")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs)
	if _, err := cli.Parse(fs, args); err != nil {
		return nil, err
	}
	return s, f.Apply(s)
}

func TestFlagsOverrideSpec(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(*Spec) bool
	}{
		{"no flags keep the spec", nil, func(s *Spec) bool {
			return s.Name == "hello" && s.Version == "1.0.0" && s.Arch == "amd64" && s.Compression == "xz" && len(s.Files) == 1
		}},
		{"scalars replace", []string{"--name", "hi", "--version", "2.0", "--maintainer", "X Y <x@y.z>", "--description", "d", "--section", "net", "--priority", "extra", "--homepage", "https://h", "--compression", "none"}, func(s *Spec) bool {
			return s.Name == "hi" && s.Version == "2.0" && s.Maintainer == "X Y <x@y.z>" && s.Description == "d" &&
				s.Section == "net" && s.Priority == "extra" && s.Homepage == "https://h" && s.Compression == "none"
		}},
		{"relations replace", []string{"--depends", "a", "--depends", "b (>= 1)", "--provides", "p"}, func(s *Spec) bool {
			return reflect.DeepEqual(s.Depends, []string{"a", "b (>= 1)"}) && reflect.DeepEqual(s.Provides, []string{"p"})
		}},
		{"every relation flag", []string{"--pre-depends", "a", "--recommends", "b", "--suggests", "c", "--conflicts", "d", "--breaks", "e", "--replaces", "f"}, func(s *Spec) bool {
			return s.PreDepends[0] == "a" && s.Recommends[0] == "b" && s.Suggests[0] == "c" && s.Conflicts[0] == "d" && s.Breaks[0] == "e" && s.Replaces[0] == "f"
		}},
		{"contents add", []string{"--file", "x:/usr/share/x:0600", "--conffile", "d:/etc/default/hello", "--dir", "/var/lib/hello", "--symlink", "/usr/sbin/hello:../bin/hello", "--man", "hello.1"}, func(s *Spec) bool {
			return len(s.Files) == 3 && s.Files[0].Src == "spec/bin/hello" &&
				s.Files[1] == File{Src: "x", Dest: "/usr/share/x", Mode: 0o600} &&
				s.Files[2] == File{Src: "d", Dest: "/etc/default/hello", Conffile: true} &&
				s.Dirs[0].Dest == "/var/lib/hello" && s.Symlinks[0] == Symlink{Dest: "/usr/sbin/hello", Target: "../bin/hello"} &&
				s.Man[0] == "hello.1"
		}},
		{"goarch drops the spec's arch", []string{"--goarch", "arm", "--goarm", "7"}, func(s *Spec) bool {
			return s.Arch == "" && s.GOARCH == "arm" && s.GOARM == "7"
		}},
		{"arch and goarch: arch wins", []string{"--goarch", "arm64", "--arch", "all"}, func(s *Spec) bool {
			return s.Arch == "all"
		}},
		{"version-from-git drops the spec's version", []string{"--version-from-git"}, func(s *Spec) bool {
			return s.Version == "" && s.VersionFromGit
		}},
		{"flags after the spec file", []string{"-f", "x.yaml", "--name", "late"}, func(s *Spec) bool { return s.Name == "late" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := applyFlags(t, baseYAML, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("spec after %q: %+v", tt.args, s)
			}
		})
	}
}

func TestFlagsVersionOverridesSpecVersionFromGit(t *testing.T) {
	s, err := applyFlags(t, "name: a\nversion-from-git: true\n", "--version", "3.0")
	if err != nil {
		t.Fatal(err)
	}
	if s.VersionFromGit || s.Version != "3.0" {
		t.Errorf("got VersionFromGit=%v Version=%q", s.VersionFromGit, s.Version)
	}
}

func TestFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--version", "1", "--version-from-git"}, "--version and --version-from-git are mutually exclusive"},
		{[]string{"--file", "onlysrc"}, `--file "onlysrc": want SRC:DEST or SRC:DEST:MODE`},
		{[]string{"--file", "a:rel/b"}, `--file "a:rel/b": destination "rel/b" must be an absolute path`},
		{[]string{"--file", "a:/b:9"}, `--file "a:/b:9": mode "9"`},
		{[]string{"--conffile", "a:/etc/../b"}, `--conffile "a:/etc/../b": destination "/etc/../b" must not contain ".."`},
		{[]string{"--dir", "var/x"}, `--dir destination "var/x" must be an absolute path`},
		{[]string{"--symlink", "/a"}, `--symlink "/a": want DEST:TARGET`},
		{[]string{"--compression", "brotli"}, `--compression: unknown compression "brotli"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := applyFlags(t, baseYAML, tt.args...)
			var ue *cli.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a usage error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n got %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFlagsEmptyRepeatableValue(t *testing.T) {
	if _, err := applyFlags(t, baseYAML, "--depends", ""); err == nil || !strings.Contains(err.Error(), "empty value") {
		t.Errorf("--depends '' = %v, want an empty value error", err)
	}
}
