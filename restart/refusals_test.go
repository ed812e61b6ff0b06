//go:build linux

package restart_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/restart"
)

// TestTableflipRefusals starts a real tableflip process as the new
// generation of this test, which plays a parent that never exits, and
// checks that tableflip refuses an upgrade before Ready and while the
// parent lives with exactly the texts the upgrade loop retries on: if a
// tableflip upgrade changed them, requests would be dropped again.
func TestTableflipRefusals(t *testing.T) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer readyR.Close()
	namesR, namesW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// namesW stays open until the child is done: to tableflip that is a
	// parent which has not exited.
	defer namesW.Close()
	if err := gob.NewEncoder(namesW).Encode([][]string{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.refusals)
	cmd.Env = append(os.Environ(), "TABLEFLIP_HAS_PARENT_7DIU3=yes")
	cmd.ExtraFiles = []*os.File{readyW, namesR} // fds 3 and 4, as tableflip passes them
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readyW.Close()
	namesR.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("refusals: %v\n%s", err, stderr.String())
	}
	got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if !slices.Equal(got, restart.Refusals) {
		t.Errorf("tableflip refused with %q, want %q (the texts restart retries on)", got, restart.Refusals)
	}
}
