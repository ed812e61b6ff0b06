package fleet

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

var (
	shaNew = strings.Repeat("a", 64)
	shaOld = strings.Repeat("b", 64)
)

// waitHostStatus is a live host's status in a wait test: installed
// version ("new", "old", ""), state, and the target of its last change.
func waitHostStatus(name, installed, state, target string) HostStatus {
	sha := map[string]string{"new": shaNew, "old": shaOld}
	h := HostStatus{Host: name, Package: "hello", State: state, Time: time.Now()}
	if installed != "" {
		h.Version, h.SHA256 = "1."+installed, sha[installed]
	}
	if target != "" {
		h.Target = &HostRelease{Version: "1." + target, SHA256: sha[target]}
	}
	if state == StateRolledBack || state == StateFailed || state == StateRefused {
		h.Error = "health check failed"
	}
	return h
}

// waitSummary summarizes hosts for the release with shaNew, at now.
func waitSummary(hosts ...HostStatus) *Summary {
	now := time.Now()
	fs := &FleetStatus{Hosts: hosts, Modified: map[string]time.Time{}}
	cur := &release.Object{VersionID: "v2", Manifest: &release.Manifest{Package: "hello", Version: "1.new", SHA256: shaNew}}
	return Summarize(release.Address{Bucket: "b", Key: "hello.deb"}, cur, fs, now, time.Hour)
}

func TestWaitOutcome(t *testing.T) {
	target := Target{VersionID: "v2", SHA256: shaNew}
	tests := []struct {
		name      string
		hosts     []HostStatus
		halted    bool
		keepGoing bool
		want      WaitOutcome
		failed    []string
		behind    []string
	}{
		{"all on the release", []HostStatus{waitHostStatus("a", "new", StateOK, ""), waitHostStatus("b", "new", StateOK, "")}, false, false, Deployed, nil, nil},
		{"one installing", []HostStatus{waitHostStatus("a", "new", StateOK, ""), waitHostStatus("b", "old", StateInstalling, "new")}, false, false, "", nil, []string{"b"}},
		{"no host yet", nil, false, false, "", nil, nil},
		{"one rolled back", []HostStatus{waitHostStatus("a", "old", StateRolledBack, "new"), waitHostStatus("b", "old", StateInstalling, "new")}, false, false, Failed, []string{"a"}, []string{"b"}},
		{"one rolled back, keep going", []HostStatus{waitHostStatus("a", "old", StateRolledBack, "new"), waitHostStatus("b", "old", StateInstalling, "new")}, false, true, "", []string{"a"}, []string{"b"}},
		{"all settled, keep going", []HostStatus{waitHostStatus("a", "old", StateRolledBack, "new"), waitHostStatus("b", "new", StateOK, "")}, false, true, Failed, []string{"a"}, nil},
		{"refused", []HostStatus{waitHostStatus("a", "old", StateRefused, "new")}, false, false, Failed, []string{"a"}, nil},
		// A host that rolled back an earlier release and runs the
		// target: on it, not failed (the rollback --wait case).
		{"rolled back another release, runs this one", []HostStatus{waitHostStatus("a", "new", StateRolledBack, "old")}, false, false, Deployed, nil, nil},
		{"rolled back another release, runs an older one", []HostStatus{waitHostStatus("a", "", StateFailed, "old")}, false, false, "", nil, []string{"a"}},
		{"halted", []HostStatus{waitHostStatus("a", "new", StateOK, ""), waitHostStatus("b", "old", StateHalted, "new")}, true, false, HaltedOutcome, nil, []string{"b"}},
		{"halted wins over keep going", []HostStatus{waitHostStatus("b", "old", StateHalted, "new")}, true, true, HaltedOutcome, nil, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := waitSummary(tt.hosts...)
			if tt.halted {
				s.AddRollout(&Rollout{Policy: DefaultPolicy(), SHA256: shaNew}, RolloutRecords{State: &RolloutState{Halted: true, Reason: "halted by ops"}}, time.Now())
			}
			p := target.Progress(s)
			if got := p.Outcome(tt.keepGoing); got != tt.want {
				t.Errorf("outcome %q, want %q (%s)", got, tt.want, s.Verdict)
			}
			if got := names(p.Failed); !slices.Equal(got, tt.failed) {
				t.Errorf("failed %v, want %v", got, tt.failed)
			}
			if got := names(p.Behind); !slices.Equal(got, tt.behind) {
				t.Errorf("behind %v, want %v", got, tt.behind)
			}
		})
	}
}

func names(hs []HostSummary) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Host)
	}
	return out
}

func TestTargetIs(t *testing.T) {
	obj := func(vid, sha string) *release.Object {
		o := &release.Object{VersionID: vid}
		if sha != "" {
			o.Manifest = &release.Manifest{SHA256: sha}
		}
		return o
	}
	tests := []struct {
		name   string
		target Target
		obj    *release.Object
		want   bool
	}{
		{"same version", Target{"v1", shaNew}, obj("v1", shaNew), true},
		{"same bytes re-signed (a rollback to it)", Target{"v1", shaNew}, obj("v2", shaNew), true},
		{"another release", Target{"v1", shaNew}, obj("v2", shaOld), false},
		{"plain upload, same version", Target{"v1", ""}, obj("v1", ""), true},
		{"plain upload, another version", Target{"v1", ""}, obj("v2", ""), false},
		{"plain upload replaced by a release", Target{"v1", ""}, obj("v2", shaNew), false},
	}
	for _, tt := range tests {
		if got := tt.target.Is(tt.obj); got != tt.want {
			t.Errorf("%s: Is = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestWaitEvents: one event per change, started first; unchanged hosts
// give none.
func TestWaitEvents(t *testing.T) {
	target := Target{VersionID: "v2", SHA256: shaNew}
	start := time.Now().Add(-5 * time.Second)
	p0 := target.Progress(waitSummary(waitHostStatus("a", "old", StateOK, ""), waitHostStatus("b", "old", StateOK, "")))
	p1 := target.Progress(waitSummary(waitHostStatus("a", "new", StateOK, ""), waitHostStatus("b", "old", StateInstalling, "new")))
	kinds := func(es []WaitEvent) []string {
		var k []string
		for _, e := range es {
			k = append(k, e.Event+":"+hostOf(e))
		}
		return k
	}
	if got := kinds(WaitEvents(nil, p0, start)); !slices.Equal(got, []string{"started:"}) {
		t.Errorf("first reading: %v", got)
	}
	if got := kinds(WaitEvents(p0, p0, start)); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
	e1 := WaitEvents(p0, p1, start)
	if got := kinds(e1); !slices.Equal(got, []string{"host:a", "host:b"}) {
		t.Errorf("two hosts moved: %v", got)
	}
	if e1[0].OnRelease != 1 || e1[0].Live != 2 || e1[0].Host.Previous != StateOK || e1[0].Elapsed < 5 {
		t.Errorf("event %+v", e1[0])
	}
	if e1[1].Describe(func(s string) string { return s }) != "b ok -> installing 1.new (runs 1.old); 1/2 live hosts on it" {
		t.Errorf("installing: %q", e1[1].Describe(func(s string) string { return s }))
	}
	// A failure gives a release without a policy a rollout summary: no
	// wave began.
	p2 := target.Progress(waitSummary(waitHostStatus("a", "new", StateOK, ""), waitHostStatus("b", "old", StateRolledBack, "new")))
	p2.Summary.AddRollout(&Rollout{Policy: DefaultPolicy(), SHA256: shaNew}, RolloutRecords{State: &RolloutState{}}, time.Now())
	e2 := WaitEvents(p1, p2, start)
	if got := kinds(e2); !slices.Equal(got, []string{"host-failed:b"}) {
		t.Errorf("b rolled back: %v", got)
	}
	text := e2[0].Describe(func(s string) string { return "[" + s + "]" })
	if want := "[b] [rolled-back] [hello] [1.new]: [health check failed]; 1/2 live hosts on it"; text != want {
		t.Errorf("text %q, want %q", text, want)
	}
	noRoom := waitHostStatus("b", "old", StateOK, "new")
	noRoom.Error = "not enough disk space"
	e3 := WaitEvents(p0, target.Progress(waitSummary(waitHostStatus("a", "old", StateOK, ""), noRoom)), start)
	if got := kinds(e3); !slices.Equal(got, []string{"host:b"}) || e3[0].Describe(func(s string) string { return s }) != "b ok 1.old: not enough disk space; 0/2 live hosts on it" {
		t.Errorf("b found no room: %v %q", got, e3[0].Describe(func(s string) string { return s }))
	}
	f := FinalEvent(Failed, p2, start, "", nil, nil)
	if f.Event != EventFailed || len(f.Hosts) != 1 || f.Hosts[0].Host != "b" || !strings.Contains(f.Describe(func(s string) string { return s }), "1 hosts failed it: b (rolled-back 1.old: health check failed)") {
		t.Errorf("final %+v: %s", f, f.Describe(func(s string) string { return s }))
	}
}

// TestWaitTextBounded: a text names at most maxListed hosts.
func TestWaitTextBounded(t *testing.T) {
	e := WaitEvent{Event: EventTimedOut, Live: 500, Release: WaitRelease{VersionID: "v2", Version: "1.2"}}
	for i := range 500 {
		e.Hosts = append(e.Hosts, WaitHost{Host: "web-" + strings.Repeat("x", i%7), State: StateInstalling})
	}
	text := e.Describe(func(s string) string { return s })
	if n := strings.Count(text, "web-"); n != maxListed || !strings.Contains(text, "and 480 more") {
		t.Errorf("%d hosts named, want %d and the rest counted: %s", n, maxListed, text)
	}
}

func hostOf(e WaitEvent) string {
	if e.Host == nil {
		return ""
	}
	return e.Host.Host
}

// TestWaitDeadline: the default timeout counts from the last wave, or
// from when the maintenance window next opens.
func TestWaitDeadline(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	staged := &release.Manifest{SHA256: shaNew, PublishedAt: start.Add(-time.Minute)}
	if err := (Policy{Waves: []float64{10, 50, 100}, WaveInterval: 10 * time.Minute}).Apply(staged); err != nil {
		t.Fatal(err)
	}
	windowed := &release.Manifest{SHA256: shaNew, PublishedAt: start}
	openNow := &release.Manifest{SHA256: shaNew, PublishedAt: start}
	for m, spec := range map[*release.Manifest]string{windowed: "Sat 10:00-12:00 UTC", openNow: "Thu 11:00-13:00 UTC"} {
		ws, err := ParseWindows([]string{spec})
		if err != nil {
			t.Fatal(err)
		}
		if err := (Policy{Waves: []float64{100}, Windows: ws}).Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		timeout time.Duration
		m       *release.Manifest
		want    time.Time
	}{
		{"given", 5 * time.Minute, staged, start.Add(5 * time.Minute)},
		{"default", 0, &release.Manifest{SHA256: shaNew}, start.Add(DefaultWaitTimeout)},
		{"plain upload", 0, nil, start.Add(DefaultWaitTimeout)},
		{"staged: after the last wave", 0, staged, start.Add(-time.Minute + 20*time.Minute + DefaultWaitTimeout)},
		// 2026-01-01 is a Thursday: the window next opens Saturday.
		{"window: after it opens", 0, windowed, time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC).Add(DefaultWaitTimeout)},
		{"window: open now", 0, openNow, start.Add(DefaultWaitTimeout)},
	}
	for _, tt := range tests {
		if got := deadline(tt.timeout, start, &release.Object{Manifest: tt.m}); !got.Equal(tt.want) {
			t.Errorf("%s: deadline %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A wait shows a host waiting for a maintenance window, and one held by
// its service, with why.
func TestWaitEventsWindowAndHold(t *testing.T) {
	target := Target{VersionID: "v2", SHA256: shaNew}
	start := time.Now().Add(-5 * time.Second)
	opens := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	p0 := target.Progress(waitSummary(waitHostStatus("a", "old", StateOK, ""), waitHostStatus("b", "old", StateOK, "")))
	p1 := target.Progress(waitSummary(windowWait(waitHostStatus("a", "old", StateWaiting, "new"), opens),
		held(waitHostStatus("b", "old", StateHeld, "new"), "draining 3 jobs")))
	es := WaitEvents(p0, p1, start)
	var texts []string
	for _, e := range es {
		texts = append(texts, e.Describe(func(s string) string { return s }))
	}
	want := []string{
		"a ok -> waiting (window) 1.new (runs 1.old): outside the maintenance window Mon-Fri 09:00-17:00 UTC; next opens 2026-12-07T09:00:00Z; 0/2 live hosts on it",
		"b ok -> held 1.new (runs 1.old): held by the service: draining 3 jobs (until ",
	}
	if len(texts) != 2 || texts[0] != want[0] || !strings.HasPrefix(texts[1], want[1]) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	if h := es[0].Host; !h.Window || h.State != StateWaiting || !strings.Contains(h.Reason, "next opens") {
		t.Errorf("window wait's host: %+v", h)
	}
	// A host that only moves from its wave to the window is a change too.
	p2 := target.Progress(waitSummary(windowWait(waitHostStatus("a", "old", StateWaiting, "new"), opens),
		held(waitHostStatus("b", "old", StateHeld, "new"), "draining 3 jobs")))
	p2.Summary.Hosts[0].Rollout.Window = ""
	if es := WaitEvents(p2, p1, start); len(es) != 1 || es[0].Host.Host != "a" {
		t.Errorf("from waiting to waiting (window): %+v", es)
	}
}
