package lint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

// elfHeader starts every ELF file (a 64-bit little-endian one here); the
// check looks only at the first four bytes.
var elfHeader = []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// TestCheckTracked runs check-tracked on real git repositories: it must fail,
// naming the file, exactly when a tracked file is an ELF executable.
func TestCheckTracked(t *testing.T) {
	testenv.LookTool(t, "git")
	script, err := filepath.Abs("check-tracked")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tracked map[string][]byte // committed
		other   map[string][]byte // in the work tree only
		dir     string            // where to run it, relative to the repository
		bad     []string          // files it must name; none: it must pass
	}{
		{
			name:    "sources and scripts",
			tracked: map[string][]byte{"main.go": []byte("package main\n"), "scripts/run": []byte("#!/bin/sh\necho ELF\n")},
		},
		{
			name:    "binary at the root",
			tracked: map[string][]byte{"main.go": []byte("package main\n"), "benchagent": elfHeader},
			bad:     []string{"benchagent"},
		},
		{
			name:    "binaries in directories, one with a space",
			tracked: map[string][]byte{"cmd/pkgdeb/pkgdeb": elfHeader, "cmd/my tool/my tool": elfHeader, "cmd/pkgdeb/main.go": []byte("package main\n")},
			bad:     []string{"cmd/pkgdeb/pkgdeb", "cmd/my tool/my tool"},
		},
		{
			name:    "run from a subdirectory",
			tracked: map[string][]byte{"hello": elfHeader, "deb/deb.go": []byte("package deb\n")},
			dir:     "deb",
			bad:     []string{"hello"},
		},
		{
			name:    "binary not tracked",
			tracked: map[string][]byte{"main.go": []byte("package main\n")},
			other:   map[string][]byte{"hello": elfHeader},
		},
		{
			name:    "magic not at the start",
			tracked: map[string][]byte{"testdata/blob": append([]byte("x"), elfHeader...)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := t.TempDir()
			git(t, repo, "init", "-q")
			write(t, repo, tt.tracked)
			git(t, repo, "add", "-A")
			git(t, repo, "commit", "-q", "-m", "c")
			write(t, repo, tt.other)

			cmd := exec.Command(script, filepath.Join(repo, tt.dir))
			out, err := cmd.CombinedOutput()
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("check-tracked failed on a clean repository: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("check-tracked passed with %q tracked\n%s", tt.bad, out)
			}
			for _, f := range tt.bad {
				if !strings.Contains(string(out), f+" is an executable") {
					t.Errorf("output does not name %s:\n%s", f, out)
				}
			}
			if !strings.Contains(string(out), "git rm --cached") {
				t.Errorf("output does not say how to fix it:\n%s", out)
			}
		})
	}
}

// TestCheckTrackedOutsideRepository: outside git there is nothing to list;
// failing says so, where passing would hide a broken lint setup.
func TestCheckTrackedOutsideRepository(t *testing.T) {
	testenv.LookTool(t, "git")
	dir := t.TempDir()
	cmd := exec.Command("./check-tracked", dir)
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("check-tracked passed outside a git repository\n%s", out)
	}
}

func write(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	// The machine's git configuration (hooks, templates, signing) stays out.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}
