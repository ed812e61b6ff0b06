//go:build linux

package agent

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// TestAgentWithoutRoom: a release that does not fit in the state
// directory's file system fails check after check as disk-full, logged
// once and naming the directory, leaves no byte of the disk taken
// between checks, and is installed at the first check after room is
// made. (That no check fills the disk while it runs is
// release.TestFetchWithoutRoom's.)
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

	var logs realparts.SyncBuffer
	a, err := New(Config{
		Channel: ch.addr, Releases: ch.client, Fleet: fleetOf(ch.client), Package: "hello", Host: "web-3", Report: true, AllowUnsigned: true,
		Interval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Installer: h.inst, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	if err := realparts.WaitFor(ctx, "failed checks", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.metrics.checkFailures >= 5 }); err != nil {
		t.Fatal(err)
	}
	if now := testenv.FreeBytes(t, debs); now != free {
		t.Errorf("%d bytes free between failed checks, want all %d", now, free)
	}
	testenv.GrowDisk(t, debs, "8m")
	if err := realparts.WaitFor(ctx, "install once there is room", func() bool {
		st := ch.tryStatus(t, "web-3")
		return st != nil && st.State == "ok" && st.Version == "1.0"
	}); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, "release check failing"); n != 1 || !strings.Contains(out, "kind=disk-full") || !strings.Contains(out, debs) {
		t.Errorf("logged the failure %d times, want once, as disk-full, naming %s:\n%s", n, debs, out)
	}
	if n := strings.Count(out, "release check recovered"); n != 1 {
		t.Errorf("logged the recovery %d times, want once:\n%s", n, out)
	}
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return b
}
