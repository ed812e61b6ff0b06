package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/cli"
	"github.com/debfleet/debfleet/internal/testenv"
)

const serviceSpec = "testdata/service/pkgdeb.yaml"

// fixedEpoch is the SOURCE_DATE_EPOCH of the tests: a recent date, since
// lintian rejects files older than 20 years.
const fixedEpoch = "1763640000"

// buildGoService compiles testdata/service/main.go the way Go services are
// shipped: CGO_ENABLED=0, stripped. It returns the binary's path.
func buildGoService(t *testing.T) string {
	t.Helper()
	goBin := testenv.LookTool(t, "go")
	out := filepath.Join(t.TempDir(), "greeter")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/service/main.go")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// build runs `pkgdeb build args...` in-process and returns the output path
// it printed.
func build(t *testing.T, args ...string) (path, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := runBuild(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("pkgdeb build %q: %v\nstderr: %s", args, err, errb.String())
	}
	fields := strings.Fields(out.String())
	if len(fields) != 5 || fields[2] != "bytes" || fields[3] != "sha256" {
		t.Fatalf("pkgdeb build printed %q, want 'PATH SIZE bytes sha256 HEX'", out.String())
	}
	b, err := os.ReadFile(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if fields[1] != fmt.Sprint(len(b)) || fields[4] != hex.EncodeToString(sum[:]) {
		t.Errorf("printed size/sha256 %s %s, file has %d %x", fields[1], fields[4], len(b), sum)
	}
	return fields[0], errb.String()
}

// dpkgDeb runs dpkg-deb with args and returns its output.
func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.LookTool(t, "dpkg-deb"), args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// lintianClean fails the test when lintian reports an error or a warning
// about any of debs.
func lintianClean(t *testing.T, debs ...string) {
	t.Helper()
	cmd := exec.Command(testenv.LookTool(t, "lintian"), append([]string{"--fail-on", "error,warning"}, debs...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var bad []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 || err != nil {
		t.Errorf("lintian %v: %v\n%s\n%s", debs, err, strings.Join(bad, "\n"), stderr.String())
	}
	if stdout.Len() > 0 {
		t.Logf("lintian (infos, overrides):\n%s", stdout.String())
	}
}

func TestBuildHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runBuild(context.Background(), []string{"--help"}, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help returned %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: pkgdeb build", "Examples:", "SOURCE_DATE_EPOCH", "-version-from-git", "-conffile", "-symlink", "-compression", "-o string", "-root", "pkgdeb build build/ dist/"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help does not mention %q:\n%s", want, stderr.String())
		}
	}
}

func TestBuildUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "nothing to build"},
		{[]string{"pkgdeb.yaml"}, `unexpected argument "pkgdeb.yaml": give a spec with -f, or a directory with DEBIAN/control to build a tree`},
		{[]string{"testdata", "a.deb", "b"}, `unexpected argument "b": pkgdeb build TREE [OUT]`},
		{[]string{"testdata", "a.deb", "-o", "b.deb"}, "the output is given twice: -o b.deb and a.deb"},
		{[]string{"--root", "testdata", "testdata"}, `unexpected argument "testdata": the tree is already given with --root`},
		{[]string{"--nosuchflag"}, "flag provided but not defined: -nosuchflag"},
		{[]string{"-f", serviceSpec, "--version", "1", "--version-from-git"}, "mutually exclusive"},
		{[]string{"-f", serviceSpec, "--file", "x"}, `--file "x": want SRC:DEST`},
		{[]string{"-f", serviceSpec, "--compression", "lz4"}, `unknown compression "lz4"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runBuild(context.Background(), tt.args, &stdout, &stderr)
			var ue *cli.UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v (%T), want a usage error containing %q", err, err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-f", "testdata/nope.yaml"}, "load spec: open testdata/nope.yaml"},
		{[]string{"-f", "testdata/bad.yaml"}, `testdata/bad.yaml:4: files[0].mode: mode "0999"`},
		{[]string{"--name", "x"}, "version is required"},
		{[]string{"-f", serviceSpec, "--file", "testdata/missing:/usr/bin/x"}, "file testdata/missing:"},
		{[]string{"-f", serviceSpec, "--name", "Greeter"}, `Package: "Greeter"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runBuild(context.Background(), append(tt.args, "-o", t.TempDir()+"/"), &stdout, &stderr)
			var ue *cli.UsageError
			if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a (non-usage) error containing %q", err, tt.want)
			}
		})
	}
}

func TestBuildFromFlagsOnly(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	dir := t.TempDir()
	src := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(src, []byte("payload\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path, _ := build(t, "--name", "flagpkg", "--version", "2:1.0-3", "--goarch", "arm", "--goarm", "7",
		"--maintainer", "Jane Doe <jane@example.com>", "--description", "flag built package\nMade from flags.",
		"--depends", "adduser", "--file", src+":/usr/share/flagpkg/data.txt", "--dir", "/var/lib/flagpkg",
		"--symlink", "/usr/share/flagpkg/link:data.txt", "-o", dir+"/")
	if filepath.Base(path) != "flagpkg_1.0-3_armhf.deb" {
		t.Errorf("default output name %s, want flagpkg_1.0-3_armhf.deb (epoch dropped)", path)
	}
	info := dpkgDeb(t, "--info", path)
	for _, want := range []string{"Package: flagpkg", "Version: 2:1.0-3", "Architecture: armhf", "Depends: adduser", " Made from flags."} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := dpkgDeb(t, "--contents", path)
	for _, want := range []string{
		"-rw-r--r-- root/root         8 2025-11-20 12:00 ./usr/share/flagpkg/data.txt",
		"drwxr-xr-x root/root         0 2025-11-20 12:00 ./var/lib/flagpkg/",
		"./usr/share/flagpkg/link -> data.txt",
	} {
		if !strings.Contains(contents, want) {
			t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, contents)
		}
	}
}

func TestBuildServiceSpec(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	bin := buildGoService(t)
	out := filepath.Join(t.TempDir(), "greeter.deb")
	path, stderr := build(t, "-f", serviceSpec, "--file", bin+":/usr/bin/greeter", "-o", out)
	if path != out || stderr != "" {
		t.Errorf("output %s (want %s), stderr %q", path, out, stderr)
	}
	info := dpkgDeb(t, "--info", path)
	for _, want := range []string{"Package: greeter", "Version: 1.4.2", "Section: net", "Depends: adduser", "postinst", "prerm", "postrm", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := dpkgDeb(t, "--contents", path)
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/greeter",
		"./etc/default/greeter", "./usr/lib/systemd/system/greeter.service",
		"./usr/share/doc/greeter/changelog.gz", "./usr/share/doc/greeter/copyright",
		"./usr/share/man/man1/greeter.1.gz", "./var/lib/greeter/",
	} {
		if !strings.Contains(contents, want) {
			t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, contents)
		}
	}
	lintianClean(t, path)
}

// TestBuildPolicyForms builds the service with an absolute symlink and
// with its description in each form a user may give it: the control file
// and the symlink come out the same, and lintian reports neither
// absolute-symlink-in-top-level-folder nor
// description-starts-with-leading-spaces.
func TestBuildPolicyForms(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	bin := buildGoService(t)
	const wantDesc = "Description: small HTTP service that says hello\n" +
		" greeter answers on port 8080.\n .\n It restarts without dropping connections.\n"
	tests := []struct{ name, description string }{
		{"plain lines", "small HTTP service that says hello\ngreeter answers on port 8080.\n\nIt restarts without dropping connections."},
		{"control-file lines", "small HTTP service that says hello\n greeter answers on port 8080.\n .\n It restarts without dropping connections.\n"},
	}
	dir := t.TempDir() // outlives the subtests: lintian reads every package at the end
	var debs []string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("greeter-%d.deb", i))
			path, _ := build(t, "-f", serviceSpec, "--file", bin+":/usr/bin/greeter",
				"--symlink", "/usr/sbin/greeter:/usr/bin/greeter", "--description", tt.description, "-o", out)
			if ctl := dpkgDeb(t, "--field", path); !strings.HasSuffix(ctl, wantDesc) {
				t.Errorf("control file:\n%s\nwant it to end with\n%s", ctl, wantDesc)
			}
			if contents := dpkgDeb(t, "--contents", path); !strings.Contains(contents, "./usr/sbin/greeter -> ../bin/greeter\n") {
				t.Errorf("dpkg-deb --contents: the symlink is not ../bin/greeter:\n%s", contents)
			}
			debs = append(debs, path)
		})
	}
	lintianClean(t, debs...)
}

// TestBuildReproducible builds the same sources twice, with their mtimes
// and permission bits changed in between: the bytes must not change.
func TestBuildReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS("testdata/service")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(src, "greeter")
	if err := os.WriteFile(bin, bytes.Repeat([]byte("odd-sized binary "), 12345), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(src, "pkgdeb.yaml")
	for _, c := range []string{"gzip", "zstd", "xz", "none"} {
		t.Run(c, func(t *testing.T) {
			out := t.TempDir()
			first, _ := build(t, "-f", spec, "--file", bin+":/usr/bin/greeter", "--compression", c, "-o", filepath.Join(out, "1.deb"))
			later := time.Now().Add(time.Hour)
			err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() {
					// A different umask: group and other bits change, the
					// execute bit stays what it was.
					fi, err := d.Info()
					if err != nil {
						return err
					}
					mode := os.FileMode(0o600)
					if fi.Mode()&0o100 != 0 {
						mode = 0o700
					}
					if err := os.Chmod(p, mode); err != nil {
						return err
					}
				}
				return os.Chtimes(p, later, later)
			})
			if err != nil {
				t.Fatal(err)
			}
			second, _ := build(t, "-f", spec, "--file", bin+":/usr/bin/greeter", "--compression", c, "-o", filepath.Join(out, "2.deb"))
			a, _ := os.ReadFile(first)
			b, _ := os.ReadFile(second)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: two builds differ (%d and %d bytes)", c, len(a), len(b))
			}
		})
	}
}

func TestBuildZstdWarns(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	_, stderr := build(t, "-f", serviceSpec, "--compression", "zstd", "-o", t.TempDir()+"/")
	if !strings.Contains(stderr, "warning: zstd-compressed .deb files need dpkg >= 1.21.18") || strings.Count(stderr, "warning:") != 1 {
		t.Errorf("stderr %q, want the zstd warning once", stderr)
	}
}

func TestBuildWarnsAboutEpochMtimes(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	dir := t.TempDir() // not in a git repository
	spec := filepath.Join(dir, "pkgdeb.yaml")
	if err := os.WriteFile(spec, []byte("name: a1\nversion: '1'\narch: all\nmaintainer: A B <a@b.c>\ndescription: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := build(t, "-f", spec, "-o", dir+"/")
	if !strings.Contains(stderr, "warning: no SOURCE_DATE_EPOCH and no git commit") {
		t.Errorf("stderr %q, want the epoch warning", stderr)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "0") // asked for explicitly: no warning
	if _, stderr := build(t, "-f", spec, "-o", dir+"/"); stderr != "" {
		t.Errorf("stderr %q with SOURCE_DATE_EPOCH=0", stderr)
	}
}

func TestBuildDefaultArchFromEnv(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", fixedEpoch)
	t.Setenv("GOARCH", "arm64")
	path, _ := build(t, "-f", serviceSpec, "-o", t.TempDir()+"/")
	if !strings.HasSuffix(path, "greeter_1.4.2_arm64.deb") {
		t.Errorf("GOARCH=arm64 built %s", path)
	}
	t.Setenv("GOARCH", "arm")
	var stdout, stderr bytes.Buffer
	err := runBuild(context.Background(), []string{"-f", serviceSpec, "-o", t.TempDir() + "/"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "set GOARM in the environment") {
		t.Errorf("GOARCH=arm without GOARM: %v", err)
	}
}

// TestMakePackage runs scripts/package (what `make package` runs) in a copy
// of the repository's packaging files, with binaries built as the Makefile
// builds them, and checks every package with dpkg-deb, pkgdeb inspect and
// lintian.
func TestMakePackage(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the project's binaries")
	}
	for _, tool := range []string{"go", "bash", "dpkg-deb", "lintian"} {
		testenv.LookTool(t, tool)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	// What the specs may reference besides bin/: packaging files, systemd
	// units and upstart jobs.
	for _, dir := range []string{"packaging", "systemd", "upstart"} {
		if !fileExists(filepath.Join(root, dir)) {
			continue
		}
		if err := os.CopyFS(filepath.Join(tree, dir), os.DirFS(filepath.Join(root, dir))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"scripts/package", "scripts/version"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(tree, "scripts"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	specs, err := filepath.Glob(filepath.Join(tree, "packaging", "*", "pkgdeb.yaml"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("no packaging/*/pkgdeb.yaml: %v", err)
	}
	// Build each spec's binary as `make build` does, from cmd/NAME or
	// examples/NAME.
	args := []string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=0.1.0+git1.abcdef0", "-o", filepath.Join(tree, "bin") + "/"}
	var names []string
	for _, s := range specs {
		name := filepath.Base(filepath.Dir(s))
		names = append(names, name)
		found := false
		for _, dir := range []string{"cmd", "examples"} {
			if fi, err := os.Stat(filepath.Join(root, dir, name)); err == nil && fi.IsDir() {
				args = append(args, "./"+dir+"/"+name)
				found = true
			}
		}
		if !found {
			t.Fatalf("packaging/%s has no cmd/%s or examples/%s to build", name, name, name)
		}
	}
	gobuild := exec.Command("go", args...)
	gobuild.Dir = root
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}

	pkg := exec.Command(filepath.Join(tree, "scripts", "package"), "0.1.0+git1.abcdef0", "dist")
	pkg.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+fixedEpoch)
	out, err := pkg.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/package: %v\n%s", err, out)
	}
	var debs []string
	for _, name := range names {
		deb := filepath.Join(tree, "dist", name+"_0.1.0+git1.abcdef0_"+hostArch(t)+".deb")
		if !fileExists(deb) {
			t.Fatalf("scripts/package did not write %s:\n%s", deb, out)
		}
		info := dpkgDeb(t, "--info", deb)
		contents := dpkgDeb(t, "--contents", deb)
		for _, want := range []string{"Package: " + name, "Version: 0.1.0+git1.abcdef0"} {
			if !strings.Contains(info, want) {
				t.Errorf("%s: dpkg-deb --info lacks %q:\n%s", name, want, info)
			}
		}
		for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/" + name + "\n", "./usr/share/doc/" + name + "/copyright"} {
			if !strings.Contains(contents, want) {
				t.Errorf("%s: dpkg-deb --contents lacks %q:\n%s", name, want, contents)
			}
		}
		if man := regexp.MustCompile(`\./usr/share/man/man([1-9])/` + regexp.QuoteMeta(name) + `\.([1-9])\.gz\n`).FindStringSubmatch(contents); man == nil || man[1] != man[2] {
			t.Errorf("%s: no manual page in the package:\n%s", name, contents)
		}
		for _, unit := range []string{name + ".service", name + "@.service"} {
			if fileExists(filepath.Join(tree, "systemd", unit)) && !strings.Contains(contents, "./usr/lib/systemd/system/"+unit+"\n") {
				t.Errorf("%s: the systemd unit %s is missing:\n%s", name, unit, contents)
			}
		}
		if o, _, err := inspect(deb); err != nil {
			t.Errorf("pkgdeb inspect %s: %v\n%s", deb, err, o)
		}
		debs = append(debs, deb)
	}
	lintianClean(t, debs...)

	// Install, remove and purge with real dpkg in a sandbox root: the
	// maintainer scripts must behave under DPKG_ROOT.
	droot := testenv.DpkgRoot(t)
	for i, name := range names {
		if out, err := testenv.Dpkg(t, droot, "-i", debs[i]); err != nil {
			t.Fatalf("dpkg -i %s: %v\n%s", debs[i], err, out)
		}
		fi, err := os.Stat(filepath.Join(droot, "usr/bin", name))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("installed /usr/bin/%s: %v %v", name, fi, err)
		}
		for _, op := range []string{"-r", "-P"} {
			if out, err := testenv.Dpkg(t, droot, op, name); err != nil {
				t.Errorf("dpkg %s %s: %v\n%s", op, name, err, out)
			}
		}
		if fileExists(filepath.Join(droot, "usr/bin", name)) {
			t.Errorf("/usr/bin/%s still there after purge", name)
		}
	}

	// A spec whose binary was not built: a clear failure.
	if err := os.Remove(filepath.Join(tree, "bin", names[0])); err != nil {
		t.Fatal(err)
	}
	pkg = exec.Command(filepath.Join(tree, "scripts", "package"), "0.1.0", "dist")
	out, err = pkg.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs the binary bin/"+names[0]+", which is missing") {
		t.Errorf("scripts/package without bin/%s: %v\n%s", names[0], err, out)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// hostArch is the Debian architecture pkgdeb picks by default here.
func hostArch(t *testing.T) string {
	t.Helper()
	a, err := deb.Arch(runtime.GOARCH, os.Getenv("GOARM"))
	if err != nil {
		t.Skipf("no Debian architecture for this machine: %v", err)
	}
	if g := os.Getenv("GOARCH"); g != "" {
		t.Skip("GOARCH is set in the environment")
	}
	return a
}
