package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/debfleet/debfleet/internal/testenv"
)

// plainUpload writes body as a new version of a without a manifest, the
// way some S3 client would, and returns its VersionId.
type plainUpload func(t *testing.T, srv *testenv.S3Server, c *Client, a Address, body []byte) string

func putWith(alg s3types.ChecksumAlgorithm) plainUpload {
	return func(t *testing.T, srv *testenv.S3Server, c *Client, a Address, body []byte) string {
		out, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: bytes.NewReader(body), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
}

// multipartPlain uploads body in 5 MiB parts.
func multipartPlain(alg s3types.ChecksumAlgorithm) plainUpload {
	return func(t *testing.T, srv *testenv.S3Server, c *Client, a Address, body []byte) string {
		s := c.S3()
		up, err := s.CreateMultipartUpload(testCtx(t), &s3.CreateMultipartUploadInput{Bucket: &a.Bucket, Key: &a.Key, ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		var parts []s3types.CompletedPart
		for i := 0; i*5<<20 < len(body); i++ {
			chunk := body[i*5<<20 : min(len(body), (i+1)*5<<20)]
			out, err := s.UploadPart(testCtx(t), &s3.UploadPartInput{Bucket: &a.Bucket, Key: &a.Key, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(chunk), ChecksumAlgorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256})
		}
		out, err := s.CompleteMultipartUpload(testCtx(t), &s3.CompleteMultipartUploadInput{Bucket: &a.Bucket, Key: &a.Key,
			UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
}

// awsCopy uploads body with "aws s3 cp", which goes multipart from 8 MiB.
func awsCopy(t *testing.T, srv *testenv.S3Server, c *Client, a Address, body []byte) string {
	path := filepath.Join(t.TempDir(), "hello.deb")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.AWS(t, "s3", "cp", "--only-show-errors", path, a.String())
	obj, err := c.Head(testCtx(t), a, "")
	if err != nil {
		t.Fatal(err)
	}
	return obj.VersionID
}

// TestFetchPlain: objects written without a manifest by several clients
// are fetched with their SHA-256 computed and checked against what S3
// says of them (its checksum, an MD5 ETag); a byte changed on the way is
// caught by each of those, and a length other than the listed one is
// refused before any byte is read.
func TestFetchPlain(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	bucket := srv.Bucket(t, true)
	small, large := randomBytes(t, 3000), randomBytes(t, 12<<20+12345)
	tests := []struct {
		name   string
		upload plainUpload
		body   []byte
		want   []string // checks Integrity must list; nil: any, but one
	}{
		{"PutObject", putWith(""), small, []string{"ETag MD5"}},
		{"PutObject with CRC32", putWith(s3types.ChecksumAlgorithmCrc32), small, []string{"S3 checksum CRC32", "ETag MD5"}},
		{"PutObject with SHA-256", putWith(s3types.ChecksumAlgorithmSha256), small, []string{"S3 checksum SHA256", "ETag MD5"}},
		{"multipart", multipartPlain(""), large, []string{"multipart ETag MD5"}},
		{"multipart with SHA-256", multipartPlain(s3types.ChecksumAlgorithmSha256), large, []string{"S3 composite checksum SHA256", "multipart ETag MD5"}},
		{"aws s3 cp", awsCopy, small, nil},
		{"aws s3 cp, multipart", awsCopy, large, nil},
	}
	flip := flipProxy(t, srv.Endpoint)
	fc, err := New(testCtx(t), Options{Endpoint: flip, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Address{Bucket: bucket, Key: "plain/" + strings.Repeat("x", i) + "hello.deb"}
			vid := tt.upload(t, srv, c, a, tt.body)
			head, err := c.Head(testCtx(t), a, vid)
			if err != nil || !head.Plain() {
				t.Fatalf("HEAD: %v, plain %v", err, head != nil && head.Plain())
			}
			var buf bytes.Buffer
			obj, err := c.FetchPlain(testCtx(t), a, vid, head.Size, &buf)
			if err != nil {
				t.Fatalf("FetchPlain: %v", err)
			}
			sum := sha256.Sum256(tt.body)
			if !bytes.Equal(buf.Bytes(), tt.body) || obj.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("got %d other bytes, sha256 %s", buf.Len(), obj.SHA256)
			}
			t.Logf("checked: %v", obj.Integrity)
			for _, w := range tt.want {
				if !slices.Contains(obj.Integrity, w) {
					t.Errorf("integrity %v lacks %q", obj.Integrity, w)
				}
			}
			if len(obj.Integrity) == 0 {
				t.Fatal("nothing vouched for the bytes")
			}
			if _, err := fc.FetchPlain(testCtx(t), a, vid, head.Size, io.Discard); !errors.Is(err, ErrChecksumMismatch) {
				t.Errorf("a byte flipped on the way: %v, want ErrChecksumMismatch", err)
			}
			var got countingWriter
			if _, err := c.FetchPlain(testCtx(t), a, vid, head.Size-1, &got); !errors.Is(err, ErrChecksumMismatch) || got.n != 0 {
				t.Errorf("listed one byte shorter: %v after %d bytes, want ErrChecksumMismatch before any", err, got.n)
			}
		})
	}
}
