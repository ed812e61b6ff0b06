package release

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// publishVersions publishes one release per version string and returns
// their bodies and VersionIds.
func publishVersions(t *testing.T, c *Client, a Address, versions ...string) (map[string][]byte, map[string]string) {
	t.Helper()
	bodies, ids := map[string][]byte{}, map[string]string{}
	for _, v := range versions {
		bodies[v] = randomBytes(t, 2000)
		ids[v] = publishBytes(t, c, a, bodies[v], v).VersionID
	}
	return bodies, ids
}

func currentBytes(t *testing.T, c *Client, a Address) (*Object, []byte) {
	t.Helper()
	obj, err := c.Head(testCtx(t), a, "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := c.Fetch(testCtx(t), a, obj.VersionID, &buf); err != nil {
		t.Fatal(err)
	}
	return obj, buf.Bytes()
}

func historyVersions(t *testing.T, c *Client, a Address) string {
	t.Helper()
	hist, err := c.History(testCtx(t), a, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range hist {
		s := v.Manifest.Version
		if v.Current {
			s += "*"
		}
		got = append(got, s)
	}
	return strings.Join(got, " ")
}

func TestHistoryNewestFirst(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	publishVersions(t, c, a, "1.0", "1.1", "1.2")
	// A key that merely shares the prefix must not show up.
	publishBytes(t, c, Address{Bucket: a.Bucket, Key: a.Key + ".old"}, []byte("x"), "9.9")
	if got, want := historyVersions(t, c, a), "1.2* 1.1 1.0"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	hist, err := c.History(testCtx(t), a, 2)
	if err != nil || len(hist) != 2 {
		t.Errorf("limit 2: %d entries, %v", len(hist), err)
	}
	empty, err := c.History(testCtx(t), Address{Bucket: a.Bucket, Key: "nothing.deb"}, 0)
	if err != nil || len(empty) != 0 {
		t.Errorf("empty channel: %v, %v", empty, err)
	}
}

func TestRollback(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	key := mustKey(t)
	tests := []struct {
		name        string
		to          func(ids map[string]string) string
		key         *SigningKey
		dryRun      bool
		wantVersion string // package version current afterwards
		wantHistory string
	}{
		{"previous", func(map[string]string) string { return ToPrevious }, nil, false, "1.1", "1.1* 1.2 1.1 1.0"},
		{"version id", func(ids map[string]string) string { return ids["1.0"] }, nil, false, "1.0", "1.0* 1.2 1.1 1.0"},
		{"package version", func(map[string]string) string { return "1.0" }, nil, false, "1.0", "1.0* 1.2 1.1 1.0"},
		{"re-signed", func(map[string]string) string { return "1.1" }, key, false, "1.1", "1.1* 1.2 1.1 1.0"},
		{"dry run", func(map[string]string) string { return ToPrevious }, nil, true, "1.2", "1.2* 1.1 1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
			bodies, ids := publishVersions(t, c, a, "1.0", "1.1", "1.2")
			before, _ := currentBytes(t, c, a)
			later := func() time.Time { return before.Manifest.PublishedAt.Add(time.Hour) }
			// The history is unsigned: re-signing it must be allowed.
			in := RollbackInput{To: tt.to(ids), Key: tt.key, DryRun: tt.dryRun, Now: later, Publisher: "ops@desk", AllowUnsigned: true}
			res, err := c.Rollback(testCtx(t), a, in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.dryRun != (res.VersionID == "") {
				t.Errorf("dry run %v but new VersionId %q", tt.dryRun, res.VersionID)
			}
			obj, body := currentBytes(t, c, a)
			if obj.Manifest.Version != tt.wantVersion || !bytes.Equal(body, bodies[tt.wantVersion]) {
				t.Errorf("current is %s, want the bytes of %s", obj.Manifest.Version, tt.wantVersion)
			}
			if got := historyVersions(t, c, a); got != tt.wantHistory {
				t.Errorf("history %q, want %q", got, tt.wantHistory)
			}
			if tt.key != nil {
				if err := obj.Manifest.Verify(tt.key.Public()); err != nil {
					t.Errorf("re-signed manifest: %v", err)
				}
				if !obj.Manifest.PublishedAt.Equal(later()) || obj.Manifest.Publisher != "ops@desk" {
					t.Errorf("re-signed manifest published %v by %s, want %v by ops@desk", obj.Manifest.PublishedAt, obj.Manifest.Publisher, later())
				}
			} else if !tt.dryRun && obj.Manifest.Signed() {
				t.Error("unsigned release came back signed")
			}
		})
	}
}

func TestRollbackErrors(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	publishVersions(t, c, a, "1.0", "1.1")
	tests := []struct {
		to   string
		want error
	}{
		{"2.0", ErrNotFound},
		{"no-such-version-id", ErrNotFound},
		{"", ErrNotFound},
	}
	for _, tt := range tests {
		_, err := c.Rollback(testCtx(t), a, RollbackInput{To: tt.to})
		if !errors.Is(err, tt.want) {
			t.Errorf("--to %q: %v, want %v", tt.to, err, tt.want)
		}
	}
	if got := historyVersions(t, c, a); got != "1.1* 1.0" {
		t.Errorf("history changed by failed rollbacks: %q", got)
	}
	res, err := c.Rollback(testCtx(t), a, RollbackInput{To: "1.1"})
	if err != nil || !res.AlreadyCurrent {
		t.Errorf("rollback to the current version: %+v, %v", res, err)
	}
	// previous skips versions with the current bytes (an earlier rollback
	// to the same release).
	if _, err := c.Rollback(testCtx(t), a, RollbackInput{To: ToPrevious}); err != nil {
		t.Fatal(err)
	}
	res, err = c.Rollback(testCtx(t), a, RollbackInput{To: ToPrevious})
	if err != nil || res.Target.Manifest.Version != "1.1" {
		t.Errorf("second previous: %+v, %v", res, err)
	}
}

func TestHistoryUnversionedBucket(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, false), Key: "app/production.deb"}
	for _, v := range []string{"1.0", "1.1"} {
		body := randomBytes(t, 100)
		if _, err := c.Publish(testCtx(t), a, PublishInput{Body: bytes.NewReader(body), Manifest: testManifest(body, v), AllowUnversioned: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got := historyVersions(t, c, a); got != "1.1*" {
		t.Errorf("history of an unversioned channel: %q", got)
	}
	if _, err := c.Rollback(testCtx(t), a, RollbackInput{To: ToPrevious}); !errors.Is(err, ErrNotFound) {
		t.Errorf("rollback without versions: %v", err)
	}
}

// TestRollbackEdit: an Edit changes the restored manifest; a signed
// manifest changes only when it is re-signed, and an unchanged one is
// copied as it is.
func TestRollbackEdit(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	key := mustKey(t)
	mark := func(m *Manifest) error {
		if m.Extra == nil {
			m.Extra = map[string]string{}
		}
		m.Extra["note"] = "restored"
		return nil
	}
	same := func(*Manifest) error { return nil }
	tests := []struct {
		name    string
		signed  bool // 1.0 was published signed
		in      RollbackInput
		wantErr error
		// wantNote is the restored manifest's "note"; wantSigned whether
		// it verifies.
		wantNote   string
		wantSigned bool
	}{
		{"unsigned: edited", false, RollbackInput{Edit: mark}, nil, "restored", false},
		{"unsigned: unchanged", false, RollbackInput{Edit: same}, nil, "", false},
		{"signed: unchanged", true, RollbackInput{Edit: same}, nil, "", true},
		{"signed: edit refused without a key", true, RollbackInput{Edit: mark}, ErrSignedChange, "", false},
		{"signed: edited and re-signed", true, RollbackInput{Edit: mark, Key: key}, nil, "restored", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
			body := randomBytes(t, 2000)
			m := testManifest(body, "1.0")
			if tt.signed {
				key.Sign(m)
			}
			if _, err := c.Publish(testCtx(t), a, PublishInput{Body: bytes.NewReader(body), Manifest: m}); err != nil {
				t.Fatal(err)
			}
			publishVersions(t, c, a, "1.1")
			in := tt.in
			in.To = "1.0"
			_, err := c.Rollback(testCtx(t), a, in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("rollback: %v, want %v", err, tt.wantErr)
				}
				if got := historyVersions(t, c, a); got != "1.1* 1.0" {
					t.Errorf("a refused rollback changed the channel: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			obj, got := currentBytes(t, c, a)
			if !bytes.Equal(got, body) {
				t.Fatal("the current bytes are not 1.0's")
			}
			if note := obj.Manifest.Extra["note"]; note != tt.wantNote {
				t.Errorf("restored note %q, want %q", note, tt.wantNote)
			}
			if err := obj.Manifest.Verify(key.Public()); (err == nil) != tt.wantSigned {
				t.Errorf("restored manifest verifies: %v, want signed %v", err, tt.wantSigned)
			}
		})
	}
}

// plant writes body over a with the manifest m (nil: no metadata at all),
// as anyone allowed to write to the bucket can: with the SDK, checking
// nothing. It returns the new VersionId.
func plant(t *testing.T, c *Client, a Address, body []byte, m *Manifest) string {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: bytes.NewReader(body)}
	if m != nil {
		in.Metadata = m.Metadata()
	}
	out, err := c.S3().PutObject(testCtx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func mustKey(t *testing.T) *SigningKey {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publishSigned publishes a fresh body as version of "hello", signed by key.
func publishSigned(t *testing.T, c *Client, a Address, key *SigningKey, version string) []byte {
	t.Helper()
	body := randomBytes(t, 2000)
	m := testManifest(body, version)
	key.Sign(m)
	if _, err := c.Publish(testCtx(t), a, PublishInput{Body: bytes.NewReader(body), Manifest: m}); err != nil {
		t.Fatal(err)
	}
	return body
}

// TestRollbackResignVerifiesTarget: re-signing vouches for a version, so a
// rollback with a key refuses a version that a bucket writer planted (no
// signature, another key's, a signature that does not cover the manifest,
// bytes that differ from a signed manifest), and previous passes over
// versions no trusted key signed instead of picking them.
func TestRollbackResignVerifiesTarget(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	key := mustKey(t)
	other := mustKey(t)
	// Each planted version is 1.0.1 (but one), between the signed 1.0 and
	// 1.1.
	plants := map[string]func(body []byte) (stored []byte, m *Manifest){
		"unsigned": func(body []byte) ([]byte, *Manifest) { return body, testManifest(body, "1.0.1") },
		"other key": func(body []byte) ([]byte, *Manifest) {
			m := testManifest(body, "1.0.1")
			other.Sign(m)
			return body, m
		},
		"bad signature": func(body []byte) ([]byte, *Manifest) {
			m := testManifest(body, "1.0.1")
			key.Sign(m)
			m.Publisher = "mallory@evil"
			return body, m
		},
		// A signed manifest copied onto other bytes of the same size.
		"bytes differ": func(body []byte) ([]byte, *Manifest) {
			m := testManifest(body, "1.0.1")
			key.Sign(m)
			return randomBytes(t, len(body)), m
		},
		"unsigned, bytes differ": func(body []byte) ([]byte, *Manifest) {
			return randomBytes(t, len(body)), testManifest(body, "1.0.1")
		},
		// A release signed for staging, copied into production's history.
		"other channel": func(body []byte) ([]byte, *Manifest) {
			m := testManifest(body, "1.0.1")
			key.SignFor(m, Address{Bucket: "staging", Key: "app/staging.deb"})
			return body, m
		},
		"no manifest":  func(body []byte) ([]byte, *Manifest) { return body, nil },
		"unsigned 1.0": func(body []byte) ([]byte, *Manifest) { return body, testManifest(body, "1.0") },
	}
	tests := []struct {
		name     string
		plant    string
		to       string // "" for the planted version's VersionId
		in       RollbackInput
		wantErrs []error
		want     string // current afterwards: "planted", "1.0", "1.1"
	}{
		{"unsigned", "unsigned", "", RollbackInput{}, []error{ErrUntrustedTarget, ErrUnsigned}, "1.1"},
		{"unsigned, dry run", "unsigned", "", RollbackInput{DryRun: true}, []error{ErrUntrustedTarget, ErrUnsigned}, "1.1"},
		{"unsigned allowed", "unsigned", "", RollbackInput{AllowUnsigned: true}, nil, "planted"},
		{"unsigned allowed, dry run", "unsigned", "", RollbackInput{AllowUnsigned: true, DryRun: true}, nil, "1.1"},
		{"previous passes over unsigned", "unsigned", ToPrevious, RollbackInput{}, nil, "1.0"},
		{"previous passes over unsigned when allowed", "unsigned", ToPrevious, RollbackInput{AllowUnsigned: true}, nil, "1.0"},
		{"previous, nothing trusted", "unsigned", ToPrevious, RollbackInput{Key: other}, []error{ErrUntrustedTarget}, "1.1"},
		{"other key", "other key", "", RollbackInput{}, []error{ErrUntrustedTarget, ErrUnknownKey}, "1.1"},
		{"other key, unsigned allowed", "other key", "", RollbackInput{AllowUnsigned: true}, []error{ErrUntrustedTarget, ErrUnknownKey}, "1.1"},
		{"other key trusted", "other key", "", RollbackInput{PublicKeys: []PublicKey{other.Public()}}, nil, "planted"},
		{"previous passes over other key", "other key", ToPrevious, RollbackInput{}, nil, "1.0"},
		{"bad signature", "bad signature", "", RollbackInput{}, []error{ErrUntrustedTarget, ErrBadSignature}, "1.1"},
		{"previous passes over bad signature", "bad signature", ToPrevious, RollbackInput{}, nil, "1.0"},
		{"bytes differ", "bytes differ", "", RollbackInput{}, []error{ErrChecksumMismatch}, "1.1"},
		{"bytes differ, dry run", "bytes differ", "", RollbackInput{DryRun: true}, []error{ErrChecksumMismatch}, "1.1"},
		{"previous, bytes differ", "bytes differ", ToPrevious, RollbackInput{}, []error{ErrChecksumMismatch}, "1.1"},
		{"unsigned allowed, bytes differ", "unsigned, bytes differ", "", RollbackInput{AllowUnsigned: true}, []error{ErrChecksumMismatch}, "1.1"},
		{"no manifest", "no manifest", "", RollbackInput{AllowUnsigned: true}, []error{ErrNoManifest}, "1.1"},
		{"other channel", "other channel", "", RollbackInput{}, []error{ErrUntrustedTarget, ErrWrongChannel}, "1.1"},
		{"previous passes over another channel's", "other channel", ToPrevious, RollbackInput{}, nil, "1.0"},
		// A package version names the newest version carrying it that a
		// trusted key signed, not a newer planted one.
		{"package version passes over unsigned", "unsigned 1.0", "1.0", RollbackInput{}, nil, "1.0"},
		{"package version, nothing trusted", "unsigned", "1.0.1", RollbackInput{}, []error{ErrUntrustedTarget, ErrUnsigned}, "1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
			bodies := map[string][]byte{"1.0": publishSigned(t, c, a, key, "1.0")}
			stored, m := plants[tt.plant](randomBytes(t, 2000))
			bodies["planted"] = stored
			vid := plant(t, c, a, stored, m)
			bodies["1.1"] = publishSigned(t, c, a, key, "1.1")
			in := tt.in
			if in.Key == nil {
				in.Key = key
			}
			in.To = tt.to
			if in.To == "" {
				in.To = vid
			}
			_, err := c.Rollback(testCtx(t), a, in)
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("rollback: %v, want %v", err, want)
				}
			}
			if tt.wantErrs == nil && err != nil {
				t.Errorf("rollback: %v", err)
			}
			obj, body := currentBytes(t, c, a)
			if !bytes.Equal(body, bodies[tt.want]) {
				t.Errorf("current is %s (VersionId %s), want the bytes of %s", obj.Manifest.Version, obj.VersionID, tt.want)
			}
			if err := obj.Manifest.Verify(key.Public()); tt.want != "1.1" && err != nil {
				t.Errorf("restored manifest: %v", err)
			}
		})
	}
}
