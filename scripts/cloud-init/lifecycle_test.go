package cloudinit

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

// TestFirstbootPassesLifecycleHook runs the first-boot script's
// `autoupdate --once` command line (from "status=0" to its "|| status=$?")
// with sh and a stand-in autoupdate that records its arguments: the hook
// and group settings reach it as flags, each one argument whatever it
// holds, and nothing at all when they are empty.
func TestFirstbootPassesLifecycleHook(t *testing.T) {
	script := read(t, "firstboot.sh")
	start := strings.Index(script, "\nstatus=0\n")
	end := strings.Index(script, "|| status=$?")
	if start < 0 || end < start {
		t.Fatal("firstboot.sh: no `status=0 ... autoupdate --once ... || status=$?` block")
	}
	block := script[start:end] + "|| status=$?\n"
	sh := testenv.LookTool(t, "sh")
	tests := []struct {
		hook, group string
		want        []string
	}{
		{"", "", []string{"--once"}},
		{"debfleet-launch", "", []string{"--once", "--lifecycle-hook", "debfleet-launch"}},
		{"debfleet-launch", "web asg", []string{"--once", "--lifecycle-hook", "debfleet-launch", "--lifecycle-group", "web asg"}},
	}
	for _, tt := range tests {
		out := filepath.Join(t.TempDir(), "args")
		prog := "autoupdate() { printf '%s\\n' \"$@\" > \"$OUT\"; }\nLIFECYCLE_HOOK=\"$HOOK\"\nLIFECYCLE_GROUP=\"$GROUP\"\n" + block
		cmd := exec.Command(sh, "-euc", prog)
		cmd.Env = []string{"OUT=" + out, "HOOK=" + tt.hook, "GROUP=" + tt.group, "PATH=" + os.Getenv("PATH")}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sh: %v\n%s", err, b)
		}
		got := strings.Split(strings.TrimSuffix(read(t, out), "\n"), "\n")
		if !slices.Equal(got, tt.want) {
			t.Errorf("hook %q, group %q: autoupdate %q, want %q", tt.hook, tt.group, got, tt.want)
		}
	}
}
