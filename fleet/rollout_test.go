package fleet

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

func TestParseWaves(t *testing.T) {
	tests := []struct {
		in      string
		want    []float64
		wantErr string
	}{
		{"100%", []float64{100}, ""},
		{"10%,50%,100%", []float64{10, 50, 100}, ""},
		{"1, 5 ,25%,100", []float64{1, 5, 25, 100}, ""},
		{"0.5%,100%", []float64{0.5, 100}, ""},
		{"", nil, "not a percentage"},
		{"10%,50%", nil, "must be 100%"},
		{"50%,10%,100%", nil, "must grow"},
		{"10%,10%,100%", nil, "must grow"},
		{"0%,100%", nil, "outside"},
		{"-5%,100%", nil, "outside"},
		{"10%,150%", nil, "must be 100%"},
		{"ten%,100%", nil, "not a percentage"},
		{"NaN,100", nil, "not a percentage"},
		{strings.Repeat("1,", MaxWaves) + "100", nil, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWaves(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseWaves(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseWaves(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if back, err := ParseWaves(FormatWaves(got)); err != nil || !slices.Equal(back, got) {
				t.Errorf("FormatWaves round trip: %q -> %v, %v", FormatWaves(got), back, err)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Policy
		wantErr string
	}{
		{"default", DefaultPolicy(), ""},
		{"staged", Policy{Waves: []float64{10, 100}, WaveInterval: time.Minute, MaxUpdating: 2, HaltAfter: 2}, ""},
		{"cap only", Policy{Waves: []float64{100}, MaxUpdating: 1}, ""},
		{"zero value", Policy{}, "no waves"},
		{"staged without interval", Policy{Waves: []float64{10, 100}}, "wave interval"},
		{"interval too short", Policy{Waves: []float64{10, 100}, WaveInterval: time.Millisecond}, "wave interval"},
		{"negative cap", Policy{Waves: []float64{100}, MaxUpdating: -1}, "max-updating"},
		{"negative halt", Policy{Waves: []float64{100}, HaltAfter: -1}, "halt-after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestPolicyInManifest: a policy travels in the manifest's metadata,
// round-trips through S3, and is covered by the signature; the default
// policy leaves the manifest exactly as before policies existed.
func TestPolicyInManifest(t *testing.T) {
	body := randomBytes(t, 1000)
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := testManifest(body, "1.0")
	before := plain.Canonical()
	if err := DefaultPolicy().Apply(plain); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, plain.Canonical()) {
		t.Errorf("the default policy changed the manifest:\n%s\n%s", before, plain.Canonical())
	}
	if p, err := PolicyOf(plain); err != nil || !p.IsDefault() {
		t.Errorf("PolicyOf(no policy) = %+v, %v; want the default", p, err)
	}

	want := Policy{Waves: []float64{10, 50, 100}, WaveInterval: 5 * time.Minute, MaxUpdating: 2, HaltAfter: 2}
	m := testManifest(body, "1.0")
	if err := want.Apply(m); err != nil {
		t.Fatal(err)
	}
	key.Sign(m)
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	if _, err := c.Publish(testCtx(t), a, release.PublishInput{Body: bytes.NewReader(body), Manifest: m}); err != nil {
		t.Fatal(err)
	}
	obj, err := c.Head(testCtx(t), a, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := PolicyOf(obj.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Waves, want.Waves) || got.WaveInterval != want.WaveInterval || got.MaxUpdating != want.MaxUpdating || got.HaltAfter != want.HaltAfter {
		t.Errorf("policy read back %+v, want %+v", got, want)
	}
	if err := obj.Manifest.Verify(key.Public()); err != nil {
		t.Errorf("signature over a manifest with a policy: %v", err)
	}
	// Changing the policy breaks the signature: it is signed.
	obj.Manifest.Extra[extraHaltAfter] = "200"
	if err := obj.Manifest.Verify(key.Public()); err == nil {
		t.Error("a changed halt-after still verifies")
	}
	if got := want.String(); got != "rollout 10%,50%,100%, a wave every 5m0s, at most 2 updating at once, halt after 2 failed" {
		t.Errorf("String() = %q", got)
	}
}

func TestPolicyOfMalformed(t *testing.T) {
	for _, extra := range []map[string]string{
		{extraRollout: "10%,50%"},
		{extraRollout: "10%,100%"}, // staged without interval
		{extraRollout: "10%,100%", extraWaveInterval: "soon"},
		{extraMaxUpdating: "two"},
		{extraHaltAfter: "-3"},
	} {
		m := testManifest([]byte("x"), "1.0")
		m.Extra = extra
		if p, err := PolicyOf(m); err == nil {
			t.Errorf("PolicyOf(%v) = %+v, want an error", extra, p)
		}
	}
}

func TestWaveAt(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	r := &Rollout{Policy: Policy{Waves: []float64{10, 50, 100}, WaveInterval: 5 * time.Minute}, PublishedAt: t0}
	tests := []struct {
		at        time.Duration
		wantIndex int
		wantPct   float64
	}{
		{-time.Hour, 0, 10}, // a host clock behind the publisher's
		{0, 0, 10},
		{5*time.Minute - time.Second, 0, 10},
		{5 * time.Minute, 1, 50},
		{10 * time.Minute, 2, 100},
		{1000 * time.Hour, 2, 100},
	}
	for _, tt := range tests {
		w := r.WaveAt(t0.Add(tt.at))
		if w.Index != tt.wantIndex || w.Percent != tt.wantPct || w.Waves != 3 {
			t.Errorf("WaveAt(t0%+v) = %+v, want wave %d at %v%%", tt.at, w, tt.wantIndex, tt.wantPct)
		}
		if w.Last() != (tt.wantIndex == 2) || w.Last() != w.Next.IsZero() {
			t.Errorf("WaveAt(t0%+v): Last %v, Next %v", tt.at, w.Last(), w.Next)
		}
	}
	if s := r.WaveAt(t0).String(); s != "wave 1/3 (10%)" {
		t.Errorf("String() = %q", s)
	}
	def := &Rollout{Policy: DefaultPolicy(), PublishedAt: t0}
	if w := def.WaveAt(t0.Add(-time.Hour)); !w.Last() || w.Percent != 100 {
		t.Errorf("default policy: %+v, want the last wave", w)
	}
}

// TestPlace: places are stable, spread uniformly, differ between
// releases, and decide coverage together with the wave.
func TestPlace(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	if Place("web-1", sha) != Place("web-1", sha) {
		t.Fatal("Place is not deterministic")
	}
	// A fixed value (computed independently: Python's hashlib) guards
	// against an accidental change of the hash, which would reshuffle
	// every fleet's waves between versions of the agent.
	if got := Place("web-1", sha); math.Abs(got-9.612895228442774) > 1e-12 {
		t.Fatalf("Place(web-1) = %.17g, want 9.612895228442774", got)
	}
	const hosts = 10000
	buckets := make([]int, 10)
	moved := 0
	for i := range hosts {
		h := fmt.Sprintf("host-%05d", i)
		p := Place(h, sha)
		if p < 0 || p >= 100 {
			t.Fatalf("Place(%s) = %v, outside [0, 100)", h, p)
		}
		buckets[int(p/10)]++
		if (p < 10) != (Place(h, other) < 10) {
			moved++
		}
	}
	for i, n := range buckets {
		// 1000 expected per decile; 5 sigma is about 150.
		if n < 850 || n > 1150 {
			t.Errorf("decile %d holds %d of %d hosts: not uniform (%v)", i, n, hosts, buckets)
		}
	}
	// About 18% of hosts change between "first 10%" and not when the
	// release changes; a hash of the host alone would give 0.
	if moved < hosts/10 {
		t.Errorf("only %d hosts change first-wave membership between releases", moved)
	}

	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	r := &Rollout{Policy: Policy{Waves: []float64{10, 50, 100}, WaveInterval: time.Minute}, SHA256: sha, PublishedAt: t0}
	for i := range 200 {
		h := fmt.Sprintf("host-%03d", i)
		p := r.Place(h)
		for _, at := range []time.Duration{0, 30 * time.Second, time.Minute, 2 * time.Minute} {
			w := r.WaveAt(t0.Add(at))
			want := w.Last() || p < w.Percent
			if got := r.Covers(h, t0.Add(at)); got != want {
				t.Errorf("Covers(%s at %v, place %.2f) = %v in %v", h, at, p, got, w)
			}
		}
		covered := r.CoveredAt(h)
		if !r.Covers(h, covered) || (covered.After(t0) && r.Covers(h, covered.Add(-time.Nanosecond))) {
			t.Errorf("CoveredAt(%s) = %v is not the first covered time (place %.2f)", h, covered, p)
		}
	}
}
