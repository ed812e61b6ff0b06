package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dpkgTimeout bounds one dpkg run: a hung maintainer script fails the test
// instead of hanging it.
const dpkgTimeout = 2 * time.Minute

// LookTool returns the path of the program name. Outside CI a missing program
// skips the test; in CI (CI=true) it fails it, so that a broken CI image
// cannot turn real tests into skips.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v (apt-get install dpkg-dev lintian)", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// DpkgRoot creates an empty dpkg sandbox root in a temporary directory: the
// admin directory (var/lib/dpkg with status, available, info, updates,
// triggers) and var/log for --log. It skips (or fails in CI) when dpkg is not
// installed.
func DpkgRoot(t testing.TB) string {
	t.Helper()
	LookTool(t, "dpkg")
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// DpkgArgs returns the arguments that confine dpkg to root: its own database
// and log, maintainer scripts run without chroot (they see DPKG_ROOT=root),
// and --force-not-root when the tests do not run as root.
func DpkgArgs(root string) []string {
	args := []string{"--root=" + root, "--log=" + filepath.Join(root, "var/log/dpkg.log"), "--force-script-chrootless"}
	if os.Geteuid() != 0 {
		args = append(args, "--force-not-root")
	}
	return args
}

// Dpkg runs dpkg confined to the sandbox root (see DpkgArgs) with args, and
// returns its combined output. The host's package database is never touched.
func Dpkg(t testing.TB, root string, args ...string) (string, error) {
	t.Helper()
	bin := LookTool(t, "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), dpkgTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(DpkgArgs(root), args...)...)
	cmd.Env = DpkgEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// DpkgEnv is the environment for dpkg: the caller's, with the sbin
// directories dpkg insists on finding (ldconfig, start-stop-daemon) in PATH.
func DpkgEnv() []string {
	env := os.Environ()
	path := os.Getenv("PATH")
	for _, d := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		if !strings.Contains(":"+path+":", ":"+d+":") {
			path += ":" + d
		}
	}
	return append(env, "PATH="+strings.TrimPrefix(path, ":"))
}
