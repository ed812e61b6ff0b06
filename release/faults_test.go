package release

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/internal/testenv"
)

func TestPublishFaults(t *testing.T) {
	srv := s3env.Server(t)
	good := testClient(t, srv)
	wrongCreds, err := New(context.Background(), Options{Endpoint: srv.Endpoint, Region: srv.Region,
		Credentials: credentials.NewStaticCredentialsProvider("AKWRONGWRONGWRONG", "not-the-secret-at-all", "")})
	if err != nil {
		t.Fatal(err)
	}
	versioned := srv.Bucket(t, true)
	unversioned := srv.Bucket(t, false)
	body := randomBytes(t, 500)
	tests := []struct {
		name             string
		c                *Client
		a                Address
		allowUnversioned bool
		want             error
	}{
		{"nonexistent bucket", good, Address{Bucket: "no-such-bucket-" + randomHexT(t), Key: "x.deb"}, false, ErrNotFound},
		{"nonexistent bucket, unversioned allowed", good, Address{Bucket: "no-such-bucket-" + randomHexT(t), Key: "x.deb"}, true, ErrNotFound},
		{"wrong credentials", wrongCreds, Address{Bucket: versioned, Key: "x.deb"}, false, ErrAccessDenied},
		{"unversioned bucket", good, Address{Bucket: unversioned, Key: "x.deb"}, false, ErrNotVersioned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Publish(testCtx(t), tt.a, PublishInput{Body: bytes.NewReader(body), Manifest: testManifest(body, "1.0"), AllowUnversioned: tt.allowUnversioned})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, secret := range []string{srv.SecretKey, "not-the-secret-at-all", srv.AccessKey, "AKWRONGWRONGWRONG"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a credential: %v", err)
				}
			}
			t.Logf("%v", err)
		})
	}
	if _, err := good.Publish(testCtx(t), Address{Bucket: unversioned, Key: "x.deb"}, PublishInput{Body: bytes.NewReader(body), Manifest: testManifest(body, "1.0"), AllowUnversioned: true}); err != nil {
		t.Errorf("unversioned bucket with AllowUnversioned: %v", err)
	}
}

func randomHexT(t *testing.T) string { return hex.EncodeToString(randomBytes(t, 6)) }

func TestUnreachableEndpointFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	c, err := New(context.Background(), Options{Endpoint: "http://" + addr, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Head(testCtx(t), Address{Bucket: "b", Key: "k.deb"}, "")
	elapsed := time.Since(start)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	msg := err.Error()
	for _, want := range []string{addr, "connection refused", "3 attempts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if elapsed > 10*time.Second {
		t.Errorf("took %v to give up; want a few seconds at most", elapsed)
	}
	t.Logf("%v after %v", err, elapsed)
}

// stallAt is an io.ReaderAt over data that blocks every read at or beyond
// offset stall until ctx is done, as a stuck disk or a killed pipe would.
type stallAt struct {
	data    []byte
	stall   int64
	reached chan struct{}
	ctx     context.Context
}

func (s *stallAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.stall {
		select {
		case s.reached <- struct{}{}:
		default:
		}
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	return copy(p, s.data[off:]), nil
}

func TestInterruptedMultipartUploadLeavesChannelUnchanged(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	_, ids := publishVersions(t, c, a, "1.0")

	data := randomBytes(t, 23<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Hashed beforehand, so that the reading that stalls is the upload's.
	d, err := c.Digest(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	body := &stallAt{data: data, stall: 12 << 20, reached: make(chan struct{}, 1), ctx: ctx}
	done := make(chan error, 1)
	go func() {
		_, err := c.Publish(ctx, a, PublishInput{Body: body, Manifest: testManifest(data, "2.0"), Digest: d})
		done <- err
	}()
	select {
	case <-body.reached:
	case <-time.After(time.Minute):
		t.Fatal("upload never reached the stall point")
	}
	// Let the parts before the stall land on the server, then interrupt.
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("publish did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	obj, _ := currentBytes(t, c, a)
	if obj.VersionID != ids["1.0"] || obj.Manifest.Version != "1.0" {
		t.Errorf("current version is %s (%s), want the untouched 1.0 (%s)", obj.VersionID, obj.Manifest.Version, ids["1.0"])
	}
	ups, err := srv.Client().ListMultipartUploads(testCtx(t), &s3.ListMultipartUploadsInput{Bucket: aws.String(a.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
	}
	if got := historyVersions(t, c, a); got != "1.0*" {
		t.Errorf("history %q", got)
	}
}

func TestPublishDetectsChangedFile(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	tests := []struct {
		name   string
		size   int
		digest bool // hashed with Digest before the change
	}{
		{"single part: S3 rejects the checksum", 4000, false},
		{"multipart: the digest pass catches it", 11 << 20, false},
		{"multipart, digest made before: S3 rejects the part's CRC32C", 11 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
			_, ids := publishVersions(t, c, a, "1.0")
			data := randomBytes(t, tt.size)
			m := testManifest(data, "2.0")
			var d *Digest
			if tt.digest {
				var err error
				if d, err = c.Digest(testCtx(t), bytes.NewReader(data), int64(len(data))); err != nil {
					t.Fatal(err)
				}
			}
			data[len(data)-1] ^= 0xff // the file changes after hashing
			_, err := c.Publish(testCtx(t), a, PublishInput{Body: bytes.NewReader(data), Manifest: m, Digest: d})
			if !errors.Is(err, ErrChecksumMismatch) {
				t.Fatalf("got %v, want ErrChecksumMismatch", err)
			}
			obj, _ := currentBytes(t, c, a)
			if obj.VersionID != ids["1.0"] {
				t.Errorf("current version is %s, want the untouched %s", obj.VersionID, ids["1.0"])
			}
		})
	}
}

func TestHeadIfNoneMatch(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	publishVersions(t, c, a, "1.0")
	obj, modified, err := c.HeadIfNoneMatch(testCtx(t), a, "")
	if err != nil || !modified {
		t.Fatalf("first poll: %v, %v", modified, err)
	}
	_, modified, err = c.HeadIfNoneMatch(testCtx(t), a, obj.ETag)
	if err != nil || modified {
		t.Errorf("unchanged poll: modified=%v, %v", modified, err)
	}
	publishVersions(t, c, a, "1.1")
	obj2, modified, err := c.HeadIfNoneMatch(testCtx(t), a, obj.ETag)
	if err != nil || !modified || obj2.Manifest.Version != "1.1" {
		t.Errorf("changed poll: modified=%v, %v", modified, err)
	}
}

// TestNoCredentials: with no credentials anywhere the SDK's chain looks
// last at the EC2 instance metadata service. Whatever that answers (a 403
// or 404 from a server that is not EC2's, or nothing when disabled), the
// error says that no credentials were found and how to provide them, and
// is not S3 denying access.
func TestNoCredentials(t *testing.T) {
	srv := s3env.Server(t)
	bucket := srv.Bucket(t, true)
	imds := func(status int) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, http.StatusText(status), status)
		}))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	tests := []struct {
		name string
		imds string // the instance metadata endpoint; "" disables it
		want string // in the error besides the advice: what was tried last
	}{
		{"instance metadata disabled", "", "AWS_EC2_METADATA_DISABLED"},
		{"instance metadata answers 403", imds(http.StatusForbidden), "403"},
		{"instance metadata answers 404", imds(http.StatusNotFound), "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.NoCredentials(t, tt.imds)
			c, err := New(context.Background(), Options{Endpoint: srv.Endpoint, Region: srv.Region})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.History(testCtx(t), Address{Bucket: bucket, Key: "x.deb"}, 0)
			if !errors.Is(err, ErrNoCredentials) || !errors.Is(err, ErrAccessDenied) {
				t.Fatalf("got %v, want ErrNoCredentials, which is also ErrAccessDenied", err)
			}
			msg := err.Error()
			for _, w := range []string{"no AWS credentials found", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "instance role", tt.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "access denied") || strings.Contains(msg, "HTTP status") {
				t.Errorf("%q reads as S3's answer", msg)
			}
		})
	}
}
