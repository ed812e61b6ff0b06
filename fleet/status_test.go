package fleet

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/release"
)

func TestStatusObjects(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	type status struct {
		Host, Version, State string
	}
	for _, host := range []string{"web-1", "web-2"} {
		if err := c.putJSON(testCtx(t), StatusAddress(ch, host), status{host, "1.0", "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// Overwrite: the last writer wins.
	if err := c.putJSON(testCtx(t), StatusAddress(ch, "web-2"), status{"web-2", "1.1", "failed"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListStatus(testCtx(t), ch)
	if err != nil || len(list) != 2 || list[0].Host != "web-1" || list[1].Host != "web-2" {
		t.Fatalf("ListStatus: %+v, %v", list, err)
	}
	var got status
	if err := c.getJSON(testCtx(t), list[1].Addr, &got); err != nil || got.State != "failed" || got.Version != "1.1" {
		t.Errorf("GetJSON: %+v, %v", got, err)
	}
	if err := c.getJSON(testCtx(t), StatusAddress(ch, "web-3"), &got); !errors.Is(err, release.ErrNotFound) {
		t.Errorf("missing status: %v", err)
	}
}

// TestReadStatus: HostStatus round-trips through PutStatus and ReadStatus;
// a broken object is reported, not fatal; the key, not the document,
// names the host.
func TestReadStatus(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "app/fleet.deb"}
	now := time.Now().UTC().Truncate(time.Second)
	want := HostStatus{Host: "web-1", Package: "app", Version: "1.0", SHA256: "ab", VersionID: "v1", State: StateRolledBack,
		Target: &HostRelease{Version: "1.1", SHA256: "cd", VersionID: "v2"}, Error: "health: 500", Since: now, Time: now}
	if err := c.PutStatus(testCtx(t), ch, &want); err != nil {
		t.Fatal(err)
	}
	liar := HostStatus{Host: "web-1", Package: "app", State: StateOK, Since: now, Time: now}
	if err := c.putJSON(testCtx(t), StatusAddress(ch, "web-2"), &liar); err != nil {
		t.Fatal(err)
	}
	broken := StatusAddress(ch, "web-3")
	if _, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &broken.Bucket, Key: &broken.Key, Body: strings.NewReader("{not json")}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutStatus(testCtx(t), ch, &HostStatus{}); err == nil {
		t.Error("PutStatus without a host name succeeded")
	}
	fs, err := c.ReadStatus(testCtx(t), ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.Hosts) != 2 || fs.Hosts[0].Host != "web-1" || fs.Hosts[1].Host != "web-2" {
		t.Fatalf("hosts %+v", fs.Hosts)
	}
	got := fs.Hosts[0]
	if got.Target == nil || *got.Target != *want.Target || got.Error != want.Error || !got.Time.Equal(now) || got.State != StateRolledBack {
		t.Errorf("round trip: %+v, want %+v", got, want)
	}
	if fs.Unreadable["web-3"] == nil || len(fs.Unreadable) != 1 {
		t.Errorf("unreadable: %v", fs.Unreadable)
	}
	if len(fs.Modified) != 3 || fs.Modified["web-3"].IsZero() {
		t.Errorf("modified: %v", fs.Modified)
	}
	if k := StatusAddress(ch, "../../etc").Key; k != "app/fleet.deb.status/etc.json" {
		t.Errorf("StatusAddress does not keep the host inside the prefix: %s", k)
	}
	empty, err := c.ReadStatus(testCtx(t), release.Address{Bucket: ch.Bucket, Key: "app/none.deb"})
	if err != nil || len(empty.Hosts) != 0 {
		t.Errorf("no hosts: %+v, %v", empty, err)
	}
}

// A host's state as people read it, and why it is not on its target.
func TestHostStatusLabelAndReason(t *testing.T) {
	until := time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name         string
		st           HostStatus
		label, cause string
	}{
		{"ok", HostStatus{State: StateOK}, "ok", ""},
		{"failed", HostStatus{State: StateFailed, Error: "health: 500"}, "failed", "health: 500"},
		{"waiting for a wave", HostStatus{State: StateWaiting, Rollout: &HostRollout{Waiting: "wave 1/3 does not cover"}}, "waiting", "wave 1/3 does not cover"},
		{"waiting for a window", HostStatus{State: StateWaiting, Rollout: &HostRollout{Waiting: "outside", Window: "* 02:00-04:00 UTC"}}, "waiting (window)", "outside"},
		{"halted", HostStatus{State: StateHalted, Rollout: &HostRollout{Halted: "by ops"}}, "halted", "by ops"},
		{"held", HostStatus{State: StateHeld, Hold: &HostHold{Reason: "draining", Until: until}}, "held", "held by the service: draining (until 2026-12-02T10:30:00Z at most)"},
		{"installed after max-hold", HostStatus{State: StateOK, Hold: &HostHold{Reason: "draining", Since: until.Add(-30 * time.Minute), Until: until, Expired: true}},
			"ok", "held by the service since 2026-12-02T10:00:00Z (draining); max-hold ran out at 2026-12-02T10:30:00Z, updated anyway"},
	}
	for _, tt := range tests {
		if got := tt.st.StateLabel(); got != tt.label {
			t.Errorf("%s: StateLabel %q, want %q", tt.name, got, tt.label)
		}
		if got := tt.st.Reason(); got != tt.cause {
			t.Errorf("%s: Reason %q, want %q", tt.name, got, tt.cause)
		}
	}
}
