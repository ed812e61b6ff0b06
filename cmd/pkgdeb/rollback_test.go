package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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

// plantVersion writes body to a with manifest m as a bucket writer can,
// with the SDK and no check, and returns the new VersionId.
func plantVersion(t *testing.T, c *release.Client, a release.Address, body []byte, m *release.Manifest) string {
	t.Helper()
	out, err := c.S3().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key,
		Body: bytes.NewReader(body), Metadata: m.Metadata()})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// helloManifest describes body as hello version, unsigned.
func helloManifest(body []byte, version string) *release.Manifest {
	sum := sha256.Sum256(body)
	return &release.Manifest{Package: "hello", Version: version, Architecture: "amd64", SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(body)), PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "mallory@bucket"}
}

// TestRollbackVerifiesTarget: rollback --sign-key refuses a version a
// bucket writer planted between two signed releases (unsigned, signed by
// another key, or a signed manifest on other bytes) and says what to do;
// --to previous passes over the ones no trusted key signed; the explicit
// flags accept the unsigned one or another key; the output shows who
// signed the target.
func TestRollbackVerifiesTarget(t *testing.T) {
	srv := relS3(t)
	dir := t.TempDir()
	keys := map[string]*release.SigningKey{}
	for _, name := range []string{"ci", "other"} {
		mustRun(t, "keygen", "--out", filepath.Join(dir, name))
		k, err := release.LoadSigningKey(filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
	}
	debs := map[string]string{"1.0": relDeb(t, dir, "1.0"), "1.1": relDeb(t, dir, "1.1")}
	plants := map[string]func() ([]byte, *release.Manifest){
		"unsigned": func() ([]byte, *release.Manifest) {
			body := []byte("planted unsigned")
			return body, helloManifest(body, "1.0.1")
		},
		"other key": func() ([]byte, *release.Manifest) {
			body := []byte("planted, other key")
			m := helloManifest(body, "1.0.1")
			keys["other"].Sign(m)
			return body, m
		},
		"bytes differ": func() ([]byte, *release.Manifest) {
			m := helloManifest([]byte("what was signed"), "1.0.1")
			keys["ci"].Sign(m)
			return []byte("what is delivered"), m
		},
	}
	ci, other := filepath.Join(dir, "ci.key"), filepath.Join(dir, "other.pub")
	tests := []struct {
		name, plant string
		args        []string // VID: the planted VersionId
		wantCode    int
		want        []string // in stdout or stderr; CI, OTHER: the key ids
		wantVersion string
	}{
		{"unsigned", "unsigned", []string{"--to", "VID", "--sign-key", ci}, 1,
			[]string{"not signed by a trusted key", "release is not signed", "(if you trust this unsigned version", "--allow-unsigned-target with --to VERSIONID"}, "1.1"},
		{"unsigned allowed", "unsigned", []string{"--to", "VID", "--sign-key", ci, "--allow-unsigned-target"}, 0,
			[]string{"target VersionId VID: unsigned; its size and sha256 match its manifest"}, "1.0.1"},
		{"unsigned, previous", "unsigned", []string{"--to", "previous", "--sign-key", ci}, 0,
			[]string{"restored hello 1.0 ", ": signed by key CI, verified; its size and sha256 match"}, "1.0"},
		{"unsigned, previous, dry run", "unsigned", []string{"--to", "previous", "--sign-key", ci, "--dry-run"}, 0,
			[]string{"would restore hello 1.0 ", ": signed by key CI, verified; its size and sha256 match"}, "1.1"},
		{"unsigned, dry run without a key", "unsigned", []string{"--to", "VID", "--dry-run"}, 0,
			[]string{"would restore hello 1.0.1 ", "target VersionId VID: unsigned\n"}, "1.1"},
		{"previous, nothing trusted", "unsigned", []string{"--to", "previous", "--sign-key", filepath.Join(dir, "other.key")}, 1,
			[]string{"none of the 2 earlier versions", "(name the version with --to VERSIONID"}, "1.1"},
		{"other key", "other key", []string{"--to", "VID", "--sign-key", ci}, 1,
			[]string{"signed by an unknown key OTHER", "(if you trust the key that signed it, pass its public key with --public-key FILE)"}, "1.1"},
		{"other key, unsigned allowed", "other key", []string{"--to", "VID", "--sign-key", ci, "--allow-unsigned-target"}, 1,
			[]string{"signed by an unknown key OTHER"}, "1.1"},
		{"other key trusted", "other key", []string{"--to", "VID", "--sign-key", ci, "--public-key", other}, 0,
			[]string{"target VersionId VID: signed by key OTHER, verified"}, "1.0.1"},
		{"other key, previous", "other key", []string{"--to", "previous", "--sign-key", ci}, 0, []string{"restored hello 1.0 "}, "1.0"},
		{"other key, dry run without a key", "other key", []string{"--to", "VID", "--dry-run"}, 0,
			[]string{"target VersionId VID: signed by key OTHER, not checked"}, "1.1"},
		{"other key, dry run checked", "other key", []string{"--to", "VID", "--dry-run", "--public-key", filepath.Join(dir, "ci.pub")}, 0,
			[]string{"target VersionId VID: signed by key OTHER, not a trusted key"}, "1.1"},
		{"bytes differ", "bytes differ", []string{"--to", "VID", "--sign-key", ci}, 1,
			[]string{"checksum mismatch", "(its bytes are not those its manifest describes"}, "1.1"},
		{"bytes differ, previous", "bytes differ", []string{"--to", "previous", "--sign-key", ci}, 1,
			[]string{"checksum mismatch"}, "1.1"},
		{"allowed without a key", "unsigned", []string{"--to", "VID", "--allow-unsigned-target"}, 2,
			[]string{"--allow-unsigned-target only matters with --sign-key"}, "1.1"},
		{"allowed with previous", "unsigned", []string{"--to", "previous", "--sign-key", ci, "--allow-unsigned-target"}, 2,
			[]string{"name the unsigned target by its VersionId"}, "1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := "s3://" + srv.Bucket(t, true) + "/hello/production.deb"
			c, a := cmdClient(t, dst)
			mustRun(t, "publish", "--sign-key", ci, debs["1.0"], dst)
			body, m := plants[tt.plant]()
			vid := plantVersion(t, c, a, body, m)
			mustRun(t, "publish", "--sign-key", ci, debs["1.1"], dst)
			r := strings.NewReplacer("VID", vid, "CI", keys["ci"].ID(), "OTHER", keys["other"].ID())
			args := []string{"rollback", dst}
			for _, s := range tt.args {
				args = append(args, r.Replace(s))
			}
			code, out, errs := relRun(t, args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errs)
			}
			for _, w := range tt.want {
				if w = r.Replace(w); !strings.Contains(out+errs, w) {
					t.Errorf("output does not say %q:\n%s%s", w, out, errs)
				}
			}
			obj, err := c.Head(t.Context(), a, "")
			if err != nil {
				t.Fatal(err)
			}
			if obj.Manifest.Version != tt.wantVersion {
				t.Errorf("current is %s, want %s", obj.Manifest.Version, tt.wantVersion)
			}
		})
	}
}
