package release

import (
	"bytes"
	"errors"
	"testing"
)

func TestPromote(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	key, _ := GenerateKey()
	other, _ := GenerateKey()
	bucket := srv.Bucket(t, true)
	staging := Address{Bucket: bucket, Key: "app/staging.deb"}
	prod := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"} // another bucket

	v1, v2 := randomBytes(t, 3000), randomBytes(t, 3000)
	r1, err := c.Publish(testCtx(t), staging, PublishInput{Body: bytes.NewReader(v1), Manifest: testManifest(v1, "1.0"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	// A bucket writer copies production's signed manifest onto staging.
	v3 := randomBytes(t, 3000)
	m3 := testManifest(v3, "3.0")
	key.SignFor(m3, prod)
	r3, err := c.Publish(testCtx(t), staging, PublishInput{Body: bytes.NewReader(v3), Manifest: m3})
	if err != nil {
		t.Fatal(err)
	}
	publishBytes(t, c, staging, v2, "2.0") // unsigned
	elsewhere := publishBytes(t, c, Address{Bucket: bucket, Key: "other.deb"}, v2, "2.0").VersionID

	tests := []struct {
		name      string
		in        PromoteInput
		want      error
		wantBytes []byte
		skipped   bool
	}{
		{"signed, without a key to re-sign", PromoteInput{VersionID: r1.VersionID, PublicKeys: []PublicKey{key.Public()}}, ErrSignedChange, nil, false},
		{"signed version by id, re-signed", PromoteInput{VersionID: r1.VersionID, Key: key}, nil, v1, false},
		{"again: identical, skipped", PromoteInput{VersionID: r1.VersionID, Key: key}, nil, v1, true},
		{"again with force", PromoteInput{VersionID: r1.VersionID, Key: key, Force: true}, nil, v1, false},
		{"unsigned current refused when keys given", PromoteInput{PublicKeys: []PublicKey{key.Public()}}, ErrUnsigned, v1, false},
		{"unsigned current refused with a key", PromoteInput{Key: key}, ErrUnsigned, v1, false},
		{"unknown key", PromoteInput{VersionID: r1.VersionID, PublicKeys: []PublicKey{other.Public()}, Key: key}, ErrUnknownKey, v1, false},
		{"signed for another channel", PromoteInput{VersionID: r3.VersionID, Key: key}, ErrWrongChannel, v1, false},
		{"current without keys", PromoteInput{}, nil, v2, false},
		{"no such version", PromoteInput{VersionID: elsewhere}, ErrNotFound, v2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Promote(testCtx(t), staging, prod, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil && res.Skipped != tt.skipped {
				t.Errorf("skipped %v, want %v", res.Skipped, tt.skipped)
			}
			if tt.wantBytes == nil {
				return
			}
			obj, body := currentBytes(t, c, prod)
			if !bytes.Equal(body, tt.wantBytes) {
				t.Errorf("production holds %s", obj.Manifest.Version)
			}
		})
	}
	obj, _ := currentBytes(t, c, prod)
	if obj.Manifest.SHA256 != testManifest(v2, "").SHA256 {
		t.Error("sha256 changed in promotion")
	}
	// The promoted release is signed for production, and nothing else.
	hist, _ := c.History(testCtx(t), prod, 0)
	for _, v := range hist {
		if v.Manifest.Version == "1.0" {
			if err := v.Manifest.VerifyFor(prod, key.Public()); err != nil {
				t.Errorf("promoted 1.0: %v", err)
			}
			if err := v.Manifest.VerifyFor(staging, key.Public()); !errors.Is(err, ErrWrongChannel) {
				t.Errorf("promoted 1.0 verifies for staging: %v", err)
			}
		}
	}
}

func TestPromoteFromEmptyChannel(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	bucket := srv.Bucket(t, true)
	_, err := c.Promote(testCtx(t), Address{Bucket: bucket, Key: "empty/staging.deb"}, Address{Bucket: bucket, Key: "empty/production.deb"}, PromoteInput{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	t.Log(err)
}
