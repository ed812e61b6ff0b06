package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// tamperProxy forwards to backend and lets edit change every GetObject
// response (not HEADs), as a corrupting middlebox or disk would.
func tamperProxy(t *testing.T, backend string, edit func(*http.Response) error) string {
	t.Helper()
	p := testenv.StartS3Proxy(t, backend)
	p.SetFault(realparts.Fault{Response: func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("versionId") == "" {
			return nil
		}
		return edit(resp)
	}})
	return p.URL
}

// flipProxy forwards to backend and flips one bit in the middle of every
// GetObject body, as a corrupting middlebox or disk would.
func flipProxy(t *testing.T, backend string) string {
	t.Helper()
	return tamperProxy(t, backend, func(r *http.Response) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body.Close()
		b[len(b)/2] ^= 1
		r.Body = io.NopCloser(bytes.NewReader(b))
		return nil
	})
}

// TestFetchVerifiesS3Checksum: versitygw returns a full-object SHA-256 for
// single-part uploads and copies, and the full-object CRC32C Publish gives
// multipart uploads; Fetch checks both, and refuses bytes that do not
// match S3's checksum even when they match the manifest. (Composite
// SHA-256s, of releases published before: TestFetchOldManifest.)
func TestFetchVerifiesS3Checksum(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	bucket := srv.Bucket(t, true)
	small, large := randomBytes(t, 1000), randomBytes(t, 12<<20+12345) // 5 MiB parts: 3 parts

	single := Address{Bucket: bucket, Key: "app/single.deb"}
	multi := Address{Bucket: bucket, Key: "app/multi.deb"}
	copied := Address{Bucket: bucket, Key: "app/copied.deb"}
	vSingle := publishBytes(t, c, single, small, "1.0").VersionID
	vMulti := publishBytes(t, c, multi, large, "2.0").VersionID
	// A server-side copy of the multipart release (as promote makes).
	src := bucket + "/" + multi.Key + "?versionId=" + vMulti
	cp, err := c.S3().CopyObject(testCtx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: &copied.Key, CopySource: &src})
	if err != nil {
		t.Fatal(err)
	}
	vCopied := aws.ToString(cp.VersionId)

	for _, tt := range []struct {
		name      string
		addr      Address
		versionID string
		body      []byte
		composite bool
	}{
		{"single part", single, vSingle, small, false},
		{"multipart (full-object CRC32C)", multi, vMulti, large, false},
		{"copy of multipart", copied, vCopied, large, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			obj, err := c.Fetch(testCtx(t), tt.addr, tt.versionID, &buf)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), tt.body) {
				t.Fatal("Fetch returned other bytes")
			}
			if !obj.S3ChecksumVerified || obj.S3Checksum == "" {
				t.Fatalf("S3's checksum not verified (%q): does the server return x-amz-checksum-sha256?", obj.S3Checksum)
			}
			if got := strings.HasSuffix(obj.S3Checksum, "-3"); got != tt.composite {
				t.Errorf("checksum %q; composite of 3 parts: want %v", obj.S3Checksum, tt.composite)
			}
			t.Logf("S3 checksum %s", obj.S3Checksum)

			// The same version through a proxy that changes S3's
			// checksum header: the bytes still match the manifest, so
			// only the check against S3's checksum can catch it.
			wrong := sha256.Sum256([]byte("something else"))
			lie := tamperProxy(t, srv.Endpoint, func(r *http.Response) error {
				v := base64.StdEncoding.EncodeToString(wrong[:])
				if _, n, ok := strings.Cut(r.Header.Get("X-Amz-Checksum-Sha256"), "-"); ok {
					v += "-" + n
				}
				r.Header.Set("X-Amz-Checksum-Sha256", v)
				return nil
			})
			lc, err := New(testCtx(t), Options{Endpoint: lie, Region: srv.Region, Credentials: srv.Credentials(), PartSize: 5 << 20})
			if err != nil {
				t.Fatal(err)
			}
			_, err = lc.Fetch(testCtx(t), tt.addr, tt.versionID, io.Discard)
			if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "S3's") {
				t.Errorf("wrong S3 checksum: got %v, want ErrChecksumMismatch naming S3's checksum", err)
			}

			// One byte flipped on the way: both checks fail.
			flip := flipProxy(t, srv.Endpoint)
			fc, err := New(testCtx(t), Options{Endpoint: flip, Region: srv.Region, Credentials: srv.Credentials(), PartSize: 5 << 20})
			if err != nil {
				t.Fatal(err)
			}
			_, err = fc.Fetch(testCtx(t), tt.addr, tt.versionID, io.Discard)
			if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "S3's") || !strings.Contains(err.Error(), "manifest says") {
				t.Errorf("flipped byte: got %v, want ErrChecksumMismatch from both checks", err)
			}
		})
	}
}

// TestPartHasher: the composite digest does not depend on how the stream
// is cut into writes, and a stream that does not fill the parts exactly
// has none.
func TestPartHasher(t *testing.T) {
	data := randomBytes(t, 1000)
	want := func(sizes []int) []byte {
		var sums []byte
		off := 0
		for _, n := range sizes {
			s := sha256.Sum256(data[off : off+n])
			sums, off = append(sums, s[:]...), off+n
		}
		s := sha256.Sum256(sums)
		return s[:]
	}
	for _, tt := range []struct {
		name   string
		sizes  []int
		write  int // bytes per Write
		feed   int // bytes fed in all
		wantOK bool
	}{
		{"one part, one write", []int{1000}, 1000, 1000, true},
		{"three parts, 7-byte writes", []int{400, 400, 200}, 7, 1000, true},
		{"writes span parts", []int{100, 100, 800}, 333, 1000, true},
		{"byte at a time", []int{500, 500}, 1, 1000, true},
		{"short stream", []int{500, 500}, 64, 999, false},
		{"long stream", []int{500, 499}, 64, 1000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sizes := make([]int64, len(tt.sizes))
			for i, n := range tt.sizes {
				sizes[i] = int64(n)
			}
			p := newPartHasher(sizes, sha256.New)
			for off := 0; off < tt.feed; off += tt.write {
				if n, _ := p.Write(data[off:min(off+tt.write, tt.feed)]); n != min(tt.write, tt.feed-off) {
					t.Fatalf("Write returned %d", n)
				}
			}
			got := p.composite()
			if !tt.wantOK {
				if got != nil {
					t.Errorf("composite of a stream that does not fit the parts: %x", got)
				}
				return
			}
			if !bytes.Equal(got, want(tt.sizes)) {
				t.Errorf("composite %x, want %x", got, want(tt.sizes))
			}
		})
	}
}

// countingWriter counts what it is given.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestFetchRefusesSizeMismatch: whoever writes to the bucket may put a
// valid manifest (say, copied from a real release) on a far larger
// object. Fetch refuses it before reading a byte of the body. (A body
// longer than its Content-Length cannot reach Fetch: net/http stops at the
// length, and Fetch reads at most the signed size plus one anyway.)
func TestFetchRefusesSizeMismatch(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	small := randomBytes(t, 1000)
	m := testManifest(small, "1.0")
	big := randomBytes(t, 4<<20)
	out, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: bytes.NewReader(big), Metadata: m.Metadata()})
	if err != nil {
		t.Fatal(err)
	}
	var w countingWriter
	_, err = c.Fetch(testCtx(t), a, aws.ToString(out.VersionId), &w)
	if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "4194304 bytes, its manifest says 1000") {
		t.Fatalf("fetch of a 4 MiB object under a 1000-byte manifest: %v", err)
	}
	if w.n != 0 {
		t.Errorf("%d bytes written before the refusal, want 0", w.n)
	}

}
