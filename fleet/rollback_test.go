package fleet

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

// TestRollbackPolicy: a rollback goes to the whole fleet at once unless
// told otherwise, and a signed release's policy changes only when it is
// re-signed.
func TestRollbackPolicy(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	staged := Policy{Waves: []float64{10, 50, 100}, WaveInterval: 5 * time.Minute, MaxUpdating: 2, HaltAfter: 1}
	again := Policy{Waves: []float64{50, 100}, WaveInterval: time.Minute}
	tests := []struct {
		name   string
		signed bool // 1.0 was published signed
		resign bool // the rollback re-signs it
		rp     RollbackPolicy
		// wantPolicy is the restored policy (none: the rollback fails);
		// wantFresh whether the restored manifest has a new PublishedAt.
		wantPolicy Policy
		wantFresh  bool
		wantErr    error
	}{
		{"unsigned: whole fleet", false, false, RollbackPolicy{}, DefaultPolicy(), false, nil},
		{"unsigned: staged again", false, false, RollbackPolicy{Rollout: &again}, again, true, nil},
		{"unsigned: keep", false, false, RollbackPolicy{Keep: true}, staged, false, nil},
		{"signed: refused without a key", true, false, RollbackPolicy{}, Policy{}, false, ErrSignedPolicy},
		{"signed: staged refused without a key", true, false, RollbackPolicy{Rollout: &again}, Policy{}, false, ErrSignedPolicy},
		{"signed: keep", true, false, RollbackPolicy{Keep: true}, staged, false, nil},
		{"signed: re-signed, whole fleet", true, true, RollbackPolicy{}, DefaultPolicy(), true, nil},
		{"signed: re-signed, staged", true, true, RollbackPolicy{Rollout: &again}, again, true, nil},
		{"keep and a policy", false, false, RollbackPolicy{Keep: true, Rollout: &again}, Policy{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := release.Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
			body := randomBytes(t, 2000)
			m := testManifest(body, "1.0")
			m.PublishedAt = m.PublishedAt.Add(-24 * time.Hour)
			if err := staged.Apply(m); err != nil {
				t.Fatal(err)
			}
			if tt.signed {
				key.Sign(m)
			}
			if _, err := c.Publish(testCtx(t), a, release.PublishInput{Body: bytes.NewReader(body), Manifest: m}); err != nil {
				t.Fatal(err)
			}
			publishBytes(t, c, a, randomBytes(t, 2000), "1.1")
			later := func() time.Time { return m.PublishedAt.Add(48 * time.Hour) }
			rp := tt.rp
			rp.Resign, rp.Now = tt.resign, later
			in := release.RollbackInput{To: "1.0", Now: later, Edit: rp.Edit}
			if tt.resign {
				in.Key = key
			}
			_, err := c.Rollback(testCtx(t), a, in)
			if tt.wantPolicy.Waves == nil {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("rollback: %v, want %v", err, tt.wantErr)
				}
				if cur := currentManifest(t, c, a); cur.Version != "1.1" {
					t.Errorf("a refused rollback changed the channel: %s is current", cur.Version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cur := currentManifest(t, c, a)
			if cur.SHA256 != m.SHA256 {
				t.Fatal("the current release is not 1.0")
			}
			p, err := PolicyOf(cur)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.wantPolicy.String() {
				t.Errorf("restored policy %q, want %q", p, tt.wantPolicy)
			}
			wantAt := m.PublishedAt
			if tt.wantFresh {
				wantAt = later()
			}
			if !cur.PublishedAt.Equal(wantAt) {
				t.Errorf("restored manifest published %v, want %v", cur.PublishedAt, wantAt)
			}
			if cur.Signed() != tt.signed {
				t.Errorf("restored manifest signed %v, want %v", cur.Signed(), tt.signed)
			}
			if tt.signed {
				if err := cur.Verify(key.Public()); err != nil {
					t.Errorf("restored manifest: %v", err)
				}
			}
		})
	}
}

func currentManifest(t *testing.T, c clients, a release.Address) *release.Manifest {
	t.Helper()
	obj, err := c.Head(testCtx(t), a, "")
	if err != nil {
		t.Fatal(err)
	}
	return obj.Manifest
}
