package release

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestPublishAndFetch(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	tests := []struct {
		name      string
		size      int
		multipart bool
	}{
		{"small", 1000, false},
		{"empty", 0, false},
		{"multipart", 12<<20 + 17, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
			body := randomBytes(t, tt.size)
			res := publishBytes(t, c, a, body, "1.0")
			if res.Multipart != tt.multipart || res.Skipped || res.VersionID == "" {
				t.Fatalf("result %+v", res)
			}
			var buf bytes.Buffer
			obj, err := c.Fetch(testCtx(t), a, res.VersionID, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), body) {
				t.Error("fetched bytes differ")
			}
			if obj.Manifest.Version != "1.0" || obj.VersionID != res.VersionID {
				t.Errorf("fetched %+v", obj)
			}
		})
	}
}

func TestFetchFile(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	body := randomBytes(t, 6<<20)
	res := publishBytes(t, c, a, body, "1.0")
	dir := t.TempDir()
	path := filepath.Join(dir, "hello.deb")
	if _, err := c.FetchFile(testCtx(t), a, res.VersionID, path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("fetched file differs (%v)", err)
	}
	// A version whose bytes do not match its manifest leaves no file.
	bad := testManifest(body, "2.0")
	bad.SHA256 = strings.Repeat("ab", 32)
	bad.Size = int64(len(body))
	c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: bytes.NewReader(body), Metadata: bad.Metadata()})
	obj, err := c.Head(testCtx(t), a, "")
	if err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(dir, "bad.deb")
	if _, err := c.FetchFile(testCtx(t), a, obj.VersionID, badPath); !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("tampered version: %v, want ErrChecksumMismatch", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := c.Fetch(testCtx(t), a, "", io.Discard); err == nil {
		t.Error("Fetch without a VersionId succeeded")
	}
}
