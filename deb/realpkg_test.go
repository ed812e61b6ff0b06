package deb_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
)

// realPackages are small Debian packages (about 5 MB together) between them
// holding hard links (gzip, perl-base, bzip2), many symlinks (tzdata,
// xz-utils, passwd), conffiles (base-files, netbase, login, passwd,
// ncurses-base), setuid files (login, passwd) and xz members. No versions:
// apt-get download takes the candidate.
var realPackages = []string{
	"gzip", "perl-base", "bzip2", "xz-utils", "sed", "base-files", "netbase", "tzdata",
	"debianutils", "login", "passwd", "ncurses-base", "hostname", "ca-certificates",
}

// realPackageCache is where downloaded packages are kept between runs
// (the repository's .cache/, which git ignores).
var realPackageCache = filepath.Join("..", ".cache", "debian-packages")

// Real Debian packages read as dpkg sees them: md5sums verify, the entries
// are dpkg-deb -c's, entry for entry, and the control fields and conffiles
// are dpkg-deb's.
func TestReadRealDebianPackages(t *testing.T) {
	for _, path := range aptDownload(t, realPackages) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			pkg, err := deb.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := pkg.Verify(); err != nil {
				t.Error(err)
			}
			checkListing(t, path, pkg)
			var control strings.Builder
			for _, f := range pkg.Fields {
				fmt.Fprintf(&control, "%s: %s\n", f.Name, f.Value)
			}
			if want := dpkgDebRun(t, "-f", path); control.String() != want {
				t.Errorf("control fields:\n%s\ndpkg-deb -f:\n%s", control.String(), want)
			}
			var conffiles strings.Builder
			for _, c := range pkg.Conffiles {
				conffiles.WriteString(c + "\n")
			}
			if want := dpkgDebInfo(t, path, "conffiles"); conffiles.String() != want {
				t.Errorf("conffiles %q, dpkg-deb -I %q", conffiles.String(), want)
			}
		})
	}
}

// dpkgDebInfo returns the control member name as dpkg-deb -I prints it, ""
// when the package has none.
func dpkgDebInfo(t *testing.T, path, name string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), lookTool(t, "dpkg-deb"), "-I", path, name)
	cmd.Env = realparts.DpkgEnv()
	out, err := cmd.Output()
	if err != nil {
		return "" // dpkg-deb -I fails on a member the package lacks
	}
	return string(out)
}

// aptDownload returns the paths of the candidate versions of names, fetching
// into realPackageCache those not there yet with apt-get download. Without
// apt (or its package lists) the test is skipped, or fails in CI (CI=true).
func aptDownload(t *testing.T, names []string) []string {
	t.Helper()
	aptGet := lookTool(t, "apt-get")
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; in CI apt must reach Debian's archive (apt-get update)", msg)
		}
		t.Skipf("%s; run apt-get update (as root) to have this test fetch real packages", msg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// --print-uris names the candidate files without fetching them, so a
	// warm cache costs no download and a new candidate is fetched.
	out, err := exec.CommandContext(ctx, aptGet, append([]string{"download", "--print-uris"}, names...)...).CombinedOutput()
	if err != nil {
		unavailable("apt-get download --print-uris: %v\n%s", err, out)
	}
	var paths []string
	var missing []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// 'URI' FILENAME SIZE HASH
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[1], ".deb") {
			t.Fatalf("apt-get download --print-uris: unexpected line %q", line)
		}
		p := filepath.Join(realPackageCache, f[1])
		paths = append(paths, p)
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, strings.SplitN(f[1], "_", 2)[0])
		}
	}
	if len(paths) != len(names) {
		t.Fatalf("apt-get download --print-uris named %d files for %d packages:\n%s", len(paths), len(names), out)
	}
	if len(missing) == 0 {
		return paths
	}
	if err := os.MkdirAll(realPackageCache, 0o755); err != nil {
		t.Fatal(err)
	}
	// Fetch into a fresh directory and move each file into place, so an
	// interrupted download never leaves a partial .deb in the cache.
	tmp, err := os.MkdirTemp(realPackageCache, "download-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// As root, apt drops to _apt to write the files; it warns and writes
	// them itself when _apt may not enter the directory.
	os.Chmod(tmp, 0o755)
	cmd := exec.CommandContext(ctx, aptGet, append([]string{"download"}, missing...)...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable("apt-get download %s: %v\n%s", strings.Join(missing, " "), err, out)
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(realPackageCache, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("apt-get download did not fetch %s: %v", filepath.Base(p), err)
		}
	}
	return paths
}
