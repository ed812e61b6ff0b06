package fleet

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/debfleet/debfleet/release"
)

// Manifest fields of the rollout policy, under release.Manifest.Extra (stored as
// x-amz-meta-debfleet-<name>, so the signature covers them). A manifest
// without them has the default policy: every host at once.
const (
	extraRollout      = "rollout"       // "10%,50%,100%"
	extraWaveInterval = "wave-interval" // Go duration, "5m0s"
	extraMaxUpdating  = "max-updating"  // hosts, "2"
	extraHaltAfter    = "halt-after"    // failures, "2"
)

// Limits that keep a policy meaningful.
const (
	// MaxWaves bounds the number of waves in a policy.
	MaxWaves = 20
	// MinWaveInterval is the shortest interval between waves, short enough
	// for tests and demos.
	MinWaveInterval = time.Second
)

// Policy is how a release spreads over the fleet. It travels in the
// manifest (see Apply and PolicyOf) and is signed with it. The zero value
// is not valid; DefaultPolicy is every host at once with no cap and no
// automatic halt, the behaviour of a manifest without a policy.
type Policy struct {
	// Waves are the cumulative shares of the fleet, in percent, that may
	// run the release from wave i on: strictly increasing, each in
	// (0, 100], the last exactly 100. Wave i starts at the release's
	// published-at plus i*WaveInterval.
	Waves []float64
	// WaveInterval is the time between two waves; required when there is
	// more than one wave.
	WaveInterval time.Duration
	// MaxUpdating caps the hosts installing and restarting at once,
	// enforced with lease objects (see Client.AcquireLease); 0 means no
	// cap.
	MaxUpdating int
	// HaltAfter halts the release once this many hosts failed it and
	// rolled back (see Client.ReadRolloutState); 0 means never automatically.
	HaltAfter int
	// Windows are the maintenance windows: a host adopts the release
	// only while inside one of them (see Window and InWindow); none
	// means at any time.
	Windows []Window
	// Gate, when set, is checked by every host before it adopts the
	// release in a wave after the first (see Gate); it needs at least
	// two waves.
	Gate Gate
}

// DefaultPolicy is every host at once, no cap, no automatic halt.
func DefaultPolicy() Policy { return Policy{Waves: []float64{100}} }

// IsDefault reports whether p behaves as DefaultPolicy.
func (p Policy) IsDefault() bool {
	return len(p.Waves) == 1 && p.Waves[0] == 100 && p.MaxUpdating == 0 && p.HaltAfter == 0 && len(p.Windows) == 0
}

// Staged reports whether p has more than one wave.
func (p Policy) Staged() bool { return len(p.Waves) > 1 }

// ParseWaves parses a wave list such as "10%,50%,100%" (the "%" is
// optional; decimals are allowed: "0.5%,100%").
func ParseWaves(s string) ([]float64, error) {
	var waves []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSuffix(strings.TrimSpace(f), "%")
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("rollout %q: %q is not a percentage", s, f)
		}
		waves = append(waves, v)
	}
	if err := validWaves(waves); err != nil {
		return nil, fmt.Errorf("rollout %q: %w", s, err)
	}
	return waves, nil
}

func validWaves(waves []float64) error {
	switch {
	case len(waves) == 0:
		return errors.New("no waves")
	case len(waves) > MaxWaves:
		return fmt.Errorf("%d waves, at most %d", len(waves), MaxWaves)
	case waves[len(waves)-1] != 100:
		return fmt.Errorf("the last wave is %s, it must be 100%%", formatPercent(waves[len(waves)-1]))
	}
	for i, w := range waves {
		if w <= 0 || w > 100 {
			return fmt.Errorf("wave %s is outside (0%%, 100%%]", formatPercent(w))
		}
		if i > 0 && w <= waves[i-1] {
			return fmt.Errorf("waves must grow: %s after %s", formatPercent(w), formatPercent(waves[i-1]))
		}
	}
	return nil
}

// FormatWaves is the inverse of ParseWaves: "10%,50%,100%".
func FormatWaves(waves []float64) string {
	parts := make([]string, len(waves))
	for i, w := range waves {
		parts[i] = formatPercent(w)
	}
	return strings.Join(parts, ",")
}

func formatPercent(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }

// Validate checks p; see Policy for the rules.
func (p Policy) Validate() error {
	if err := validWaves(p.Waves); err != nil {
		return fmt.Errorf("rollout policy: %w", err)
	}
	switch {
	case p.Staged() && p.WaveInterval < MinWaveInterval:
		return fmt.Errorf("rollout policy: %d waves need a wave interval of at least %v", len(p.Waves), MinWaveInterval)
	case p.WaveInterval < 0:
		return errors.New("rollout policy: negative wave interval")
	case p.MaxUpdating < 0:
		return errors.New("rollout policy: negative max-updating")
	case p.HaltAfter < 0:
		return errors.New("rollout policy: negative halt-after")
	}
	if err := validWindows(p.Windows); err != nil {
		return fmt.Errorf("rollout policy: %w", err)
	}
	return p.validGate()
}

// String describes p on one line, for people.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("rollout " + FormatWaves(p.Waves))
	if p.Staged() {
		b.WriteString(", a wave every " + p.WaveInterval.String())
	}
	if p.MaxUpdating > 0 {
		fmt.Fprintf(&b, ", at most %d updating at once", p.MaxUpdating)
	}
	if p.HaltAfter > 0 {
		fmt.Fprintf(&b, ", halt after %d failed", p.HaltAfter)
	}
	if len(p.Windows) > 0 {
		b.WriteString(", in maintenance window " + FormatWindows(p.Windows))
	}
	if !p.Gate.IsZero() {
		b.WriteString(", " + p.Gate.String() + " before each wave after the first")
	}
	return b.String()
}

// Apply records p in m's metadata, replacing any policy there: nothing
// for the default policy, so a default publish writes the same manifest as
// before policies existed. Sign m afterwards: the policy is part of what
// is signed.
func (p Policy) Apply(m *release.Manifest) error {
	if err := p.Validate(); err != nil {
		return err
	}
	for _, k := range []string{extraRollout, extraWaveInterval, extraMaxUpdating, extraHaltAfter, extraWindow} {
		delete(m.Extra, k)
	}
	p.Gate.apply(m)
	if p.IsDefault() {
		return nil
	}
	if m.Extra == nil {
		m.Extra = map[string]string{}
	}
	m.Extra[extraRollout] = FormatWaves(p.Waves)
	if p.WaveInterval > 0 {
		m.Extra[extraWaveInterval] = p.WaveInterval.String()
	}
	if p.MaxUpdating > 0 {
		m.Extra[extraMaxUpdating] = strconv.Itoa(p.MaxUpdating)
	}
	if p.HaltAfter > 0 {
		m.Extra[extraHaltAfter] = strconv.Itoa(p.HaltAfter)
	}
	if len(p.Windows) > 0 {
		m.Extra[extraWindow] = FormatWindows(p.Windows)
	}
	return nil
}

// PolicyOf reads the rollout policy recorded in m: DefaultPolicy when
// there is none, an error when a field is malformed (an agent should then
// refuse the release rather than guess).
func PolicyOf(m *release.Manifest) (Policy, error) {
	p := DefaultPolicy()
	p.Gate = gateOf(m)
	var err error
	if s, ok := m.Extra[extraRollout]; ok {
		if p.Waves, err = ParseWaves(s); err != nil {
			return Policy{}, fmt.Errorf("manifest: %w", err)
		}
	}
	if s, ok := m.Extra[extraWaveInterval]; ok {
		if p.WaveInterval, err = time.ParseDuration(s); err != nil {
			return Policy{}, fmt.Errorf("manifest: wave-interval %q: %w", s, err)
		}
	}
	for name, dst := range map[string]*int{extraMaxUpdating: &p.MaxUpdating, extraHaltAfter: &p.HaltAfter} {
		if s, ok := m.Extra[name]; ok {
			if *dst, err = strconv.Atoi(s); err != nil {
				return Policy{}, fmt.Errorf("manifest: %s %q is not a number", name, s)
			}
		}
	}
	if s, ok := m.Extra[extraWindow]; ok {
		// An unknown zone here is this host's tzdata lacking it: the
		// release is refused rather than taken at any time.
		if p.Windows, err = parseWindowsField(s); err != nil {
			return Policy{}, fmt.Errorf("manifest: %w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("manifest: %w", err)
	}
	return p, nil
}

// Rollout is one release's rollout: its policy and the two facts that
// place hosts in it, the release's SHA-256 and its publication time.
type Rollout struct {
	Policy
	SHA256      string
	PublishedAt time.Time
}

// RolloutOf returns m's rollout (see PolicyOf).
func RolloutOf(m *release.Manifest) (*Rollout, error) {
	p, err := PolicyOf(m)
	if err != nil {
		return nil, err
	}
	return &Rollout{Policy: p, SHA256: m.SHA256, PublishedAt: m.PublishedAt}, nil
}

// Wave is the wave of a rollout in force at some time.
type Wave struct {
	// Index counts from 0; Waves is the number of waves.
	Index, Waves int
	// Percent is the share of the fleet this wave covers (cumulative).
	Percent float64
	// Start is when the wave began; Next is when the next one begins
	// (zero for the last wave).
	Start, Next time.Time
}

// Last reports whether w is the final (100%) wave.
func (w Wave) Last() bool { return w.Index == w.Waves-1 }

// String is "wave 1/3 (10%)": counted from 1, for people.
func (w Wave) String() string {
	return fmt.Sprintf("wave %d/%d (%s)", w.Index+1, w.Waves, formatPercent(w.Percent))
}

// WaveAt returns the wave in force at now: wave i from PublishedAt +
// i*WaveInterval. A time before PublishedAt (a host's clock behind the
// publisher's) is in the first wave.
func (r *Rollout) WaveAt(now time.Time) Wave {
	i := 0
	if r.Staged() && r.WaveInterval > 0 && now.After(r.PublishedAt) {
		i = int(min(int64(now.Sub(r.PublishedAt)/r.WaveInterval), int64(len(r.Waves)-1)))
	}
	w := Wave{Index: i, Waves: len(r.Waves), Percent: r.Waves[i], Start: r.PublishedAt.Add(time.Duration(i) * r.WaveInterval)}
	if !w.Last() {
		w.Next = w.Start.Add(r.WaveInterval)
	}
	return w
}

// Place is host's position in the rollout of the release with the given
// SHA-256, in percent, in [0, 100): the first 64 bits of
// SHA-256(host NUL sha256) scaled. It is the same on every machine and
// every run, independent between releases (the hosts of a release's first
// wave are not always the same ones), and spreads hosts uniformly.
func Place(host, sha256hex string) float64 {
	sum := sha256.Sum256([]byte(host + "\x00" + sha256hex))
	// 53 bits fit a float64's mantissa exactly, so the result is < 100.
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) * 100
}

// Place is host's position in r (see the function Place).
func (r *Rollout) Place(host string) float64 { return Place(host, r.SHA256) }

// Covers reports whether host may adopt the release at now: its place is
// below the share of the wave in force. The last wave covers every host.
func (r *Rollout) Covers(host string, now time.Time) bool {
	w := r.WaveAt(now)
	return w.Last() || r.Place(host) < w.Percent
}

// CoveredAt returns the first time host is covered: PublishedAt for hosts
// in the first wave, the start of a later wave otherwise.
func (r *Rollout) CoveredAt(host string) time.Time {
	place := r.Place(host)
	for i, w := range r.Waves {
		if place < w || i == len(r.Waves)-1 {
			return r.PublishedAt.Add(time.Duration(i) * r.WaveInterval)
		}
	}
	return r.PublishedAt // unreachable: the last wave is 100%
}
