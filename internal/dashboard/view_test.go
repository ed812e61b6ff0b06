package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// TestShellQuote: the commands shown to copy run what they say, whatever
// the bucket's key holds.
func TestShellQuote(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"s3://acme/hello/production.deb", "s3://acme/hello/production.deb", true},
		{"s3://acme/a b.deb", "'s3://acme/a b.deb'", true},
		{"s3://acme/$(reboot).deb", "'s3://acme/$(reboot).deb'", true},
		{"s3://acme/it's;rm -rf ~", `'s3://acme/it'\''s;rm -rf ~'`, true},
		{"s3://acme/`id`", "'s3://acme/`id`'", true},
		{"s3://acme/a\nb", "", false},
		{"s3://acme/\x1b]0;x\a", "", false},
		{"s3://acme/\u202eb.deb", "", false},
	}
	for _, tt := range tests {
		got, ok := shellQuote(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("shellQuote(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if cmds := commands("c", release.Address{Bucket: "b", Key: "k\x1b"}); cmds != nil {
		t.Errorf("commands for a key with ESC: %v, want none", cmds)
	}
}

// TestHistoryOf: what each version of a channel's history was.
func TestHistoryOf(t *testing.T) {
	m := func(version, sha string) *release.Manifest {
		return &release.Manifest{Version: version, SHA256: sha, Publisher: "ci@build"}
	}
	vs := []release.Version{
		{VersionID: "5", Current: true, Manifest: m("1.0", "aa")},
		{VersionID: "4", DeleteMarker: true},
		{VersionID: "3", Manifest: m("1.1", "bb")},
		{VersionID: "2"},
		{VersionID: "1", Manifest: m("1.0", "aa")},
	}
	want := []string{"put back (rollback)", "deleted", "published", "plain upload (no manifest)", "published"}
	got := historyOf(vs)
	for i := range want {
		if got[i].What != want[i] {
			t.Errorf("version %s: %q, want %q", vs[i].VersionID, got[i].What, want[i])
		}
	}
	if got[0].Signer != "unsigned" || got[0].By != "ci@build" {
		t.Errorf("signer %q by %q", got[0].Signer, got[0].By)
	}
}

// TestChart: the timeline steps up when each host entered its state on
// the release, and marks the waves that began and the halt.
func TestChart(t *testing.T) {
	pub := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := pub.Add(100 * time.Second)
	host := func(name string, on bool, since time.Duration) fleet.HostSummary {
		return fleet.HostSummary{HostStatus: fleet.HostStatus{Host: name, State: fleet.StateOK, Since: pub.Add(since)}, OnCurrent: on}
	}
	sum := &fleet.Summary{Time: now, Current: fleet.CurrentRelease{Version: "2.0", PublishedAt: pub},
		Counts: fleet.Counts{Live: 2},
		Hosts:  []fleet.HostSummary{host("a", true, 50*time.Second), host("b", false, 0)},
		Rollout: &fleet.RolloutSummary{Waves: []float64{10, 100}, WaveStarts: []time.Time{pub, pub.Add(25 * time.Second)},
			HaltedAt: pub.Add(75 * time.Second), Failures: []fleet.FailureRecord{{Host: "b", Outcome: "rolled-back", Time: pub.Add(60 * time.Second)}}}}
	c := newChart(sum, nil)
	// x: 40 + f*588; y: 172 at 0, 18 at 2 hosts.
	if want := "40.0,172.0 334.0,172.0 334.0,95.0 628.0,95.0"; c.Derived != want {
		t.Errorf("derived %q, want %q", c.Derived, want)
	}
	if len(c.Waves) != 1 || c.Waves[0].X != 187 || c.Waves[0].Label != "wave 2 (100%)" {
		t.Errorf("waves %+v", c.Waves)
	}
	if c.Halt == nil || c.Halt.X != 481 || len(c.Failures) != 1 || c.Failures[0].X != 392.8 {
		t.Errorf("halt %+v failures %+v", c.Halt, c.Failures)
	}
	if c.Seen != "" || !strings.Contains(c.Desc, "1 of 2 live hosts") {
		t.Errorf("seen %q desc %q", c.Seen, c.Desc)
	}
	samples := []sample{{Time: pub.Add(10 * time.Second), OnRelease: 0, Live: 2}, {Time: pub.Add(60 * time.Second), OnRelease: 1, Live: 2}}
	if c := newChart(sum, samples); c.Seen != "98.8,172.0 392.8,172.0 392.8,95.0 628.0,95.0" {
		t.Errorf("seen %q", c.Seen)
	}
}

// TestShown: text someone else wrote is shown on one line, bounded, with
// the runes that would reorder or hide text written as escapes.
func TestShown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1", "web-1"},
		{"web-1\u202e2-bew", `web-1\u202e2-bew`},
		{"a\u200bb", `a\u200bb`},
		{"line one\nline two\x1b[2J", `line one line two\x1b[2J`},
		{"naïve <b>", "naïve <b>"},
		{"bad \xff byte", "bad \ufffd byte"},
		{strings.Repeat("x", 1000), strings.Repeat("x", maxText-3) + "..."},
	}
	for _, tt := range tests {
		if got := shown(tt.in); got != tt.want {
			t.Errorf("shown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestChannelKind: a configuration channel's current release is named as
// one, a package channel's as a package.
func TestChannelKind(t *testing.T) {
	c, err := release.New(t.Context(), release.Options{Endpoint: "http://127.0.0.1:9", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Client: c, Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ kind, want string }{
		{"", "<dt>package</dt><dd>hello v1</dd>"},
		{release.KindConfig, "<dt>config of</dt><dd>hello v1</dd>"},
	} {
		v := channelView{ID: "c1", Name: "s3://b/hello/production.env",
			Sum: &fleet.Summary{Current: fleet.CurrentRelease{Kind: tt.kind, Package: "hello", Version: "v1"}}}
		b, err := s.render("channel", v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tt.want) {
			t.Errorf("kind %q: want %q in\n%s", tt.kind, tt.want, b)
		}
	}
}

// TestHostsConfigColumn: the host table has a config column, with each
// host's config version ("none" for a host without one), only when some
// host follows a config channel beside the package channel.
func TestHostsConfigColumn(t *testing.T) {
	c, err := release.New(t.Context(), release.Options{Endpoint: "http://127.0.0.1:9", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Client: c, Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	host := func(name string, config *fleet.HostRelease) fleet.HostSummary {
		return fleet.HostSummary{HostStatus: fleet.HostStatus{Host: name, Version: "1.1.0", State: fleet.StateOK, Config: config}}
	}
	for _, tt := range []struct {
		name  string
		hosts []fleet.HostSummary
		want  []string
		not   []string
	}{
		{"no config", []fleet.HostSummary{host("web-1", nil)}, nil, []string{`<th scope="col">config</th>`, "<td>none</td>"}},
		{"configs", []fleet.HostSummary{host("web-1", &fleet.HostRelease{Version: "bonjour"}), host("web-2", nil)},
			[]string{`<th scope="col">version</th><th scope="col">config</th>`, "<td>1.1.0</td><td>bonjour</td>", "<td>1.1.0</td><td>none</td>"}, nil},
	} {
		ch := &channel{id: "c1", addr: release.Address{Bucket: "b", Key: "hello/production.deb"},
			sum: &fleet.Summary{Current: fleet.CurrentRelease{Package: "hello", Version: "1.1.0"}, Hosts: tt.hosts}}
		b, err := s.render("channel", s.channelView(ch, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: want %q in\n%s", tt.name, w, b)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(string(b), w) {
				t.Errorf("%s: %q should not be in\n%s", tt.name, w, b)
			}
		}
	}
}
