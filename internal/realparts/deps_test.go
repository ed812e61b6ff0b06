package realparts

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestCommandsDoNotLinkTesting: the commands and the drivers under
// internal/cmd (the demo, the benchmarks and their peers) use this package
// instead of internal/testenv, so that none of them links the testing
// package (with its flags and its fake-a-testing.TB temptations). A testing
// import added anywhere below them fails here.
func TestCommandsDoNotLinkTesting(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("go command not found: %v", err)
	}
	mains := []string{
		"github.com/debfleet/debfleet/cmd/...",
		"github.com/debfleet/debfleet/internal/cmd/...",
		"github.com/debfleet/debfleet/internal/realparts",
	}
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list", "-deps"}, mains...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	if slices.Contains(deps, "testing") {
		t.Errorf("%s link the testing package; find who imports it with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' %s | grep -w testing", strings.Join(mains, " "), strings.Join(mains, " "))
	}
}
