package main

import (
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// TestWaitOutputTerminal: on a terminal, a bar is redrawn in place at
// every reading, and each change is printed above it on a line of its
// own, with what agents wrote made visible.
func TestWaitOutputTerminal(t *testing.T) {
	var out strings.Builder
	o := &waitOutput{w: &out, tty: true, start: time.Now().Add(-12 * time.Second)}
	s := &fleet.Summary{Channel: "s3://b/hello.deb", Current: fleet.CurrentRelease{VersionID: "v2", Package: "hello", Version: "1.1"},
		Counts: fleet.Counts{Live: 4, OnCurrent: 1, Stale: 1}, Rollout: &fleet.RolloutSummary{Wave: 2, Of: 3}}
	p := &fleet.Progress{Summary: s, Time: time.Now(), Failed: []fleet.HostSummary{{}}}
	o.reading(p)
	bar := "\r\x1b[K[#######.......................] 1/4 live hosts on hello 1.1 | wave 2/3 | 1 failed | 1 stale | 12s"
	if out.String() != bar {
		t.Fatalf("bar %q, want %q", out.String(), bar)
	}
	out.Reset()
	o.event(fleet.WaitEvent{Event: fleet.EventHostFailed, Elapsed: 12, OnRelease: 1, Live: 4, Release: fleet.WaitRelease{Package: "hello", Version: "1.1"},
		Host: &fleet.WaitHost{Host: "web\x1b[2J", State: "rolled-back", Error: "health\rcheck"}})
	want := "\r\x1b[K[  12s] web\\x1b[2J rolled-back hello 1.1: health\\rcheck; 1/4 live hosts on it\n" + bar
	if out.String() != want {
		t.Errorf("event %q\nwant  %q", out.String(), want)
	}
	out.Reset()
	o.close()
	if out.String() != "\n" {
		t.Errorf("close wrote %q, want the bar's line ended", out.String())
	}
}
