//go:build linux

package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testbytes"
	"github.com/debfleet/debfleet/internal/testenv"
)

// TestAgentWithoutRoom: a release that does not fit in the state
// directory's file system fails check after check as disk-full, logged
// once and naming the directory, and takes no byte of the disk (read
// while the checks go on; that no check fills it at any instant is
// release.TestFetchWithoutRoom's). The host's status says so: its
// installed release, the one it cannot fetch as target, and why; the
// channel going back to the installed release clears it. The release is
// installed at the first check after room is made.
func TestAgentWithoutRoom(t *testing.T) {
	ch := newChannel(t)
	h := newHost(t)
	h.inst.Service = nil
	debs := filepath.Join(h.stateDir, "debs")
	testenv.SmallDisk(t, debs, "512k")
	small := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "1.0"})
	bin := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(bin, testbytes.Random(1<<20, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	big := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: "2.0", Bin: bin})
	t0 := time.Now()
	ch.publish(t, manifest(t, small, t0))
	first, err := New(fastConfig(ch, h, ch.client, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Once(t.Context()); err != nil {
		t.Fatalf("install 1.0, which fits: %v", err)
	}
	free := testenv.FreeBytes(t, debs)

	ch.publish(t, manifest(t, big, t0.Add(time.Second)))
	run := runUntilFailing(t, ch, h, ch.client)
	if now := testenv.FreeBytes(t, debs); now != free {
		t.Errorf("%d bytes free while checks fail, want all %d", now, free)
	}
	waitStatus(t, run, ch, "the lack of room reported", func(st *Status) bool {
		return st.State == "ok" && st.Version == "1.0" && st.Target != nil && st.Target.Version == "2.0" &&
			strings.Contains(st.Error, "not enough disk space") && strings.Contains(st.Error, debs)
	})
	ch.publish(t, manifest(t, small, t0.Add(2*time.Second)))
	waitStatus(t, run, ch, "cleared when the channel is back on 1.0", func(st *Status) bool {
		return st.State == "ok" && st.Version == "1.0" && st.Target == nil && st.Error == ""
	})
	ch.publish(t, manifest(t, big, t0.Add(3*time.Second)))
	waitStatus(t, run, ch, "reported again", func(st *Status) bool { return st.Target != nil && st.Error != "" })
	testenv.GrowDisk(t, debs, "8m")
	waitStatus(t, run, ch, "2.0 installed once there is room", func(st *Status) bool {
		return st.State == "ok" && st.Version == "2.0" && st.Error == ""
	})
	if err := run.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if out := run.logs.String(); !strings.Contains(out, "kind=disk-full") || !strings.Contains(out, debs) {
		t.Errorf("the log does not say disk-full, naming %s:\n%s", debs, out)
	}
}

// waitStatus waits for web-3's status object to satisfy ok.
func waitStatus(t *testing.T, run *failingRun, ch *channel, what string, ok func(*Status) bool) {
	t.Helper()
	if err := realparts.WaitFor(run.ctx, what, func() bool {
		st := ch.tryStatus(t, "web-3")
		return st != nil && ok(st)
	}); err != nil {
		t.Fatalf("%v: status %+v\n%s", err, ch.tryStatus(t, "web-3"), run.logs.String())
	}
}
