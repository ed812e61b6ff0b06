package fleet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/debfleet/debfleet/release"
)

// StateUnreadable is the state a Summary gives a host whose status object
// could not be read; its Error says why.
const StateUnreadable = "unreadable"

// Summary is how a channel's current release has reached the fleet: what
// `pkgdeb status` prints and, as JSON, emits. The JSON field names are a
// stable interface (pkgdeb status --help documents them).
type Summary struct {
	Channel string    `json:"channel"`
	Time    time.Time `json:"time"`
	// Converged: at least one host is live and every live host runs the
	// current release (the deploy is done).
	Converged bool `json:"converged"`
	// Verdict says so in one line, or what keeps the fleet from it.
	Verdict  string         `json:"verdict"`
	Current  CurrentRelease `json:"current"`
	Counts   Counts         `json:"counts"`
	Versions []VersionHosts `json:"versions"`
	Hosts    []HostSummary  `json:"hosts"`
	// Rollout is set when the current release has a rollout policy, a
	// halt record or recorded failures.
	Rollout *RolloutSummary `json:"rollout,omitempty"`
	// HostsOmitted is how many hosts Hosts leaves out: StreamSummary
	// keeps only the most relevant (SummaryOptions.MaxHosts); Counts
	// and Versions count every host.
	HostsOmitted int `json:"hosts_omitted,omitempty"`
	// Advice counts the live hosts someone can act on, by what to do,
	// whether Hosts lists them or not.
	Advice Advice `json:"-"`
}

// Advice counts live hosts by what someone can do about them: the lines
// pkgdeb status prints under its verdict.
type Advice struct {
	// Refused counts the hosts that refused the current release, by
	// HostStatus.Refusal code (hosts without one are not counted).
	Refused map[string]int
	// Window counts the hosts waiting for a maintenance window, Held
	// those held by their service.
	Window, Held int
}

// CurrentRelease is the channel's current version; the manifest fields
// are empty when it is not a release.
type CurrentRelease struct {
	VersionID string `json:"version_id"`
	// Kind is the manifest's kind when it is not a Debian package
	// (release.KindConfig: Package then names the service).
	Kind        string    `json:"kind,omitempty"`
	Package     string    `json:"package,omitempty"`
	Version     string    `json:"version,omitempty"`
	SHA256      string    `json:"sha256,omitempty"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Plain: the version has no manifest (a plain upload), and Package
	// and Version, when set, were read from the .deb itself by the
	// caller: unsigned, chosen by whoever wrote the object.
	Plain bool `json:"plain,omitempty"`
	// ETag is the version's ETag.
	ETag string `json:"etag,omitempty"`
	// Publisher (user@host) and KeyID (the signing key's id, "" when
	// unsigned) are the manifest's.
	Publisher string `json:"publisher,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
}

// Counts counts the hosts of a Summary; every count but Hosts and Stale
// is of live hosts.
type Counts struct {
	Hosts        int `json:"hosts"`
	Live         int `json:"live"`
	Stale        int `json:"stale"`
	OnCurrent    int `json:"on_current"`
	Installing   int `json:"installing"`
	Failed       int `json:"failed"`
	RolledBack   int `json:"rolled_back"`
	Refused      int `json:"refused"`
	OtherVersion int `json:"other_version"`
	None         int `json:"none"`
	Unreadable   int `json:"unreadable"`
}

// VersionHosts is the number of live hosts running one version.
type VersionHosts struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
	Current bool   `json:"current"`
	Hosts   int    `json:"hosts"`
}

// HostSummary is one host's status object as its agent wrote it, and what
// the summary makes of it.
type HostSummary struct {
	HostStatus
	// LastSeen is the earlier of the host's own timestamp and the
	// object's Last-Modified, so that neither a fast host clock nor a
	// rewrite of the object hides a silent host.
	LastSeen  time.Time `json:"last_seen"`
	Stale     bool      `json:"stale"`
	OnCurrent bool      `json:"on_current"`
}

// RolloutSummary is the current release's staged rollout.
type RolloutSummary struct {
	Policy      string          `json:"policy"`
	Waves       []float64       `json:"waves"`
	Wave        int             `json:"wave"` // in force, from 1
	Of          int             `json:"of"`
	Percent     float64         `json:"percent"`
	WaveStarted time.Time       `json:"wave_started"`
	NextWave    time.Time       `json:"next_wave,omitzero"`
	OnRelease   int             `json:"on_release"` // live hosts
	Covered     int             `json:"covered"`    // live hosts the waves cover so far
	Live        int             `json:"live"`
	Updating    []UpdatingHost  `json:"updating"`
	Failures    []FailureRecord `json:"failures"`
	Halted      bool            `json:"halted"`
	HaltReason  string          `json:"halt_reason,omitempty"`
	// WaveStarts is when each wave begins (the first at publication),
	// for a timeline; HaltedAt is when the release was halted, zero when
	// it is not.
	WaveStarts []time.Time `json:"wave_starts"`
	HaltedAt   time.Time   `json:"halted_at,omitzero"`
	// Gate is the release's rollout gate as people see it (a URL as
	// scheme://host/path only), "" without one; Gated counts the live
	// hosts it holds (state gated), and GateReason is why, as the first
	// of them reported it.
	Gate       string `json:"gate,omitempty"`
	Gated      int    `json:"gated"`
	GateReason string `json:"gate_reason,omitempty"`
}

// UpdatingHost is a host holding an update slot.
type UpdatingHost struct {
	Host    string    `json:"host"`
	Slot    int       `json:"slot"`
	Expires time.Time `json:"expires"`
}

// Summarize builds the summary of channel ch, whose current version is
// cur, from its hosts' status objects fs. A host not heard from for longer
// than stale at now is listed but does not count: a terminated instance
// leaves its status object behind.
func Summarize(ch release.Address, cur *release.Object, fs *FleetStatus, now time.Time, stale time.Duration) *Summary {
	s := newSummary(ch, cur, now)
	s.Hosts = s.hostsOf(fs, now, stale)
	s.finish(s.tally(), stale)
	return s
}

// newSummary is the summary of channel ch, whose current version is cur,
// at now, before any host is counted.
func newSummary(ch release.Address, cur *release.Object, now time.Time) *Summary {
	s := &Summary{Channel: ch.String(), Time: now.UTC(), Current: CurrentRelease{VersionID: cur.VersionID, ETag: cur.ETag}}
	if m := cur.Manifest; m != nil {
		s.Current.Package, s.Current.Version, s.Current.SHA256, s.Current.PublishedAt = m.Package, m.Version, m.SHA256, m.PublishedAt
		s.Current.Publisher, s.Current.KeyID = m.Publisher, m.KeyID
		if !m.IsDeb() {
			s.Current.Kind = m.Kind
		}
	}
	return s
}

// finish derives from the counted hosts t what s says about them all.
func (s *Summary) finish(t *tally, stale time.Duration) {
	s.Versions = t.versions()
	s.Converged = s.Counts.Live > 0 && s.Counts.OnCurrent == s.Counts.Live
	s.Verdict = s.verdict(t, stale)
	s.Advice = Advice{Refused: t.refusals, Window: t.window.n, Held: t.held.n}
}

// onCurrent reports whether h runs the current release: the same SHA-256,
// or, when either side lacks one (a plain upload), the same VersionId or
// the same ETag (a copy of the bytes h installed, which the agent's
// conditional HEAD does not even notice).
func (s *Summary) onCurrent(h HostStatus) bool {
	if s.Current.SHA256 != "" && h.SHA256 != "" {
		return h.SHA256 == s.Current.SHA256
	}
	return (h.VersionID != "" && h.VersionID == s.Current.VersionID) || (h.ETag != "" && h.ETag == s.Current.ETag)
}

// hostsOf lists the hosts of fs, unreadable ones included, sorted by name.
func (s *Summary) hostsOf(fs *FleetStatus, now time.Time, stale time.Duration) []HostSummary {
	hosts := []HostSummary{}
	for _, h := range fs.Hosts {
		hosts = append(hosts, s.hostSummary(h, fs.Modified[h.Host], now, stale))
	}
	for host, err := range fs.Unreadable {
		hosts = append(hosts, unreadableHost(host, err, fs.Modified[host], now, stale))
	}
	slices.SortFunc(hosts, func(a, b HostSummary) int { return cmp.Compare(a.Host, b.Host) })
	return hosts
}

// hostSummary is what s makes of host h, whose object S3 last modified
// at mod, at now.
func (s *Summary) hostSummary(h HostStatus, mod, now time.Time, stale time.Duration) HostSummary {
	seen := h.Time
	if !mod.IsZero() && (seen.IsZero() || mod.Before(seen)) {
		seen = mod
	}
	return HostSummary{HostStatus: h, LastSeen: seen.UTC(), OnCurrent: s.onCurrent(h), Stale: now.Sub(seen) > stale}
}

// unreadableHost is the summary of a host whose object, last modified at
// mod, could not be read for err.
func unreadableHost(host string, err error, mod, now time.Time, stale time.Duration) HostSummary {
	return HostSummary{HostStatus: HostStatus{Host: host, State: StateUnreadable, Error: err.Error()},
		LastSeen: mod.UTC(), Stale: now.Sub(mod) > stale}
}

// maxNamed is how many hosts the verdict names per group; the others
// are counted ("... and 12 more").
const maxNamed = 10

// namedHosts is a group of hosts the verdict names: how many, and the
// first maxNamed of them.
type namedHosts struct {
	n     int
	names []string
}

func (l *namedHosts) add(name string) {
	l.n++
	if len(l.names) < maxNamed {
		l.names = append(l.names, name)
	}
}

// join names the hosts, sep-separated, and counts the others.
func (l *namedHosts) join(sep string) string {
	s := strings.Join(l.names, sep)
	if more := l.n - len(l.names); more > 0 {
		s += fmt.Sprintf("%s... and %d more", sep, more)
	}
	return s
}

// tally holds the live hosts of a summary by what keeps them from the
// current release: how many, and some host names, with target and error
// where that helps. It is built one host at a time (count), so a summary
// read as a stream keeps no more than this.
type tally struct {
	byVersion map[string]*VersionHosts

	installing, waiting, halted    namedHosts
	window, held, gated            namedHosts
	windowOpens                    time.Time
	failed, rolledBack, refused    namedHosts
	unreadable, other, none, stale namedHosts
	// refusals counts live refused hosts by Refusal code.
	refusals map[string]int
}

func newTally() *tally {
	return &tally{byVersion: map[string]*VersionHosts{}, refusals: map[string]int{}}
}

// tally counts s.Hosts into s.Counts and lists them by what keeps them
// from the current release.
func (s *Summary) tally() *tally {
	t := newTally()
	for i := range s.Hosts {
		s.count(t, &s.Hosts[i])
	}
	return t
}

// count counts host h into s.Counts and t.
func (s *Summary) count(t *tally, h *HostSummary) {
	n := &s.Counts
	n.Hosts++
	if h.Stale {
		n.Stale++
		t.stale.add(h.Host)
		return
	}
	n.Live++
	if h.State != StateUnreadable {
		t.addVersion(h)
	}
	t.byState(n, h)
	switch {
	case h.State == StateUnreadable:
	case h.OnCurrent:
		n.OnCurrent++
	case h.Version == "":
		n.None++
		if h.State == StateNone || h.State == StateOK {
			t.none.add(withError(h.Host, h))
		}
	default:
		n.OtherVersion++
		// Hosts already named for their state are not repeated.
		if h.State == StateOK || h.State == StateNone {
			t.other.add(withError(h.Host+" "+OneLine(h.Version, 100), h))
		}
	}
}

// withError is s followed by h's error, if any: why an idle host is
// behind (a release it found no room for).
func withError(s string, h *HostSummary) string {
	if h.Error != "" {
		s += ": " + OneLine(h.Error, 200)
	}
	return s
}

// byState counts and lists live host h by its state.
func (t *tally) byState(n *Counts, h *HostSummary) {
	withErr := func(list *namedHosts) {
		s := h.Host
		if h.Target != nil && h.Target.Version != "" {
			s += " (" + OneLine(h.Target.Version, 100) + ")"
		}
		if h.Error != "" {
			s += ": " + OneLine(h.Error, 200)
		}
		list.add(s)
	}
	switch h.State {
	case StateInstalling:
		n.Installing++
		t.installing.add(h.Host)
	case StateFailed:
		n.Failed++
		withErr(&t.failed)
	case StateRolledBack:
		n.RolledBack++
		withErr(&t.rolledBack)
	case StateRefused:
		n.Refused++
		withErr(&t.refused)
		if h.Refusal != "" && len(t.refusals) < maxVersions {
			t.refusals[h.Refusal]++
		}
	case StateUnreadable:
		n.Unreadable++
		withErr(&t.unreadable)
	case StateWaiting:
		if ro := h.Rollout; ro != nil && ro.Window != "" {
			t.window.add(h.Host)
			if t.windowOpens.IsZero() || (!ro.WindowOpens.IsZero() && ro.WindowOpens.Before(t.windowOpens)) {
				t.windowOpens = ro.WindowOpens
			}
			return
		}
		t.waiting.add(h.Host)
	case StateHeld:
		s := h.Host
		if h.Hold != nil {
			s += ": " + OneLine(h.Hold.Reason, 200)
		}
		t.held.add(s)
	case StateHalted:
		t.halted.add(h.Host)
	case StateGated:
		t.gated.add(h.Host)
	}
}

// maxVersions bounds the versions a summary tells apart (agents write
// what they like): hosts on further versions are counted together as
// otherVersions.
const (
	maxVersions   = 1000
	otherVersions = "(other versions)"
)

func (t *tally) addVersion(h *HostSummary) {
	key := cmp.Or(h.SHA256, "(none)")
	v := t.byVersion[key]
	if v == nil && len(t.byVersion) >= maxVersions {
		key = otherVersions
		v = t.byVersion[key]
		if v == nil {
			v = &VersionHosts{Version: otherVersions}
			t.byVersion[key] = v
		}
	}
	if v == nil {
		v = &VersionHosts{Version: cmp.Or(h.Version, "(none)"), SHA256: h.SHA256, Current: h.OnCurrent}
		t.byVersion[key] = v
	}
	v.Hosts++
}

// versions lists the versions live hosts run, the most common first.
func (t *tally) versions() []VersionHosts {
	out := []VersionHosts{}
	for _, v := range t.byVersion {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b VersionHosts) int {
		return cmp.Or(-cmp.Compare(a.Hosts, b.Hosts), cmp.Compare(a.Version, b.Version), cmp.Compare(a.SHA256, b.SHA256))
	})
	return out
}

// verdict is the one line that says whether the deploy is done, or what
// keeps it from being done.
func (s *Summary) verdict(t *tally, stale time.Duration) string {
	n := s.Counts
	cur := cmp.Or(s.Current.Version, "version "+s.Current.VersionID)
	switch {
	case n.Hosts == 0:
		return "no host has reported on " + s.Channel + " yet"
	case n.Live == 0:
		return fmt.Sprintf("no live host: all %d stale (not heard from for %s)", n.Hosts, stale)
	case s.Converged && n.Stale > 0:
		return fmt.Sprintf("%d/%d live hosts on %s (current); %d stale: %s", n.OnCurrent, n.Live, cur, n.Stale, t.stale.join(", "))
	case s.Converged:
		return fmt.Sprintf("%d/%d hosts on %s (current)", n.OnCurrent, n.Live, cur)
	}
	v := fmt.Sprintf("%d/%d on current %s", n.OnCurrent, n.Live, cur)
	for _, g := range []struct {
		what  string
		hosts *namedHosts
	}{
		{"installing", &t.installing},
		{"waiting for their wave or an update slot", &t.waiting},
		{"waiting for a maintenance window" + t.opens(), &t.window},
		{"held by their service", &t.held},
		{"holding back a halted release", &t.halted},
		{"held by the release's rollout gate", &t.gated},
		{"failed", &t.failed},
		{"rolled back", &t.rolledBack},
		{"refused", &t.refused},
		{"unreadable", &t.unreadable},
		{"on another version", &t.other},
		{"with nothing installed", &t.none},
		{"stale", &t.stale},
	} {
		if g.hosts.n > 0 {
			v += fmt.Sprintf("; %d %s: %s", g.hosts.n, g.what, g.hosts.join("; "))
		}
	}
	return v
}

// opens says when the windows hosts wait for next open, if known.
func (t *tally) opens() string {
	if t.windowOpens.IsZero() {
		return ""
	}
	return " (next opens " + t.windowOpens.UTC().Format(time.RFC3339) + ")"
}

// OneLine shortens s to one line of at most n runes: for tables and
// verdicts; the status objects carry the text in full.
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
