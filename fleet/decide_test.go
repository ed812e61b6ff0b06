package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostAt finds a host name whose place in r is below (under true) or at
// or above percent.
func hostAt(t *testing.T, r *Rollout, percent float64, under bool) string {
	t.Helper()
	for i := range 10000 {
		h := fmt.Sprintf("web-%d", i)
		if (r.Place(h) < percent) == under {
			return h
		}
	}
	t.Fatalf("no host %v %.0f%%", under, percent)
	return ""
}

func TestReach(t *testing.T) {
	published := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	r := &Rollout{Policy: Policy{Waves: []float64{10, 50, 100}, WaveInterval: time.Hour}, SHA256: strings.Repeat("ab", 32), PublishedAt: published}
	early, late := hostAt(t, r, 10, true), hostAt(t, r, 50, false)
	tests := []struct {
		name    string
		host    string
		now     time.Time
		want    Verdict
		because string
	}{
		{"first wave covers its hosts", early, published, Adopt, ""},
		{"clock behind the publisher: first wave", early, published.Add(-time.Hour), Adopt, ""},
		{"second wave's host waits during the first", late, published.Add(30 * time.Minute), Wait, "wave 1/3 (10%) does not cover this host"},
		{"last wave covers every host", late, published.Add(2 * time.Hour), Adopt, ""},
		{"waves end at 100%", late, published.Add(50 * time.Hour), Adopt, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := r.Reach(tt.host, tt.now)
			if d.Verdict != tt.want || !strings.Contains(d.Reason, tt.because) {
				t.Errorf("Reach(%s at %v) = %+v, want %s %q", tt.host, tt.now, d, tt.want, tt.because)
			}
		})
	}
}

func TestHalted(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rec  *HaltRecord
		want Decision
	}{
		{"no record", nil, Decision{Adopt, ""}},
		{"resumed", &HaltRecord{By: "ops", Time: at, Reason: "fixed"}, Decision{Adopt, ""}},
		{"halted by hand", &HaltRecord{Halted: true, By: "ops", Time: at, Reason: "bad canary"}, Decision{Halt, "halted by ops at 2026-11-01T12:00:00Z: bad canary"}},
	}
	for _, tt := range tests {
		if got := Halted(tt.rec); got != tt.want {
			t.Errorf("%s: Halted = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestSlotsAndNoSlot(t *testing.T) {
	tests := []struct {
		maxUpdating, haltAfter int
		slots                  int
		reason                 string
	}{
		{0, 0, 0, ""},
		{3, 0, 3, "no free update slot of 3 (max-updating 3)"},
		{0, 2, 2, "no free update slot of 2 (halt-after 2)"},
		{5, 2, 2, "no free update slot of 2 (max-updating 5, halt-after 2)"},
		{1, 4, 1, "no free update slot of 1 (max-updating 1, halt-after 4)"},
	}
	for _, tt := range tests {
		r := &Rollout{Policy: Policy{Waves: []float64{100}, MaxUpdating: tt.maxUpdating, HaltAfter: tt.haltAfter}}
		if got := r.Slots(); got != tt.slots {
			t.Errorf("max-updating %d, halt-after %d: %d slots, want %d", tt.maxUpdating, tt.haltAfter, got, tt.slots)
		}
		if tt.slots == 0 {
			continue
		}
		if d := r.NoSlot(); d.Verdict != Wait || d.Reason != tt.reason {
			t.Errorf("max-updating %d, halt-after %d: NoSlot = %+v, want %q", tt.maxUpdating, tt.haltAfter, d, tt.reason)
		}
	}
}

func TestMayTry(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sha, other := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	r := &Rollout{Policy: Policy{Waves: []float64{100}, HaltAfter: 2}, SHA256: sha}
	lease := func(slot int, holder, sha string, expires time.Time) LeaseSlot {
		return LeaseSlot{Slot: slot, Record: LeaseRecord{Holder: holder, SHA256: sha, Expires: expires}}
	}
	live, expired := now.Add(time.Minute), now.Add(-time.Second)
	tests := []struct {
		name   string
		st     RolloutState
		leases []LeaseSlot
		want   Verdict
		reason string
	}{
		{"nobody failed or tries", RolloutState{}, []LeaseSlot{lease(0, "me", sha, live)}, Adopt, ""},
		{"one failed: this host is the last allowed", RolloutState{FailedHosts: []string{"a"}}, nil, Adopt, ""},
		{"one failed, one trying", RolloutState{FailedHosts: []string{"a"}}, []LeaseSlot{lease(0, "me", sha, live), lease(1, "b", sha, live)}, Wait,
			"1 hosts failed this release and 1 are trying it; halt-after 2: waiting for them"},
		{"two trying", RolloutState{}, []LeaseSlot{lease(1, "b", sha, live), lease(2, "c", sha, live)}, Wait, "0 hosts failed this release and 2 are trying it"},
		{"expired leases do not count", RolloutState{FailedHosts: []string{"a"}}, []LeaseSlot{lease(1, "b", sha, expired)}, Adopt, ""},
		{"leases on another release do not count", RolloutState{FailedHosts: []string{"a"}}, []LeaseSlot{lease(1, "b", other, live)}, Adopt, ""},
		{"forgiven failures do not count", RolloutState{FailedHosts: []string{"a", "b", "c"}, Record: &HaltRecord{Forgiven: 2}}, nil, Adopt, ""},
		{"halted by failures", RolloutState{Halted: true, Reason: "2 hosts failed (halt-after 2): a, b"}, nil, Halt, "2 hosts failed (halt-after 2): a, b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := r.MayTry(&tt.st, tt.leases, 0, now)
			if d.Verdict != tt.want || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("MayTry = %+v, want %s %q", d, tt.want, tt.reason)
			}
		})
	}
}

func TestPosition(t *testing.T) {
	published := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	r := &Rollout{Policy: Policy{Waves: []float64{10, 100}, WaveInterval: time.Hour}, SHA256: strings.Repeat("ab", 32), PublishedAt: published}
	late := hostAt(t, r, 10, false)
	hr := r.Position(late, published.Add(time.Minute))
	if hr.Wave != 1 || hr.Waves != 2 || hr.Percent != 10 || hr.Place < 10 || !hr.CoveredAt.Equal(published.Add(time.Hour)) {
		t.Errorf("Position in the first wave: %+v", hr)
	}
	if hr := r.Position(late, published.Add(2*time.Hour)); hr.Wave != 2 || hr.Percent != 100 {
		t.Errorf("Position in the last wave: %+v", hr)
	}
}

func TestFailureHalt(t *testing.T) {
	sha, other := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	byFailures := &RolloutState{SHA256: sha, Halted: true, Reason: "2 hosts failed (halt-after 2): a, b", FailedHosts: []string{"a", "b"}}
	if h := FailureHaltOf(&RolloutState{SHA256: sha}); h != nil {
		t.Errorf("FailureHaltOf a running release = %+v", h)
	}
	if h := FailureHaltOf(&RolloutState{SHA256: sha, Halted: true, Record: &HaltRecord{Halted: true}}); h != nil {
		t.Errorf("FailureHaltOf a release its halt record halts = %+v", h)
	}
	h := FailureHaltOf(byFailures)
	tests := []struct {
		name string
		sha  string
		rec  *HaltRecord
		want Verdict
	}{
		{"still no record", sha, nil, Halt},
		{"another release", other, nil, Adopt},
		{"resumed: failures forgiven", sha, &HaltRecord{Forgiven: 2}, Adopt},
	}
	for _, tt := range tests {
		if d := h.Stands(tt.sha, tt.rec); d.Verdict != tt.want || (tt.want == Halt && d.Reason != byFailures.Reason) {
			t.Errorf("%s: Stands = %+v, want %s", tt.name, d, tt.want)
		}
	}
	resumed := FailureHaltOf(&RolloutState{SHA256: sha, Halted: true, Reason: "again", Record: &HaltRecord{Forgiven: 2}})
	if d := resumed.Stands(sha, &HaltRecord{Forgiven: 2}); d.Verdict != Halt {
		t.Errorf("halted again after a resume: %+v", d)
	}
	var none *FailureHalt
	if d := none.Stands(sha, nil); d.Verdict != Adopt {
		t.Errorf("no halt remembered: %+v", d)
	}
}
