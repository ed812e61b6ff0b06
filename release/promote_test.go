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
	m1 := testManifest(v1, "1.0")
	key.Sign(m1)
	r1, err := c.Publish(testCtx(t), staging, PublishInput{Body: bytes.NewReader(v1), Manifest: m1})
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
		{"signed version by id", PromoteInput{VersionID: r1.VersionID, PublicKeys: []PublicKey{key.Public()}}, nil, v1, false},
		{"again: identical, skipped", PromoteInput{VersionID: r1.VersionID}, nil, v1, true},
		{"again with force", PromoteInput{VersionID: r1.VersionID, Force: true}, nil, v1, false},
		{"unsigned current refused when keys given", PromoteInput{PublicKeys: []PublicKey{key.Public()}}, ErrUnsigned, v1, false},
		{"unknown key", PromoteInput{VersionID: r1.VersionID, PublicKeys: []PublicKey{other.Public()}}, ErrUnknownKey, v1, false},
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
	// The signature travels with the bytes.
	hist, _ := c.History(testCtx(t), prod, 0)
	for _, v := range hist {
		if v.Manifest.Version == "1.0" {
			if err := v.Manifest.Verify(key.Public()); err != nil {
				t.Errorf("promoted 1.0: %v", err)
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
