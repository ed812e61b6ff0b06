package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

func TestParseWindow(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"Mon-Fri 09:00-17:00 Europe/London", "Mon-Fri 09:00-17:00 Europe/London", ""},
		{"  mon,WED,fri   22:00-02:00  America/New_York ", "Mon,Wed,Fri 22:00-02:00 America/New_York", ""},
		{"* 00:00-24:00 UTC", "* 00:00-24:00 UTC", ""},
		{"Sat-Sun 10:00-00:00 UTC", "Sat-Sun 10:00-24:00 UTC", ""},
		{"Fri-Mon 01:00-05:00 Asia/Tokyo", "Fri-Mon 01:00-05:00 Asia/Tokyo", ""},
		{"Mon 09:00-17:00", "", "2 space-separated parts"},
		{"Mon 09:00-17:00 Europe/London extra", "", "want 3"},
		{"Monday 09:00-17:00 UTC", "", `day "Monday"`},
		{"Mon-Xyz 09:00-17:00 UTC", "", `day "Xyz"`},
		{"Mon,,Fri 09:00-17:00 UTC", "", `day ""`},
		{"Mon 9:00-17:00 UTC", "", `time "9:00"`},
		{"Mon 09:00 UTC", "", "START-END"},
		{"Mon 24:00-02:00 UTC", "", "24:00 only as an end"},
		{"Mon 09:60-10:00 UTC", "", "out of range"},
		{"Mon 09:00-09:00 UTC", "", "the same time"},
		{"Mon 00:00-00:00 UTC", "", "the same time"},
		{"Mon 09:00-17:00 Europe/Atlantis", "", "unknown"},
		{"Mon 09:00-17:00 Local", "", "name a zone"},
		{"Mon 09:00-17:00 ../../etc/passwd", "", "not an IANA"},
		{"Mon 09:00-17:00 Europe/London;Tue", "", "not an IANA"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			w, err := ParseWindow(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "e.g.") {
					t.Fatalf("ParseWindow(%q) = %v, %v; want an error containing %q and an example", tt.in, w, err, tt.wantErr)
				}
				return
			}
			if err != nil || w.String() != tt.want {
				t.Fatalf("ParseWindow(%q) = %q, %v; want %q", tt.in, w, err, tt.want)
			}
			again, err := ParseWindow(w.String())
			if err != nil || again.String() != w.String() {
				t.Fatalf("canonical form %q does not parse back: %q, %v", w, again, err)
			}
		})
	}
}

// at is a time in zone, for the tables below.
func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestWindowInsideAndNextOpen(t *testing.T) {
	// 2026-12-02 is a Wednesday; 2026-12-05 a Saturday.
	tests := []struct {
		name, window string
		now          time.Time
		inside       bool
		next         string // RFC 3339, UTC; "" when inside
	}{
		{"weekday inside", "Mon-Fri 09:00-17:00 Europe/London", at(t, "Europe/London", "2026-12-02 09:00"), true, ""},
		{"end excluded", "Mon-Fri 09:00-17:00 Europe/London", at(t, "Europe/London", "2026-12-02 17:00"), false, "2026-12-03T09:00:00Z"},
		{"friday evening waits for monday", "Mon-Fri 09:00-17:00 Europe/London", at(t, "Europe/London", "2026-12-04 18:00"), false, "2026-12-07T09:00:00Z"},
		{"zone, not UTC", "Mon-Fri 09:00-17:00 America/New_York", utc(t, "2026-12-02T13:59:00Z"), false, "2026-12-02T14:00:00Z"},
		{"list", "Mon,Wed,Fri 10:00-11:00 UTC", utc(t, "2026-12-03T10:30:00Z"), false, "2026-12-04T10:00:00Z"},
		{"every day", "* 02:00-04:00 UTC", utc(t, "2026-12-05T03:59:00Z"), true, ""},
		{"weekend range", "Sat-Sun 00:00-24:00 UTC", utc(t, "2026-12-04T23:59:00Z"), false, "2026-12-05T00:00:00Z"},
		{"wrapping range", "Fri-Mon 01:00-02:00 UTC", utc(t, "2026-12-01T01:30:00Z"), false, "2026-12-04T01:00:00Z"},
		{"midnight crossing, after start", "Fri 22:00-02:00 UTC", utc(t, "2026-12-04T23:00:00Z"), true, ""},
		{"midnight crossing, next morning", "Fri 22:00-02:00 UTC", utc(t, "2026-12-05T01:59:00Z"), true, ""},
		{"midnight crossing, ended", "Fri 22:00-02:00 UTC", utc(t, "2026-12-05T02:00:00Z"), false, "2026-12-11T22:00:00Z"},
		{"midnight crossing, not the day after another day", "Fri 22:00-02:00 UTC", utc(t, "2026-12-04T01:00:00Z"), false, "2026-12-04T22:00:00Z"},
		// Europe/London goes forward on 2026-03-29 at 01:00 GMT
		// (the clock jumps from 01:00 to 02:00) and back on
		// 2026-10-25 at 02:00 BST (to 01:00).
		{"summer time is the wall clock", "Mon-Fri 09:00-17:00 Europe/London", utc(t, "2026-06-01T07:59:00Z"), false, "2026-06-01T08:00:00Z"},
		{"skipped hour never opens", "Sun 01:15-01:45 Europe/London", utc(t, "2026-03-29T00:00:00Z"), false, "2026-04-05T00:15:00Z"},
		{"window spanning the skipped hour opens at the jump", "Sun 01:30-03:00 Europe/London", utc(t, "2026-03-29T00:59:00Z"), false, "2026-03-29T01:00:00Z"},
		{"window spanning the skipped hour is shorter", "Sun 01:30-03:00 Europe/London", utc(t, "2026-03-29T02:00:00Z"), false, "2026-04-05T00:30:00Z"},
		{"repeated hour, first time", "Sun 01:10-01:50 Europe/London", utc(t, "2026-10-25T00:20:00Z"), true, ""},
		{"repeated hour, between", "Sun 01:10-01:50 Europe/London", utc(t, "2026-10-25T00:55:00Z"), false, "2026-10-25T01:10:00Z"},
		{"repeated hour, second time", "Sun 01:10-01:50 Europe/London", utc(t, "2026-10-25T01:20:00Z"), true, ""},
		// America/New_York: 2026-03-08 02:00 EST jumps to 03:00 EDT.
		{"US spring forward, start in the gap", "Sun 02:30-04:00 America/New_York", utc(t, "2026-03-08T06:00:00Z"), false, "2026-03-08T07:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWindow(tt.window)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Inside(tt.now); got != tt.inside {
				t.Fatalf("%s: Inside(%s) = %v, want %v", w, tt.now.UTC().Format(time.RFC3339), got, tt.inside)
			}
			next := w.NextOpen(tt.now)
			if tt.inside {
				if !next.Equal(tt.now) {
					t.Fatalf("NextOpen inside = %s, want now", next)
				}
				return
			}
			if got := next.UTC().Format(time.RFC3339); got != tt.next {
				t.Fatalf("%s: NextOpen(%s) = %s, want %s", w, tt.now.UTC().Format(time.RFC3339), got, tt.next)
			}
			if !w.Inside(next) || w.Inside(next.Add(-time.Minute)) {
				t.Fatalf("%s: the window does not open at %s", w, next)
			}
		})
	}
}

func TestPolicyInWindow(t *testing.T) {
	ws, err := ParseWindows([]string{"Mon-Fri 09:00-17:00 Europe/London", "Sat 10:00-12:00 UTC"})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Waves: []float64{100}, Windows: ws}
	tests := []struct {
		now    time.Time
		want   Verdict
		reason string
	}{
		{utc(t, "2026-12-02T10:00:00Z"), Adopt, ""},
		{utc(t, "2026-12-05T11:00:00Z"), Adopt, ""},
		{utc(t, "2026-12-04T18:00:00Z"), Wait, "outside every maintenance window (Mon-Fri 09:00-17:00 Europe/London; Sat 10:00-12:00 UTC); next opens 2026-12-05T10:00:00Z"},
		{utc(t, "2026-12-05T12:00:00Z"), Wait, "next opens 2026-12-07T09:00:00Z"},
	}
	for _, tt := range tests {
		d, opens := p.InWindow(tt.now)
		if d.Verdict != tt.want || !strings.Contains(d.Reason, tt.reason) {
			t.Errorf("InWindow(%s) = %+v, %s; want %s with %q", tt.now, d, opens, tt.want, tt.reason)
		}
	}
	one := Policy{Waves: []float64{100}, Windows: ws[:1]}
	d, _ := one.InWindow(utc(t, "2026-12-04T18:00:00Z"))
	if want := "outside the maintenance window Mon-Fri 09:00-17:00 Europe/London; next opens 2026-12-07T09:00:00Z"; d.Reason != want {
		t.Errorf("one window: %q, want %q", d.Reason, want)
	}
	if d, _ := DefaultPolicy().InWindow(time.Now()); d.Verdict != Adopt {
		t.Errorf("no windows: %+v", d)
	}
}

// Windows travel in the manifest, signed with it, and come back the same;
// a policy without them writes no field, and too many are refused before
// the manifest outgrows S3's metadata.
func TestPolicyWindowsInManifest(t *testing.T) {
	ws, err := ParseWindows([]string{"mon-fri 09:00-17:00 Europe/London", "Sat 22:00-02:00 UTC"})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Waves: []float64{100}, Windows: ws}
	if p.IsDefault() {
		t.Fatal("a policy with windows is not the default")
	}
	m := &release.Manifest{Package: "hello", Version: "1.0", Architecture: "amd64", SHA256: strings.Repeat("a", 64), Size: 1, PublishedAt: time.Unix(0, 0).UTC(), Publisher: "ci@test"}
	if err := p.Apply(m); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Extra["window"], "Mon-Fri 09:00-17:00 Europe/London; Sat 22:00-02:00 UTC"; got != want {
		t.Fatalf("window field %q, want %q", got, want)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	parsed, err := release.ParseManifest(m.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	back, err := PolicyOf(parsed)
	if err != nil || FormatWindows(back.Windows) != FormatWindows(ws) {
		t.Fatalf("PolicyOf: %v, %v", back, err)
	}
	if !strings.Contains(back.String(), "in maintenance window Mon-Fri 09:00-17:00 Europe/London; Sat 22:00-02:00 UTC") {
		t.Errorf("String: %s", back)
	}
	if err := DefaultPolicy().Apply(m); err != nil || m.Extra["window"] != "" || len(m.Extra) != 0 {
		t.Fatalf("the default policy leaves %v, %v", m.Extra, err)
	}
	many := make([]string, MaxWindows+1)
	for i := range many {
		many[i] = "* 00:00-01:00 UTC"
	}
	if _, err := ParseWindows(many); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d windows: %v", len(many), err)
	}
	long := make([]string, MaxWindows)
	for i := range long {
		long[i] = "Mon,Tue,Wed,Thu,Fri,Sat,Sun 00:00-01:00 America/Argentina/ComodRivadavia"
	}
	if _, err := ParseWindows(long); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("long windows: %v", err)
	}
	m.Extra = map[string]string{"window": "Mon 09:00-17:00 Mars/Olympus"}
	if _, err := PolicyOf(m); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("a manifest naming an unknown zone: %v", err)
	}
}

// A rollback's policy carries no window unless it respects them: then
// those it names, or those the restored release was published with.
func TestRollbackWindows(t *testing.T) {
	ws, err := ParseWindows([]string{"Mon-Fri 09:00-17:00 Europe/London"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ParseWindows([]string{"Sat 10:00-12:00 UTC"})
	if err != nil {
		t.Fatal(err)
	}
	base := func() *release.Manifest {
		m := &release.Manifest{Package: "hello", Version: "1.0", Architecture: "amd64", SHA256: strings.Repeat("a", 64), Size: 1, PublishedAt: time.Unix(0, 0).UTC(), Publisher: "ci@test"}
		if err := (Policy{Waves: []float64{100}, Windows: ws}).Apply(m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name    string
		rp      RollbackPolicy
		want    string
		wantErr string
	}{
		{"default: no window", RollbackPolicy{}, "", ""},
		{"respect: the release's own", RollbackPolicy{RespectWindow: true}, FormatWindows(ws), ""},
		{"respect: the ones named", RollbackPolicy{RespectWindow: true, Rollout: &Policy{Waves: []float64{100}, Windows: other}}, FormatWindows(other), ""},
		{"keep", RollbackPolicy{Keep: true}, FormatWindows(ws), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			if err := tt.rp.Edit(m); err != nil {
				t.Fatal(err)
			}
			if got := m.Extra["window"]; got != tt.want {
				t.Fatalf("window %q, want %q", got, tt.want)
			}
		})
	}
	bare := &release.Manifest{Package: "hello", Version: "1.0", Architecture: "amd64", SHA256: strings.Repeat("a", 64), Size: 1, PublishedAt: time.Unix(0, 0).UTC(), Publisher: "ci@test"}
	if err := (RollbackPolicy{RespectWindow: true}).Edit(bare); err == nil || !strings.Contains(err.Error(), "without a maintenance window") {
		t.Errorf("respecting the window of a release without one: %v", err)
	}
}
