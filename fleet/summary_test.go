package fleet

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

// windowWait makes h wait for a maintenance window that opens at opens.
func windowWait(h HostStatus, opens time.Time) HostStatus {
	h.Rollout = &HostRollout{Wave: 1, Waves: 1, Percent: 100, Window: "Mon-Fri 09:00-17:00 UTC", WindowOpens: opens,
		Waiting: "outside the maintenance window Mon-Fri 09:00-17:00 UTC; next opens " + opens.Format(time.RFC3339)}
	return h
}

// held makes h held by its service for reason.
func held(h HostStatus, reason string) HostStatus {
	h.Hold = &HostHold{Reason: reason, Since: h.Time, Until: h.Time.Add(30 * time.Minute)}
	return h
}

// TestSummarize: what "deployed" means, decided from status objects
// alone.
func TestSummarize(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cur, old := strings.Repeat("c", 64), strings.Repeat("0", 64)
	ch := release.Address{Bucket: "b", Key: "hello/production.deb"}
	current := &release.Object{VersionID: "v2", Manifest: &release.Manifest{Package: "hello", Version: "2.0", SHA256: cur, Publisher: "ci@build", KeyID: "k1"}}
	host := func(name, version, sha, state string, age time.Duration) HostStatus {
		return HostStatus{Host: name, Version: version, SHA256: sha, State: state, Time: now.Add(-age)}
	}
	target := func(h HostStatus, version, err string) HostStatus {
		h.Target, h.Error = &HostRelease{Version: version}, err
		return h
	}
	tests := []struct {
		name       string
		hosts      []HostStatus
		unreadable map[string]error
		want       Counts
		converged  bool
		verdict    string
	}{
		{"no host yet", nil, nil, Counts{}, false, "no host has reported on s3://b/hello/production.deb yet"},
		{"all on current", []HostStatus{host("a", "2.0", cur, StateOK, time.Minute), host("b", "2.0", cur, StateOK, time.Minute)}, nil,
			Counts{Hosts: 2, Live: 2, OnCurrent: 2}, true, "2/2 hosts on 2.0 (current)"},
		{"a stale host does not count", []HostStatus{host("a", "2.0", cur, StateOK, time.Minute), host("gone", "1.0", old, StateOK, time.Hour)}, nil,
			Counts{Hosts: 2, Live: 1, Stale: 1, OnCurrent: 1}, true, "1/1 live hosts on 2.0 (current); 1 stale: gone"},
		{"only stale hosts", []HostStatus{host("gone", "2.0", cur, StateOK, time.Hour)}, nil,
			Counts{Hosts: 1, Stale: 1}, false, "no live host: all 1 stale (not heard from for 30m0s)"},
		{"one rolled back, one installing", []HostStatus{
			host("a", "2.0", cur, StateOK, time.Minute),
			target(host("b", "1.0", old, StateRolledBack, time.Minute), "2.0", "health: 500"),
			target(host("c", "1.0", old, StateInstalling, time.Minute), "2.0", ""),
		}, nil, Counts{Hosts: 3, Live: 3, OnCurrent: 1, Installing: 1, RolledBack: 1, OtherVersion: 2}, false,
			"1/3 on current 2.0; 1 installing: c; 1 rolled back: b (2.0): health: 500"},
		{"waiting, nothing installed, unreadable", []HostStatus{
			host("a", "1.0", old, StateWaiting, time.Minute),
			host("new", "", "", StateNone, time.Minute),
		}, map[string]error{"broken": errors.New("not JSON")},
			Counts{Hosts: 3, Live: 3, OtherVersion: 1, None: 1, Unreadable: 1}, false,
			"0/3 on current 2.0; 1 waiting for their wave or an update slot: a; 1 unreadable: broken: not JSON; 1 with nothing installed: new"},
		{"waiting for a window, held by the service", []HostStatus{
			windowWait(host("w1", "1.0", old, StateWaiting, time.Minute), now.Add(2*time.Hour)),
			windowWait(host("w2", "1.0", old, StateWaiting, time.Minute), now.Add(time.Hour)),
			held(host("h", "1.0", old, StateHeld, time.Minute), "draining\x1b jobs"),
		}, nil, Counts{Hosts: 3, Live: 3, OtherVersion: 3}, false,
			"0/3 on current 2.0; 2 waiting for a maintenance window (next opens 2026-11-01T13:00:00Z): w1; w2; 1 held by their service: h: draining\x1b jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &FleetStatus{Hosts: tt.hosts, Modified: map[string]time.Time{}, Unreadable: tt.unreadable}
			for h := range tt.unreadable {
				fs.Modified[h] = now
			}
			s := Summarize(ch, current, fs, now, 30*time.Minute)
			if s.Counts != tt.want || s.Converged != tt.converged || s.Verdict != tt.verdict {
				t.Errorf("got %+v converged %v\n  %q\nwant %+v converged %v\n  %q", s.Counts, s.Converged, s.Verdict, tt.want, tt.converged, tt.verdict)
			}
			if s.Current.Publisher != "ci@build" || s.Current.KeyID != "k1" {
				t.Errorf("current %+v: want the manifest's publisher and key id", s.Current)
			}
			if s.Hosts == nil || s.Versions == nil {
				t.Error("hosts and versions must be [] in JSON, not null")
			}
		})
	}
}

// TestSummaryLastSeen: a host's last sign of life is the earlier of its
// own clock and the object's Last-Modified, so a host clock running fast
// does not keep a dead host live.
func TestSummaryLastSeen(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	fs := &FleetStatus{
		Hosts:    []HostStatus{{Host: "fast-clock", State: StateOK, Time: now.Add(time.Hour)}},
		Modified: map[string]time.Time{"fast-clock": now.Add(-time.Hour)},
	}
	s := Summarize(release.Address{Bucket: "b", Key: "k"}, &release.Object{VersionID: "v"}, fs, now, 30*time.Minute)
	if h := s.Hosts[0]; !h.Stale || !h.LastSeen.Equal(now.Add(-time.Hour)) {
		t.Errorf("host with a fast clock: %+v, want stale, last seen an hour ago", h)
	}
}

// TestAddRollout: the wave, progress and halt of the current release.
func TestAddRollout(t *testing.T) {
	published := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := published.Add(90 * time.Minute)
	sha := strings.Repeat("c", 64)
	ro := &Rollout{Policy: Policy{Waves: []float64{10, 50, 100}, WaveInterval: time.Hour, MaxUpdating: 1, HaltAfter: 1}, SHA256: sha, PublishedAt: published}
	cur := &release.Object{VersionID: "v2", Manifest: &release.Manifest{Version: "2.0", SHA256: sha}}
	fs := &FleetStatus{Hosts: []HostStatus{
		{Host: "a", Version: "2.0", SHA256: sha, State: StateOK, Time: now},
		{Host: "b", Version: "1.0", State: StateOK, Time: now},
	}}
	tests := []struct {
		name    string
		rec     RolloutRecords
		halted  bool
		verdict string
	}{
		{"running", RolloutRecords{State: &RolloutState{}, Leases: []LeaseSlot{{Slot: 0, Record: LeaseRecord{Holder: "b", SHA256: sha, Expires: now.Add(time.Minute)}}}},
			false, "1/2 on current 2.0; 1 on another version: b 1.0"},
		{"halted", RolloutRecords{State: &RolloutState{Halted: true, Reason: "1 hosts failed (halt-after 1): c"},
			Failures: []FailureRecord{{Host: "d", Time: published.Add(80 * time.Minute)}, {Host: "c", Time: published.Add(70 * time.Minute)}}},
			true, "HALTED: 1 hosts failed (halt-after 1): c; 1/2 on current 2.0; 1 on another version: b 1.0"},
		{"halted by a record", RolloutRecords{State: &RolloutState{Halted: true, Reason: "halted by ops",
			Record: &HaltRecord{Halted: true, By: "ops", Time: published.Add(75 * time.Minute)}}},
			true, "HALTED: halted by ops; 1/2 on current 2.0; 1 on another version: b 1.0"},
	}
	haltedAt := map[string]time.Time{"halted": published.Add(70 * time.Minute), "halted by a record": published.Add(75 * time.Minute)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(release.Address{Bucket: "b", Key: "k"}, cur, fs, now, time.Hour)
			s.AddRollout(ro, tt.rec, now)
			r := s.Rollout
			if r.Wave != 2 || r.Of != 3 || r.Percent != 50 || !r.WaveStarted.Equal(published.Add(time.Hour)) || r.Live != 2 || r.OnRelease != 1 {
				t.Errorf("rollout %+v", r)
			}
			if r.Halted != tt.halted || s.Verdict != tt.verdict || s.Converged {
				t.Errorf("halted %v verdict %q converged %v; want %v %q", r.Halted, s.Verdict, s.Converged, tt.halted, tt.verdict)
			}
			if !r.HaltedAt.Equal(haltedAt[tt.name]) {
				t.Errorf("halted at %v, want %v", r.HaltedAt, haltedAt[tt.name])
			}
			if want := []time.Time{published, published.Add(time.Hour), published.Add(2 * time.Hour)}; !slices.EqualFunc(r.WaveStarts, want, time.Time.Equal) {
				t.Errorf("wave starts %v, want %v", r.WaveStarts, want)
			}
			if r.Failures == nil || r.Updating == nil {
				t.Error("failures and updating must be [] in JSON, not null")
			}
			if !tt.halted && (len(r.Updating) != 1 || r.Updating[0].Host != "b") {
				t.Errorf("updating %+v", r.Updating)
			}
		})
	}
}

// TestSummaryBounds: the verdict names at most maxNamed hosts per group
// and counts the others; the advice counts live hosts only; past
// maxVersions versions, hosts are counted together.
func TestSummaryBounds(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cur := &release.Object{VersionID: "v2", Manifest: &release.Manifest{Version: "2.0", SHA256: strings.Repeat("c", 64)}}
	var hosts []HostStatus
	for i := range 13 {
		hosts = append(hosts, HostStatus{Host: fmt.Sprintf("f%02d", i), State: StateFailed, Error: "boom", Time: now})
	}
	for i := range 3 {
		hosts = append(hosts, HostStatus{Host: fmt.Sprintf("r%d", i), State: StateRefused, Refusal: RefusedReplay, Time: now.Add(-time.Duration(i) * time.Hour)})
	}
	hosts = append(hosts, held(HostStatus{Host: "held", State: StateHeld, Time: now}, "draining"),
		windowWait(HostStatus{Host: "win", State: StateWaiting, Time: now}, now.Add(time.Hour)))
	// With "(none)" (the hosts above), 999 versions fit; 6 hosts do not.
	for i := range maxVersions + 5 {
		hosts = append(hosts, HostStatus{Host: fmt.Sprintf("v%04d", i), State: StateOK, Version: fmt.Sprint(i), SHA256: fmt.Sprint(i), Time: now})
	}
	s := Summarize(release.Address{Bucket: "b", Key: "k"}, cur, &FleetStatus{Hosts: hosts}, now, 30*time.Minute)
	if want := "; 13 failed: f00: boom; f01: boom; f02: boom; f03: boom; f04: boom; f05: boom; f06: boom; f07: boom; f08: boom; f09: boom; ... and 3 more; "; !strings.Contains(s.Verdict, want) {
		t.Errorf("verdict %q lacks %q", s.Verdict, want)
	}
	if want := (Advice{Refused: map[string]int{RefusedReplay: 1}, Window: 1, Held: 1}); !reflect.DeepEqual(s.Advice, want) {
		t.Errorf("advice %+v, want %+v (stale refused hosts not counted)", s.Advice, want)
	}
	if len(s.Versions) != maxVersions+1 || !slices.ContainsFunc(s.Versions, func(v VersionHosts) bool { return v.Version == otherVersions && v.Hosts == 6 }) {
		t.Errorf("%d versions, want %d with %q counting the rest: %+v", len(s.Versions), maxVersions+1, otherVersions, s.Versions[:3])
	}
}

// TestSummaryBehindWithError: an idle host behind the current release
// with an error (a release it found no room for) is named with it.
func TestSummaryBehindWithError(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sha := strings.Repeat("c", 64)
	cur := &release.Object{VersionID: "v2", Manifest: &release.Manifest{Version: "2.0", SHA256: sha}}
	noRoom := "fetch s3://b/k?versionId=v2: not enough disk space"
	fs := &FleetStatus{Hosts: []HostStatus{
		{Host: "a", Version: "2.0", SHA256: sha, State: StateOK, Time: now},
		{Host: "b", Version: "1.0", State: StateOK, Error: noRoom, Time: now},
		{Host: "c", State: StateNone, Error: noRoom, Time: now},
		{Host: "d", Version: "1.0", State: StateOK, Time: now},
	}}
	s := Summarize(release.Address{Bucket: "b", Key: "k"}, cur, fs, now, time.Hour)
	for _, want := range []string{"b 1.0: " + noRoom, "c: " + noRoom, "d 1.0"} {
		if !strings.Contains(s.Verdict, want) {
			t.Errorf("verdict %q lacks %q", s.Verdict, want)
		}
	}
	if strings.Contains(s.Verdict, "d 1.0:") {
		t.Errorf("verdict %q gives host d an error it does not have", s.Verdict)
	}
}
