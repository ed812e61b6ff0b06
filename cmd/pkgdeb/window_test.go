package main

import (
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// publish --window signs the windows into the manifest; status names them
// in the policy, shows hosts waiting for them and hosts held by their
// service with their reasons, and says what to do.
func TestStatusWindowAndHold(t *testing.T) {
	f := newFleetEnv(t)
	a := f.channelWith(t, "hello/production.deb", "--window", "mon-fri 09:00-17:00 Europe/London", "--window", "Sat 22:00-02:00 UTC")
	if got := f.cur.Extra["window"]; got != "Mon-Fri 09:00-17:00 Europe/London; Sat 22:00-02:00 UTC" {
		t.Fatalf("the manifest's window field is %q", got)
	}
	if _, ok := f.old.Extra["window"]; ok || len(f.old.Extra) != 0 {
		t.Fatalf("a publish without --window wrote %v", f.old.Extra)
	}
	now := time.Now().UTC().Truncate(time.Second)
	opens := now.Add(3 * time.Hour)
	fc := fleet.New(f.c.Records(), nil)
	target := &fleet.HostRelease{Version: f.cur.Version, SHA256: f.cur.SHA256, VersionID: f.vids["1.1"]}
	for _, st := range []*fleet.HostStatus{
		{Host: "web-1", State: fleet.StateWaiting, Target: target, Rollout: &fleet.HostRollout{Wave: 1, Waves: 1, Percent: 100,
			Window: "Mon-Fri 09:00-17:00 Europe/London; Sat 22:00-02:00 UTC", WindowOpens: opens,
			Waiting: "outside every maintenance window (...); next opens " + opens.Format(time.RFC3339)}},
		{Host: "web-2", State: fleet.StateHeld, Target: target, Hold: &fleet.HostHold{Reason: "draining 3 jobs", Since: now, Until: now.Add(30 * time.Minute)}},
	} {
		st.Package, st.Version, st.SHA256, st.VersionID, st.Since, st.Time = "hello", f.old.Version, f.old.SHA256, f.vids["1.0"], now, now
		if err := fc.PutStatus(t.Context(), a, st); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := relRun(t, "status", a.String())
	for _, want := range []string{
		"in maintenance window Mon-Fri 09:00-17:00 Europe/London; Sat 22:00-02:00 UTC",
		"waiting (window)",
		"next opens " + opens.Format(time.RFC3339),
		"held by the service: draining 3 jobs",
		"1 waiting for a maintenance window (next opens " + opens.Format(time.RFC3339) + "): web-1",
		"1 held by their service: web-2: draining 3 jobs",
		"1 hosts wait for the release's maintenance window",
		"1 hosts are held by their service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("status of a fleet not on the release: exit %d\n%s", code, errs)
	}
}

// --window is checked before anything is uploaded, with an error that
// shows a valid window.
func TestPublishWindowErrors(t *testing.T) {
	f := newFleetEnv(t)
	dst := release.Address{Bucket: f.bucket, Key: "hello/production.deb"}
	deb := relDeb(t, t.TempDir(), "1.0")
	for _, tt := range []struct{ window, want string }{
		{"Mon-Fri 09:00-17:00", "want DAYS HH:MM-HH:MM ZONE"},
		{"Mon-Fri 9:00-17:00 Europe/London", `time "9:00"`},
		{"Mon-Fri 09:00-17:00 Europe/Londn", `time zone "Europe/Londn": unknown`},
		{"Moon 09:00-17:00 UTC", `day "Moon"`},
	} {
		code, out, errs := relRun(t, "publish", deb, dst.String(), "--window", tt.window)
		if code != 2 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "e.g.") {
			t.Errorf("--window %q: exit %d, stderr %q; want 2 and %q\n%s", tt.window, code, errs, tt.want, out)
		}
	}
	if _, err := f.c.Head(t.Context(), dst, ""); err == nil {
		t.Error("a refused --window still published")
	}
}

// promote gives the promoted release other windows, or none; rollback
// carries none unless --respect-window.
func TestPromoteAndRollbackWindows(t *testing.T) {
	f := newFleetEnv(t)
	staging := f.channelWith(t, "hello/staging.deb", "--window", "Sat 10:00-12:00 UTC")
	prod := release.Address{Bucket: f.bucket, Key: "hello/production.deb"}
	window := func(a release.Address) string {
		t.Helper()
		obj, err := f.c.Head(t.Context(), a, "")
		if err != nil {
			t.Fatal(err)
		}
		return obj.Manifest.Extra["window"]
	}
	mustRun(t, "promote", staging.String(), prod.String())
	if got := window(prod); got != "Sat 10:00-12:00 UTC" {
		t.Errorf("promote keeps the source's window: %q", got)
	}
	mustRun(t, "promote", "--force", "--window", "Mon-Fri 09:00-17:00 Europe/London", staging.String(), prod.String())
	if got := window(prod); got != "Mon-Fri 09:00-17:00 Europe/London" {
		t.Errorf("promote --window: %q", got)
	}
	mustRun(t, "promote", "--force", "--no-window", staging.String(), prod.String())
	if got := window(prod); got != "" {
		t.Errorf("promote --no-window: %q", got)
	}
	mustRun(t, "rollback", staging.String(), "--to", "1.0")
	mustRun(t, "rollback", staging.String(), "--to", "1.1")
	if got := window(staging); got != "" {
		t.Errorf("a rollback carries a window: %q", got)
	}
	mustRun(t, "rollback", staging.String(), "--to", "1.0")
	// 1.1 as published (the newest 1.1 is the rollback's copy, without
	// a window).
	mustRun(t, "rollback", staging.String(), "--to", f.vids["1.1"], "--respect-window")
	if got := window(staging); got != "Sat 10:00-12:00 UTC" {
		t.Errorf("rollback --respect-window: %q", got)
	}
	code, _, errs := relRun(t, "rollback", staging.String(), "--to", "1.0", "--respect-window")
	if code != 1 || !strings.Contains(errs, "published without a maintenance window") || !strings.Contains(errs, "--window") {
		t.Errorf("rollback --respect-window to a release without one: exit %d, %q", code, errs)
	}
}
