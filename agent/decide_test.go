package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/agent/dpkg"
	"github.com/debfleet/debfleet/agent/state"
	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/fleet/fleettest"
	"github.com/debfleet/debfleet/release"
)

// The agent's decision table, against in-memory parts: a channel whose
// current version the test sets, the fleet's records in a
// fleettest.Store, a dpkg that reads the .deb it is given and a service
// that fails on the versions the test names. The integration tests run the
// same decisions against versitygw, real dpkg and real processes.

// memChannel is a release channel in memory (Releases).
type memChannel struct {
	mu      sync.Mutex
	obj     *release.Object
	body    []byte
	headErr error
	etags   int
	fetches int
	// now is S3's clock; written lists every version set, oldest first.
	now     func() time.Time
	written []release.Version
	lists   int
	listErr error
}

func (c *memChannel) set(m *release.Manifest, body []byte, versionID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, release.Version{VersionID: versionID, LastModified: c.now()})
	c.etags++
	c.obj = &release.Object{VersionID: versionID, ETag: fmt.Sprintf(`"etag-%d"`, c.etags), Size: int64(len(body)), Manifest: m}
	c.body = body
}

func (c *memChannel) Head(ctx context.Context, a release.Address, versionID string) (*release.Object, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.headErr != nil {
		return nil, c.headErr
	}
	obj := *c.obj
	return &obj, nil
}

func (c *memChannel) Fetch(ctx context.Context, a release.Address, versionID string, w io.Writer) (*release.Object, error) {
	c.mu.Lock()
	obj, body := *c.obj, c.body
	c.fetches++
	c.mu.Unlock()
	if obj.VersionID != versionID {
		return nil, &release.Error{Op: "get", Kind: release.ErrNotFound}
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != obj.Manifest.SHA256 {
		return nil, &release.Error{Op: "get", Kind: release.ErrChecksumMismatch}
	}
	_, err := w.Write(body)
	return &obj, err
}

// setPlain makes body, without a manifest, the channel's current version.
func (c *memChannel) setPlain(body []byte, versionID string) {
	c.set(nil, body, versionID)
	c.obj.ManifestErr = release.ErrNoManifest
}

func (c *memChannel) FetchPlain(ctx context.Context, a release.Address, versionID string, size int64, w io.Writer) (*release.Object, error) {
	c.mu.Lock()
	obj, body := *c.obj, c.body
	c.fetches++
	c.mu.Unlock()
	if obj.VersionID != versionID || int64(len(body)) != size {
		return nil, &release.Error{Op: "get", Kind: release.ErrNotFound}
	}
	sum := sha256.Sum256(body)
	obj.SHA256, obj.Integrity = hex.EncodeToString(sum[:]), []string{"in memory"}
	_, err := w.Write(body)
	return &obj, err
}

func (c *memChannel) WrittenBefore(ctx context.Context, a release.Address, versionID string) (*release.Version, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lists++
	if c.listErr != nil {
		return nil, c.listErr
	}
	for i := len(c.written) - 1; i >= 0; i-- {
		if c.written[i].VersionID != versionID {
			continue
		}
		if i == 0 {
			return nil, nil
		}
		v := c.written[i-1]
		return &v, nil
	}
	return nil, &release.Error{Op: "list versions", Kind: release.ErrNotFound}
}

// memDpkg installs by reading the .deb's control fields (Packages).
type memDpkg struct {
	mu       sync.Mutex
	status   dpkg.Status
	installs []string // versions, in order
}

func (d *memDpkg) Architecture(context.Context) (string, error) { return "amd64", nil }
func (d *memDpkg) Configure(context.Context) error              { return nil }

func (d *memDpkg) Install(ctx context.Context, path string) error {
	p, err := deb.ReadFile(path)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = dpkg.Status{Version: p.Control.Version, State: "installed"}
	d.installs = append(d.installs, p.Control.Version)
	return nil
}

func (d *memDpkg) Query(context.Context, string) (dpkg.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status, nil
}

// memService proves healthy on every version but those in sick.
type memService struct{ sick map[string]bool }

func (s memService) Restart(ctx context.Context, version string) (int, error) {
	if s.sick[version] {
		return 0, fmt.Errorf("health check on %s: 500", version)
	}
	return 42, nil
}

// notes records what the agent told its Notifier.
type notes struct {
	mu sync.Mutex
	st []fleet.HostStatus
}

func (n *notes) Notify(st fleet.HostStatus) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.st = append(n.st, st)
}

// states lists the states notified from the n-th on.
func (n *notes) states(from int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, st := range n.st[from:] {
		out = append(out, st.State)
	}
	return out
}

func (n *notes) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.st)
}

// table is one host's agent over in-memory parts, at a clock the test
// sets.
type table struct {
	notes *notes
	ch    *memChannel
	fleet *fleet.Client
	dpkg  *memDpkg
	agent *Agent
	now   time.Time
	addr  release.Address
	key   *release.SigningKey
}

func newTable(t *testing.T, keys bool, sick ...string) *table {
	t.Helper()
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	tb := &table{notes: &notes{}, ch: &memChannel{}, fleet: fleet.New(fleettest.NewStore(), nil), dpkg: &memDpkg{},
		now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), addr: release.Address{Bucket: "b", Key: "hello/production.deb"}}
	tb.ch.now = func() time.Time { return tb.now }
	svc := memService{sick: map[string]bool{}}
	for _, v := range sick {
		svc.sick[v] = true
	}
	log := slog.New(slog.DiscardHandler)
	cfg := Config{Channel: tb.addr, Releases: tb.ch, Fleet: tb.fleet, Package: "hello", Host: "web-1", Report: true,
		Interval: time.Second, Logger: log, Now: func() time.Time { return tb.now }, Notifier: tb.notes,
		Installer: &Installer{Dir: dir, Dpkg: tb.dpkg, Service: svc, Logger: log, Now: func() time.Time { return tb.now }}}
	if keys {
		if tb.key, err = release.GenerateKey(); err != nil {
			t.Fatal(err)
		}
		cfg.PublicKeys = []release.PublicKey{tb.key.Public()}
	} else {
		cfg.AllowUnsigned = true
	}
	if tb.agent, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := tb.agent.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return tb
}

// release describes a release for publish; the zero value of each field
// means the usual.
type rel struct {
	version, pkg, arch, debVersion, kind string
	policy                               *fleet.Policy
	extra                                map[string]string
	unsigned, noVersionID                bool
	publishedAt                          time.Time
	plain                                bool // no manifest: a plain upload
}

// publish makes r the channel's current version.
func (tb *table) publish(t *testing.T, r rel) *release.Manifest {
	t.Helper()
	pkg, arch := cmpOr(r.pkg, "hello"), cmpOr(r.arch, "amd64")
	body := debBytes(t, pkg, cmpOr(r.debVersion, r.version), arch)
	if r.plain {
		tb.ch.setPlain(body, "v-"+r.version+"-plain")
		return nil
	}
	sum := sha256.Sum256(body)
	m := &release.Manifest{Kind: r.kind, Package: pkg, Version: r.version, Architecture: arch, SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), PublishedAt: tb.now, Publisher: "ci@test", Extra: r.extra}
	if !r.publishedAt.IsZero() {
		m.PublishedAt = r.publishedAt
	}
	if r.policy != nil {
		if err := r.policy.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	if tb.key != nil && !r.unsigned {
		tb.key.SignFor(m, tb.addr)
	}
	vid := "v-" + r.version
	if r.noVersionID {
		vid = ""
	}
	tb.ch.set(m, body, vid)
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func debBytes(t *testing.T, pkg, version, arch string) []byte {
	t.Helper()
	var b bytes.Buffer
	spec := &deb.Spec{Control: deb.Control{Package: pkg, Version: version, Architecture: arch, Maintainer: "ops <ops@example.com>", Synopsis: "test"},
		Entries: []deb.Entry{{Type: deb.Regular, Dest: "/usr/share/" + pkg + "/version", Body: []byte(version)}}, TempDir: t.TempDir()}
	if _, err := deb.Build(t.Context(), &b, spec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// installed brings the table's host to version 1.0.
func (tb *table) installed(t *testing.T) {
	t.Helper()
	tb.publish(t, rel{version: "1.0"})
	if out, err := tb.agent.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("installing 1.0: %q, %v", out, err)
	}
	tb.now = tb.now.Add(time.Minute)
}

// newerThenLater publishes 2.0, which this host does not install, and
// moves the clock an hour on.
func newerThenLater(tb *table, t *testing.T) {
	tb.publish(t, rel{version: "2.0"})
	tb.now = tb.now.Add(time.Hour)
}

func TestDecisionTable(t *testing.T) {
	staged := &fleet.Policy{Waves: []float64{0.001, 100}, WaveInterval: time.Hour}
	capped := &fleet.Policy{Waves: []float64{100}, MaxUpdating: 1}
	haltAfter := func(n int) *fleet.Policy { return &fleet.Policy{Waves: []float64{100}, HaltAfter: n} }
	sha := func(tb *table) string { return tb.ch.obj.Manifest.SHA256 }
	tests := []struct {
		name  string
		keys  bool     // the agent requires signatures
		sick  []string // versions the service fails on
		setup func(tb *table, t *testing.T)
		rel   rel
		// before runs after publish, before the Check under test.
		before func(t *testing.T, tb *table)
		want   Outcome
		// wantErr: Check fails (the agent backs off and retries).
		wantErr  error
		state    string
		because  string
		refusal  string // the status object's refusal code
		installs string // versions dpkg installed, in order
	}{
		{name: "install", rel: rel{version: "2.0"}, want: OK, state: "ok", installs: "2.0"},
		{name: "skip: already installed", setup: (*table).installed,
			before: func(t *testing.T, tb *table) { tb.ch.set(tb.ch.obj.Manifest, tb.ch.body, "v-1.0-copy") },
			rel:    rel{version: "1.0"}, want: "", state: "ok", installs: "1.0"},
		{name: "roll back a sick release", setup: (*table).installed, sick: []string{"2.0"}, rel: rel{version: "2.0"},
			want: RolledBack, state: "rolled-back", because: "health check on 2.0: 500", installs: "1.0 2.0 1.0"},
		{name: "fail a sick release with nothing to roll back to", sick: []string{"2.0"}, rel: rel{version: "2.0"},
			want: Failed, state: "failed", because: "health check on 2.0: 500", installs: "2.0"},
		{name: "skip: failed here before", setup: (*table).installed, sick: []string{"2.0"}, rel: rel{version: "2.0"},
			before: func(t *testing.T, tb *table) {
				if out, _ := tb.agent.Check(t.Context()); out != RolledBack {
					t.Fatalf("first try of 2.0: %q", out)
				}
				tb.ch.set(tb.ch.obj.Manifest, tb.ch.body, "v-2.0-again")
			},
			want: "", state: "rolled-back", installs: "1.0 2.0 1.0"},
		{name: "refuse: another package", rel: rel{version: "2.0", pkg: "other"}, want: StateRefused, state: "refused", because: `release is package "other"`},
		{name: "refuse: not a Debian package", rel: rel{version: "2.0", kind: "config"}, want: StateRefused, state: "refused", because: `release is a "config"`},
		{name: "refuse: another architecture", rel: rel{version: "2.0", arch: "arm64"}, want: StateRefused, state: "refused", because: "built for arm64"},
		{name: "refuse: unsigned", keys: true, rel: rel{version: "2.0", unsigned: true}, want: StateRefused, state: "refused", because: "signature", refusal: fleet.RefusedUnsigned},
		{name: "refuse: replay", keys: true, setup: (*table).installed, want: StateRefused, state: "refused", because: "refusing a replay", refusal: fleet.RefusedReplay, installs: "1.0",
			rel: rel{version: "0.9", publishedAt: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "refuse: an older release copied back, on a fresh host", keys: true, setup: newerThenLater, want: StateRefused, state: "refused",
			because: "copied back into the channel", refusal: fleet.RefusedReplay, rel: rel{version: "1.0", publishedAt: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}},
		{name: "install: a rollback re-signed with a fresh time", keys: true, setup: newerThenLater, rel: rel{version: "1.0"},
			want: OK, state: "ok", installs: "1.0"},
		{name: "install: unsigned mode follows a copy back", setup: newerThenLater, want: OK, state: "ok", installs: "1.0",
			rel: rel{version: "1.0", publishedAt: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}},
		{name: "back off: versions cannot be listed", keys: true, rel: rel{version: "2.0"},
			before: func(t *testing.T, tb *table) {
				tb.ch.listErr = &release.Error{Op: "list versions", Kind: release.ErrAccessDenied}
			},
			wantErr: release.ErrAccessDenied, state: "none"},
		{name: "install: a plain upload", rel: rel{version: "2.0", plain: true}, want: OK, state: "ok", installs: "2.0"},
		{name: "refuse: a plain upload in signed mode", keys: true, rel: rel{version: "2.0", plain: true}, want: StateRefused, state: "refused",
			because: "not a signed release", refusal: fleet.RefusedUnsigned},
		{name: "refuse: a plain upload of another package", rel: rel{version: "2.0", pkg: "other", plain: true}, want: StateRefused, state: "refused",
			because: `plain upload is package "other"`},
		{name: "refuse: a plain upload for another architecture", rel: rel{version: "2.0", arch: "arm64", plain: true}, want: StateRefused, state: "refused",
			because: "built for arm64"},
		{name: "skip: a plain copy of the installed release", setup: (*table).installed, rel: rel{version: "1.0", plain: true},
			want: "", state: "ok", installs: "1.0"},
		{name: "skip: a plain upload that failed here before", setup: (*table).installed, sick: []string{"2.0"}, rel: rel{version: "2.0", plain: true},
			before: func(t *testing.T, tb *table) {
				if out, _ := tb.agent.Check(t.Context()); out != RolledBack {
					t.Fatalf("first try of 2.0: %q", out)
				}
				tb.ch.setPlain(tb.ch.body, "v-2.0-again")
			},
			want: "", state: "rolled-back", installs: "1.0 2.0 1.0"},
		{name: "refuse: no VersionId", rel: rel{version: "2.0", noVersionID: true}, want: StateRefused, state: "refused", because: "no VersionId"},
		{name: "refuse: package differs from its manifest", rel: rel{version: "2.0", debVersion: "2.1"}, want: StateRefused, state: "refused", because: "package is hello 2.1"},
		{name: "refuse: object larger than its manifest", rel: rel{version: "2.0"},
			before: func(t *testing.T, tb *table) { tb.ch.obj.Size = 100 << 30 }, want: StateRefused, state: "refused", because: "107374182400 bytes, its manifest says"},
		{name: "refuse: malformed policy", rel: rel{version: "2.0", extra: map[string]string{"rollout": "50%"}}, want: StateRefused, state: "refused", because: "100%"},
		{name: "wait for a wave", rel: rel{version: "2.0", policy: staged}, want: "", state: "waiting", because: "does not cover this host"},
		{name: "wave reached an hour later", rel: rel{version: "2.0", policy: staged},
			before: func(t *testing.T, tb *table) { tb.now = tb.now.Add(time.Hour) }, want: OK, state: "ok", installs: "2.0"},
		{name: "hold for a slot", rel: rel{version: "2.0", policy: capped},
			before: func(t *testing.T, tb *table) {
				if _, err := tb.fleet.AcquireLease(t.Context(), tb.addr, fleet.LeaseRequest{Slots: 1, Holder: "web-2", SHA256: sha(tb), TTL: time.Hour}); err != nil {
					t.Fatal(err)
				}
			},
			want: "", state: "waiting", because: "no free update slot of 1"},
		{name: "halted by hand", rel: rel{version: "2.0", policy: capped},
			before: func(t *testing.T, tb *table) {
				if _, _, err := tb.fleet.Halt(t.Context(), tb.addr, sha(tb), "2.0", "ops", "bad canary"); err != nil {
					t.Fatal(err)
				}
			},
			want: "", state: "halted", because: "bad canary"},
		{name: "halted by failures", rel: rel{version: "2.0", policy: haltAfter(1)},
			before: func(t *testing.T, tb *table) { tb.fail(t, "web-2") }, want: "", state: "halted", because: "1 hosts failed (halt-after 1): web-2"},
		{name: "wait for hosts trying it", rel: rel{version: "2.0", policy: haltAfter(2)},
			before: func(t *testing.T, tb *table) {
				tb.fail(t, "web-2")
				if _, err := tb.fleet.AcquireLease(t.Context(), tb.addr, fleet.LeaseRequest{Slots: 2, Holder: "web-3", SHA256: sha(tb), TTL: time.Hour}); err != nil {
					t.Fatal(err)
				}
			},
			want: "", state: "waiting", because: "1 hosts failed this release and 1 are trying it"},
		{name: "back off: channel unreachable", rel: rel{version: "2.0"},
			before: func(t *testing.T, tb *table) {
				tb.ch.headErr = &release.Error{Op: "head", Kind: release.ErrUnreachable}
			},
			wantErr: release.ErrUnreachable, state: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, tt.keys, tt.sick...)
			if tt.setup != nil {
				tt.setup(tb, t)
			}
			tb.publish(t, tt.rel)
			if tt.before != nil {
				tt.before(t, tb)
			}
			noted := tb.notes.count()
			out, err := tb.agent.Check(t.Context())
			if out != tt.want || !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Check = %q, %v; want %q, %v", out, err, tt.want, tt.wantErr)
			}
			// The host's own failures, rollbacks and refusals are
			// notified, once; nothing else is.
			var notified []string
			if tt.want == RolledBack || tt.want == Failed || tt.want == StateRefused {
				notified = []string{tt.state}
			}
			if got := tb.notes.states(noted); !slices.Equal(got, notified) {
				t.Errorf("notified %v, want %v", got, notified)
			}
			st, err := tb.fleet.ReadHostStatus(t.Context(), tb.addr, "web-1")
			if err != nil {
				t.Fatal(err)
			}
			why := st.Error
			if st.Rollout != nil {
				why += st.Rollout.Waiting + st.Rollout.Halted
			}
			if st.State != tt.state || !strings.Contains(why, tt.because) || st.Refusal != tt.refusal {
				t.Errorf("status %s %q (refusal %q), want %s %q (refusal %q)", st.State, why, st.Refusal, tt.state, tt.because, tt.refusal)
			}
			if got := strings.Join(tb.dpkg.installs, " "); got != tt.installs {
				t.Errorf("dpkg installed %q, want %q", got, tt.installs)
			}
		})
	}
}

// fail records host's failure of the channel's release.
func (tb *table) fail(t *testing.T, host string) {
	t.Helper()
	m := tb.ch.obj.Manifest
	if err := tb.fleet.RecordFailure(t.Context(), tb.addr, fleet.FailureRecord{Host: host, Version: m.Version, SHA256: m.SHA256, Outcome: "rolled-back", Time: tb.now}); err != nil {
		t.Fatal(err)
	}
}

// TestCopyBackListedOnce: the channel's versions are listed once per
// release, not at every check while the host waits for a slot.
func TestCopyBackListedOnce(t *testing.T) {
	tb := newTable(t, true)
	tb.publish(t, rel{version: "2.0", policy: &fleet.Policy{Waves: []float64{100}, MaxUpdating: 1}})
	if _, err := tb.fleet.AcquireLease(t.Context(), tb.addr, fleet.LeaseRequest{Slots: 1, Holder: "web-2", SHA256: tb.ch.obj.Manifest.SHA256, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if out, err := tb.agent.Check(t.Context()); out != "" || err != nil {
			t.Fatalf("check %d: %q, %v; want to wait for the slot", i+1, out, err)
		}
	}
	if tb.ch.lists != 1 {
		t.Errorf("%d version listings for one release, want 1", tb.ch.lists)
	}
}

// TestRefusalRemembered: a refused release is not fetched, and not
// considered again until the channel changes.
func TestRefusalRemembered(t *testing.T) {
	tb := newTable(t, false)
	tb.publish(t, rel{version: "2.0"})
	tb.ch.obj.Size = 100 << 30
	for i := range 3 {
		out, err := tb.agent.Check(t.Context())
		if want := map[bool]Outcome{true: StateRefused, false: ""}[i == 0]; out != want || err != nil {
			t.Fatalf("check %d: %q, %v; want %q", i+1, out, err, want)
		}
	}
	if tb.ch.fetches != 0 {
		t.Errorf("%d fetches of a refused release, want 0", tb.ch.fetches)
	}
	tb.publish(t, rel{version: "2.1"})
	if out, err := tb.agent.Check(t.Context()); out != OK || err != nil {
		t.Errorf("the next release: %q, %v", out, err)
	}
}

// TestHaltByFailuresRemembered: a host that found a release halted by its
// failure count (no halt record: agents may not write one) keeps
// reporting it halted without taking an update slot again, even when
// every slot is busy, until a resume forgives the failures.
func TestHaltByFailuresRemembered(t *testing.T) {
	tb := newTable(t, false)
	tb.publish(t, rel{version: "2.0", policy: &fleet.Policy{Waves: []float64{100}, MaxUpdating: 1, HaltAfter: 1}})
	tb.fail(t, "web-2")
	check := func(want string) {
		t.Helper()
		tb.ch.set(tb.ch.obj.Manifest, tb.ch.body, tb.ch.obj.VersionID) // a new ETag: consider it again
		if out, err := tb.agent.Check(t.Context()); out != "" || err != nil {
			t.Fatalf("Check = %q, %v", out, err)
		}
		if st, err := tb.fleet.ReadHostStatus(t.Context(), tb.addr, "web-1"); err != nil || st.State != want {
			t.Fatalf("status %+v, %v; want %s", st, err, want)
		}
	}
	check(fleet.StateHalted)
	l, err := tb.fleet.AcquireLease(t.Context(), tb.addr, fleet.LeaseRequest{Slots: 1, Holder: "web-3", SHA256: tb.ch.obj.Manifest.SHA256, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	check(fleet.StateHalted) // not "waiting: no free update slot"
	if _, err := tb.fleet.Resume(t.Context(), tb.addr, tb.ch.obj.Manifest.SHA256, "2.0", "ops", "fixed"); err != nil {
		t.Fatal(err)
	}
	check(fleet.StateWaiting) // resumed; web-3 holds the one slot
	if err := l.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	tb.ch.set(tb.ch.obj.Manifest, tb.ch.body, tb.ch.obj.VersionID)
	if out, err := tb.agent.Check(t.Context()); out != OK || err != nil {
		t.Fatalf("after the resume and a free slot: %q, %v", out, err)
	}
}
