package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// rangeOf is the first byte a ranged GET asks for, -1 for any other
// request.
func rangeOf(r *http.Request) int64 {
	var from int64
	if r.Method != http.MethodGet || r.URL.Query().Get("versionId") == "" {
		return -1
	}
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from); err != nil {
		return -1
	}
	return from
}

// proxiedClient is a Client (5 MiB parts, the given concurrency) talking
// to srv through a fresh S3Proxy, and the proxy.
func proxiedClient(t *testing.T, srv *testenv.S3Server, concurrency int, http HTTPDoer) (*Client, *realparts.S3Proxy) {
	t.Helper()
	p := testenv.StartS3Proxy(t, srv.Endpoint)
	c, err := New(context.Background(), Options{Endpoint: p.URL, Region: srv.Region, Credentials: srv.Credentials(),
		PartSize: 5 << 20, Concurrency: concurrency, MaxBackoff: 20 * time.Millisecond, HTTPClient: http,
		SplitBelow: -1}) // always ranges, however fast the first GET
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// fetchToFile fetches version v of a into a fresh file with Fetch and
// returns what the file holds.
func fetchToFile(t *testing.T, c *Client, a Address, v string) ([]byte, *Object, error) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "release.deb"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	obj, err := c.Fetch(testCtx(t), a, v, f)
	got, rerr := os.ReadFile(f.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return got, obj, err
}

// TestPublishFetchRequests: a release cut into 8 parts costs at most 20
// requests to publish and fetch (4 + 8 to publish, 8 GETs to fetch: no
// HEAD per part, no HEAD before the GETs); every part is sent with its
// CRC32C, which S3 checks, and the object gets a full-object CRC32C, which
// the fetch checks.
func TestPublishFetchRequests(t *testing.T) {
	srv := s3env.Server(t)
	var mu sync.Mutex
	var payloads []string
	c, p := proxiedClient(t, srv, 0, nil)
	p.SetFault(realparts.Fault{Before: func(r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			payloads = append(payloads, r.Header.Get("X-Amz-Checksum-Crc32c"))
			mu.Unlock()
		}
	}})
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 47<<20+123) // 8 parts of 6 MiB, the last shorter
	m := testManifest(body, "1.0")
	d, err := c.Digest(testCtx(t), bytes.NewReader(body), m.Size)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Publish(testCtx(t), a, PublishInput{Body: bytes.NewReader(body), Manifest: m, Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	published := len(p.Requests())
	got, obj, err := fetchToFile(t, c, a, res.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) || !obj.S3ChecksumVerified || obj.S3Checksum != "S3 checksum CRC32C" {
		t.Fatalf("fetched %d bytes (equal: %v), S3 checksum %q verified %v", len(got), bytes.Equal(got, body), obj.S3Checksum, obj.S3ChecksumVerified)
	}
	reqs := p.Requests()
	var heads, parts int
	for _, r := range reqs[published:] {
		if r.Method != http.MethodGet || r.Code != http.StatusOK && r.Code != http.StatusPartialContent {
			t.Errorf("fetch sent %s %s (answered %d)", r.Method, r.Kind, r.Code)
		}
	}
	for _, r := range reqs {
		switch {
		case r.Method == http.MethodHead:
			heads++
		case r.Kind == realparts.KindPart:
			parts++
		}
	}
	t.Logf("%d requests to publish (%d parts), %d to fetch", published, parts, len(reqs)-published)
	if published > 12 || len(reqs)-published > 8 || len(reqs) > 20 {
		t.Errorf("%d requests to publish, %d to fetch: want at most 12 and 8, 20 in all", published, len(reqs)-published)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, h := range payloads {
		if len(h) != 8 {
			t.Errorf("PUT %d sent CRC32C %q, want the part's", i, h)
		}
	}
	if len(payloads) != 8 {
		t.Errorf("%d parts uploaded, want 8", len(payloads))
	}
}

// TestRangedFetchResumesACutRange: a range whose answer is cut after
// 1 MiB is asked again from where it stopped, once, and the fetch
// succeeds with every byte checked.
func TestRangedFetchResumesACutRange(t *testing.T) {
	srv := s3env.Server(t)
	seed := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 15<<20) // 3 ranges of 5 MiB
	res := publishBytes(t, seed, a, body, "1.0")
	c, p := proxiedClient(t, srv, 4, nil)
	var mu sync.Mutex
	var froms []int64 // the first byte of each ranged GET
	p.SetFault(realparts.Fault{CutBodyAfter: 1 << 20, Times: 1, Match: func(r *http.Request) bool {
		from := rangeOf(r)
		if from >= 0 {
			mu.Lock()
			froms = append(froms, from)
			mu.Unlock()
		}
		return from == 10<<20
	}})
	got, obj, err := fetchToFile(t, c, a, res.VersionID)
	if err != nil {
		t.Fatalf("fetch with one range cut: %v", err)
	}
	if !bytes.Equal(got, body) || !obj.S3ChecksumVerified {
		t.Fatalf("fetched bytes equal: %v, S3 checksum verified: %v", bytes.Equal(got, body), obj.S3ChecksumVerified)
	}
	mu.Lock()
	defer mu.Unlock()
	var resumedAt int64 = -1
	for _, from := range froms {
		if from > 10<<20 && from < 15<<20 {
			resumedAt = from
		}
	}
	t.Logf("ranged GETs from %v", froms)
	if len(froms) != 3 || resumedAt < 0 {
		t.Errorf("ranged GETs from %v: want 2 ranges (the first comes with the GET of the version) and the rest of the cut one, asked from where it stopped", froms)
	}
}

// TestFetchStaysOneStreamWhenFast: a first GET that comes at SplitBelow
// or faster (1 byte a second: any) stays the only one; cut short, it is
// followed by one ranged GET of the rest.
func TestFetchStaysOneStreamWhenFast(t *testing.T) {
	srv := s3env.Server(t)
	seed := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 15<<20)
	res := publishBytes(t, seed, a, body, "1.0")
	p := testenv.StartS3Proxy(t, srv.Endpoint)
	c, err := New(context.Background(), Options{Endpoint: p.URL, Region: srv.Region, Credentials: srv.Credentials(), PartSize: 5 << 20, SplitBelow: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []bool{false, true} {
		seen := len(p.Requests())
		var froms []int64
		var mu sync.Mutex
		if cut {
			p.SetFault(realparts.Fault{CutBodyAfter: 8 << 20, Times: 1, Match: func(r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				if from := rangeOf(r); from >= 0 {
					froms = append(froms, from)
				}
				return r.Method == http.MethodGet && r.Header.Get("Range") == ""
			}})
		}
		got, obj, err := fetchToFile(t, c, a, res.VersionID)
		if err != nil || !bytes.Equal(got, body) || !obj.S3ChecksumVerified {
			t.Fatalf("cut %v: %v (equal %v, S3 checksum verified %v)", cut, err, bytes.Equal(got, body), obj.S3ChecksumVerified)
		}
		n := len(p.Requests()) - seen
		mu.Lock()
		t.Logf("cut %v: %d GETs, ranged from %v", cut, n, froms)
		switch {
		case !cut && n != 1:
			t.Errorf("%d requests, want one GET", n)
		case cut && (n != 2 || len(froms) != 1 || froms[0] < 1<<20 || froms[0] > 8<<20):
			t.Errorf("cut after 8 MiB: %d requests, ranged GETs from %v; want the GET and one of the rest", n, froms)
		}
		mu.Unlock()
	}
}

// TestRangedFetchGivesUp: a range that always fails is asked
// FetchAttempts times, then the fetch fails naming it, and FetchFile
// leaves nothing behind.
func TestRangedFetchGivesUp(t *testing.T) {
	srv := s3env.Server(t)
	seed := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 15<<20)
	res := publishBytes(t, seed, a, body, "1.0")
	c, p := proxiedClient(t, srv, 4, nil)
	p.SetFault(realparts.Fault{CutBodyAfter: 100 << 10, Match: func(r *http.Request) bool { return rangeOf(r) >= 5<<20 && rangeOf(r) < 10<<20 }})
	dir := t.TempDir()
	_, err := c.FetchFile(testCtx(t), a, res.VersionID, filepath.Join(dir, "hello.deb"))
	if err == nil {
		t.Fatal("fetch with a range failing for good succeeded")
	}
	if !strings.Contains(err.Error(), "bytes 5242880-10485759") || !strings.Contains(err.Error(), "attempt 4 of 4") {
		t.Errorf("error %q does not name the range and the attempts", err)
	}
	if errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("a transfer failure reported as a checksum mismatch: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	var tries int
	for _, r := range p.Requests() {
		if r.Method == http.MethodGet && r.Code != 0 {
			tries++
		}
	}
	t.Logf("%v (%d GETs)", err, tries)
}

// TestRangedFetchDetectsACorruptPart: one byte flipped in one range is
// caught by both checks, S3's composite checksum and the manifest's
// SHA-256.
func TestRangedFetchDetectsACorruptPart(t *testing.T) {
	srv := s3env.Server(t)
	seed := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 15<<20)
	res := publishBytes(t, seed, a, body, "1.0")
	c, p := proxiedClient(t, srv, 4, nil)
	p.SetFault(realparts.Fault{Match: func(r *http.Request) bool { return rangeOf(r) == 10<<20 }, Response: func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		b[len(b)/2] ^= 0x10
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return nil
	}})
	_, _, err := fetchToFile(t, c, a, res.VersionID)
	if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "S3's checksum of the object") || !strings.Contains(err.Error(), "manifest says") {
		t.Fatalf("one byte flipped in the last range: %v, want ErrChecksumMismatch from both checks", err)
	}
}

// publishOldFormat writes body to a as the previous version of Publish
// did: a multipart upload of 5 MiB parts with SHA-256 checksums and a
// manifest without part-size.
func publishOldFormat(t *testing.T, srv *testenv.S3Server, a Address, body []byte) string {
	t.Helper()
	ctx := testCtx(t)
	s := srv.Client()
	m := testManifest(body, "0.9")
	up, err := s.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &a.Bucket, Key: &a.Key, Metadata: m.Metadata(),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	var parts []s3types.CompletedPart
	for i, off := int32(1), 0; off < len(body); i, off = i+1, off+5<<20 {
		chunk := body[off:min(off+5<<20, len(body))]
		sum := sha256.Sum256(chunk)
		b64 := base64.StdEncoding.EncodeToString(sum[:])
		out, err := s.UploadPart(ctx, &s3.UploadPartInput{Bucket: &a.Bucket, Key: &a.Key, UploadId: up.UploadId, PartNumber: aws.Int32(i),
			Body: bytes.NewReader(chunk), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256, ChecksumSHA256: &b64})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(i), ETag: out.ETag, ChecksumSHA256: &b64})
	}
	out, err := s.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &a.Bucket, Key: &a.Key, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// TestFetchOldManifest: a release published multipart by the previous
// version (composite SHA-256) still fetches, in ranges cut on its parts,
// with S3's composite checksum checked (its parts learned with a HEAD
// each).
func TestFetchOldManifest(t *testing.T) {
	srv := s3env.Server(t)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 12<<20+5)
	v := publishOldFormat(t, srv, a, body)
	c, p := proxiedClient(t, srv, 0, nil)
	got, obj, err := fetchToFile(t, c, a, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) || !obj.S3ChecksumVerified || !strings.HasSuffix(obj.S3Checksum, "-3") {
		t.Fatalf("equal %v, checksum %q verified %v", bytes.Equal(got, body), obj.S3Checksum, obj.S3ChecksumVerified)
	}
	var heads, gets int
	for _, r := range p.Requests() {
		switch r.Method {
		case http.MethodHead:
			heads++
		case http.MethodGet:
			gets++
		}
	}
	if heads != 3 || gets != 2 {
		t.Errorf("%d HEADs and %d GETs, want 3 and 2 (a HEAD per part, two ranges of whole parts)", heads, gets)
	}
}

// inFlight is an HTTPDoer that counts the requests whose answer is still
// being read, and the most at once.
type inFlight struct {
	next      http.Client
	now, peak atomic.Int64
}

func (d *inFlight) Do(r *http.Request) (*http.Response, error) {
	n := d.now.Add(1)
	for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
	}
	resp, err := d.next.Do(r)
	if err != nil {
		d.now.Add(-1)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, d: d}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	d    *inFlight
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.d.now.Add(-1) })
	return b.ReadCloser.Close()
}

// TestRangedFetchMemory: the ranges in flight never exceed Concurrency,
// and what a fetch allocates does not grow with the release: 48 MiB come
// down with a few MiB allocated.
func TestRangedFetchMemory(t *testing.T) {
	srv := s3env.Server(t)
	seed := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 48<<20)
	res := publishBytes(t, seed, a, body, "1.0")
	doer := &inFlight{}
	c, _ := proxiedClient(t, srv, 3, doer)
	f, err := os.Create(filepath.Join(t.TempDir(), "release.deb"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Fetch(testCtx(t), a, res.VersionID, f); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d requests at most in flight, %.1f MiB allocated for %d MiB", doer.peak.Load(), float64(alloc)/(1<<20), len(body)>>20)
	if p := doer.peak.Load(); p > 3 {
		t.Errorf("%d requests in flight at once, want at most Concurrency (3)", p)
	}
	if alloc > 12<<20 {
		t.Errorf("%d MiB allocated to fetch %d MiB: memory grows with the release", alloc>>20, len(body)>>20)
	}
}

// TestDigest: the whole SHA-256, and the CRC32C of the whole and of each
// part as Publish cuts them.
func TestDigest(t *testing.T) {
	c, err := New(context.Background(), Options{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		size     int
		partSize int64
	}{
		{"empty", 0, 0},
		{"one PUT", 5<<20 - 1, 0},
		{"smallest multipart", 5 << 20, 5 << 20},
		{"8 parts, short last", 47<<20 + 123, 6 << 20},
		{"blocks across parts", 41<<20 + 1, 6 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := randomBytes(t, tt.size)
			d, err := c.Digest(context.Background(), bytes.NewReader(body), int64(tt.size))
			if err != nil {
				t.Fatal(err)
			}
			whole := sha256.Sum256(body)
			if d.SHA256 != hex.EncodeToString(whole[:]) || d.Size != int64(tt.size) || d.PartSize != tt.partSize {
				t.Fatalf("digest %s size %d part size %d", d.SHA256, d.Size, d.PartSize)
			}
			crc := func(b []byte) []byte {
				return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
			}
			for i, off := 0, 0; off < tt.size && tt.partSize > 0; i, off = i+1, off+int(tt.partSize) {
				if i >= len(d.PartCRC32C) || !bytes.Equal(d.PartCRC32C[i], crc(body[off:min(off+int(tt.partSize), tt.size)])) {
					t.Fatalf("part %d: CRC32C differs (%d parts)", i, len(d.PartCRC32C))
				}
			}
			if tt.partSize > 0 && !bytes.Equal(d.CRC32C, crc(body)) {
				t.Errorf("CRC32C of the whole %x, want %x", d.CRC32C, crc(body))
			}
		})
	}
}

// TestLayout: part sizes for publish and ranges for fetch.
func TestLayout(t *testing.T) {
	const MiB = 1 << 20
	for _, tt := range []struct {
		size, minPart, want int64
	}{
		{0, 5 * MiB, 0},
		{5*MiB - 1, 5 * MiB, 0},
		{5 * MiB, 5 * MiB, 5 * MiB},
		{40 * MiB, 5 * MiB, 5 * MiB},
		{200 * MiB, 5 * MiB, 25 * MiB},
		{200*MiB + 1, 5 * MiB, 26 * MiB},
		{128 * MiB, 5 * MiB, 16 * MiB},
		{100 << 30, 5 * MiB, 5 << 30}, // S3's largest part
	} {
		got := partSizeFor(tt.size, tt.minPart)
		if got != tt.want {
			t.Errorf("partSizeFor(%d, %d) = %d, want %d", tt.size, tt.minPart, got, tt.want)
		}
		if got > 0 && got < maxPartSize && int64(len(uniformParts(tt.size, got))) > targetParts {
			t.Errorf("%d bytes in %d parts", tt.size, len(uniformParts(tt.size, got)))
		}
	}
	for _, tt := range []struct {
		name   string
		size   int64
		target int64
		parts  []int64
		want   string
	}{
		{"plain", 10, 4, nil, "0-4 4-8 8-10"},
		{"one range", 3, 4, nil, "0-3"},
		{"one part per range", 10, 4, []int64{4, 4, 2}, "0-4[0:1] 4-8[1:1] 8-10[2:1]"},
		{"parts grouped", 10, 3, []int64{2, 2, 2, 2, 2}, "0-4[0:2] 4-8[2:2] 8-10[4:1]"},
		{"uneven parts", 9, 4, []int64{5, 1, 1, 2}, "0-5[0:1] 5-9[1:3]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range rangesFor(tt.size, tt.target, tt.parts) {
				s := fmt.Sprintf("%d-%d", r.start, r.end)
				if r.parts != nil {
					s += fmt.Sprintf("[%d:%d]", r.firstPart, len(r.parts))
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got %s, want %s", g, tt.want)
			}
		})
	}
}
