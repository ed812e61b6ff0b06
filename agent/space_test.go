//go:build linux

package agent

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
)

// TestAgentWithoutRoom: a release that does not fit in the state
// directory's file system fails check after check as disk-full, logged
// once and naming the directory, takes no byte of the disk (read while
// the checks go on; that no check fills it at any instant is
// release.TestFetchWithoutRoom's), and installs the release at the first
// check after room is made.
func TestAgentWithoutRoom(t *testing.T) {
	ch := newChannel(t)
	h := newHost(t)
	h.inst.Service = nil
	debs := filepath.Join(h.stateDir, "debs")
	testenv.SmallDisk(t, debs, "256k")
	free := testenv.FreeBytes(t, debs)

	bin := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(bin, randomData(1<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	ch.publish(t, manifest(t, testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0", Bin: bin}), time.Now()))

	run := runUntilFailing(t, ch, h, ch.client)
	if now := testenv.FreeBytes(t, debs); now != free {
		t.Errorf("%d bytes free while checks fail, want all %d", now, free)
	}
	testenv.GrowDisk(t, debs, "8m")
	if out := run.recover(t, ch, "kind=disk-full"); !strings.Contains(out, debs) {
		t.Errorf("the log does not name %s:\n%s", debs, out)
	}
}

// randomData is n incompressible bytes.
func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return b
}
