package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
)

// dpkgTimeout bounds one dpkg run: a hung maintainer script fails the test
// instead of hanging it.
const dpkgTimeout = 2 * time.Minute

// LookTool returns the path of the program name. Outside CI a missing program
// skips the test; in CI (CI=true) it fails it, so that a broken CI image
// cannot turn real tests into skips.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	return lookTool(t, name, "dpkg-dev lintian")
}

// lookTool is LookTool naming the Debian packages that install name.
func lookTool(t testing.TB, name, debs string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v (apt-get install %s)", name, err, debs)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// DpkgRoot creates an empty dpkg sandbox root in a temporary directory
// (realparts.MakeDpkgRoot). It skips (or fails in CI) when dpkg is not
// installed.
func DpkgRoot(t testing.TB) string {
	t.Helper()
	LookTool(t, "dpkg")
	root := t.TempDir()
	if err := realparts.MakeDpkgRoot(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// Dpkg runs dpkg confined to the sandbox root (see realparts.DpkgArgs) with args, and
// returns its combined output. The host's package database is never touched.
func Dpkg(t testing.TB, root string, args ...string) (string, error) {
	t.Helper()
	bin := LookTool(t, "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), dpkgTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(realparts.DpkgArgs(root), args...)...)
	cmd.Env = realparts.DpkgEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}
