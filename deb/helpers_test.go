package deb_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// testSpec is a minimal valid spec.
func testSpec() *deb.Spec {
	return &deb.Spec{
		Control: deb.Control{
			Package:      "hello",
			Version:      "1.0.0-1",
			Architecture: "amd64",
			Maintainer:   "Debfleet Tests <tests@example.com>",
			Synopsis:     "test package",
			Description:  "A package built by the deb tests.",
		},
		ModTime: time.Unix(1700000000, 0),
	}
}

// buildFile builds spec into a .deb in a temporary directory.
func buildFile(t testing.TB, spec *deb.Spec) (string, *deb.Result) {
	t.Helper()
	p := filepath.Join(t.TempDir(), spec.Control.Filename())
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := deb.Build(t.Context(), f, spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, res
}

// lookTool finds a program the test needs (see testenv.LookTool).
func lookTool(t testing.TB, name string) string {
	t.Helper()
	return testenv.LookTool(t, name)
}

// runTool runs a program with a time limit and returns its combined output.
func runTool(t testing.TB, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = realparts.DpkgEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
