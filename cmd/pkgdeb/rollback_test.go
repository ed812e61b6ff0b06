package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// TestRollbackRollout: a rollback goes to the whole fleet at once; a
// signed staged release is re-signed for that, kept as signed on request,
// or refused, and --rollout stages a rollback explicitly.
func TestRollbackRollout(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	dst := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
	key := filepath.Join(dir, "ci")
	mustRun(t, "keygen", "--out", key)
	pub, err := release.LoadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	const staged = "rollout 10%,50%,100%, a wave every 5m0s, at most 2 updating at once"
	mustRun(t, "publish", "--sign-key", key+".key", relDeb(t, dir, "1.0"), dst, "--rollout", "10%,50%,100%", "--wave-interval", "5m", "--max-updating", "2")
	c, a := cmdClient(t, dst)
	first, err := c.Head(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	// Every case restores this version: "--to 1.0" would pick the
	// newest 1.0, an earlier case's rollback.
	to := first.VersionID
	mustRun(t, "publish", "--sign-key", key+".key", relDeb(t, dir, "1.1"), dst)
	current := func(t *testing.T) (version, policy string) {
		t.Helper()
		obj, err := c.Head(t.Context(), a, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := obj.Manifest.Verify(pub); err != nil {
			t.Errorf("current manifest: %v", err)
		}
		p, err := fleet.PolicyOf(obj.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		return obj.Manifest.Version, p.String()
	}

	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"signed staged release without a key", nil, 1, "--keep-rollout"},
		{"signed, staged again without a key", []string{"--rollout", "50%,100%", "--wave-interval", "1m"}, 1, "--sign-key"},
		{"keep and a policy", []string{"--keep-rollout", "--max-updating", "3"}, 2, "--keep-rollout keeps"},
		{"bad policy", []string{"--sign-key", key + ".key", "--rollout", "50%"}, 2, "must be 100%"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := relRun(t, append([]string{"rollback", dst, "--to", to}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q\n%s", code, errs, tt.wantCode, tt.wantErr, out)
			}
			if v, _ := current(t); v != "1.1" {
				t.Errorf("a refused rollback made %s current", v)
			}
		})
	}

	for _, tt := range []struct {
		name       string
		args       []string
		wantPolicy string
		wantOut    string
	}{
		{"re-signed: whole fleet", []string{"--sign-key", key + ".key"}, "rollout 100%", "every host at once"},
		{"kept as signed", []string{"--keep-rollout"}, staged, staged},
		{"re-signed and staged", []string{"--sign-key", key + ".key", "--rollout", "50%,100%", "--wave-interval", "2m"},
			"rollout 50%,100%, a wave every 2m0s", "last wave from "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := mustRun(t, append([]string{"rollback", dst, "--to", to}, tt.args...)...)
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output does not say %q:\n%s", tt.wantOut, out)
			}
			if v, p := current(t); v != "1.0" || p != tt.wantPolicy {
				t.Errorf("current %s with %q, want 1.0 with %q", v, p, tt.wantPolicy)
			}
			// Back to 1.1 for the next case.
			mustRun(t, "rollback", dst, "--to", "1.1", "--sign-key", key+".key")
		})
	}
}
