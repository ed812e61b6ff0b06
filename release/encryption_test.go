package release

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// sseLog records the encryption headers of every write that reaches the
// server (PutObject, CreateMultipartUpload, CopyObject).
type sseLog struct {
	mu     sync.Mutex
	writes []string // "PUT|COPY|POST sse key bucketkey"
}

func (l *sseLog) before(r *http.Request) {
	op := r.Method
	switch {
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		op = "COPY"
	case r.Method == http.MethodPut && r.URL.Query().Has("partNumber"):
		op = "PART"
	case r.Method == http.MethodPost && r.URL.Query().Has("uploads"):
		op = "CREATE"
	case r.Method != http.MethodPut:
		return
	}
	if strings.Contains(r.URL.Path, ".status/") || strings.Contains(r.URL.Path, ".leases/") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, strings.TrimSpace(op+" "+r.Header.Get("X-Amz-Server-Side-Encryption")+" "+
		r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")+" "+r.Header.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled")))
}

func (l *sseLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

// TestEncryptionRequests checks the requests the SDK sends: a publish
// asks for SSE-KMS with the key (single PUT and multipart), and rollback
// and promote copies ask for it again, since S3 does not carry SSE-KMS
// over to a copy. versitygw stores the headers without encrypting, so
// what S3 does with them is not tested here.
func TestEncryptionRequests(t *testing.T) {
	srv := s3env.Server(t)
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	log := &sseLog{}
	proxy.SetFault(realparts.Fault{Before: log.before})
	c, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials(), PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	bucket := srv.Bucket(t, true)
	a := Address{Bucket: bucket, Key: "hello/production.env"}
	dst := Address{Bucket: bucket, Key: "hello/staging.env"}
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	kms := Encryption{SSE: SSEKMS, KMSKeyID: arn, BucketKey: true}
	ctx := testCtx(t)
	v1 := []byte("A=1\n")
	m1 := testManifest(v1, "v1")
	m1.Kind, m1.Architecture = KindConfig, ""
	if _, err := c.Publish(ctx, a, PublishInput{Body: strings.NewReader(string(v1)), Manifest: m1, Encryption: kms}); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(t, 6<<20)
	if _, err := c.Publish(ctx, a, PublishInput{Body: strings.NewReader(string(big)), Manifest: testManifest(big, "2.0"), Encryption: kms}); err != nil {
		t.Fatal(err)
	}
	want := "aws:kms " + arn + " true"
	if got := strings.Join(log.take(), "\n"); got != "PUT "+want+"\nCREATE "+want+"\nPART\nPART" {
		t.Errorf("publish sent:\n%s", got)
	}
	// versitygw takes the headers but neither encrypts nor reports
	// encryption: the proxy answers HEADs as S3 does for an object
	// encrypted with the key.
	proxy.SetFault(realparts.Fault{Before: log.before, Response: func(r *http.Response) error {
		if r.Request.Method == http.MethodHead {
			r.Header.Set("X-Amz-Server-Side-Encryption", "aws:kms")
			r.Header.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", arn)
			r.Header.Set("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled", "true")
		}
		return nil
	}})
	obj, err := c.Head(ctx, a, "")
	if err != nil {
		t.Fatal(err)
	}
	if obj.Encryption != kms {
		t.Errorf("HEAD read the encryption as %+v", obj.Encryption)
	}

	// Rollback and promote copy the source's encryption, as its HEAD
	// reports it; promote may name another key.
	if _, err := c.Rollback(ctx, a, RollbackInput{To: "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Promote(ctx, a, dst, PromoteInput{}); err != nil {
		t.Fatal(err)
	}
	other := Encryption{SSE: SSEKMS, KMSKeyID: "alias/staging"}
	if _, err := c.Promote(ctx, a, dst, PromoteInput{Encryption: other, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log.take(), "\n"); got != "COPY "+want+"\nCOPY "+want+"\nCOPY aws:kms alias/staging" {
		t.Errorf("copies sent:\n%s", got)
	}
	// Without encryption, nothing is asked for: the bucket's default.
	proxy.SetFault(realparts.Fault{Before: log.before})
	plain := []byte("A=2\n")
	m3 := testManifest(plain, "v3")
	if _, err := c.Publish(ctx, a, PublishInput{Body: strings.NewReader(string(plain)), Manifest: m3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rollback(ctx, a, RollbackInput{To: ToPrevious}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log.take(), "\n"); got != "PUT\nCOPY" {
		t.Errorf("unencrypted publish and rollback sent:\n%s", got)
	}
}

func TestEncryptionValidate(t *testing.T) {
	for _, tt := range []struct {
		e    Encryption
		want string
	}{
		{Encryption{}, ""},
		{Encryption{SSE: SSES3}, ""},
		{Encryption{SSE: SSEKMS}, ""},
		{Encryption{SSE: SSEKMS, KMSKeyID: "alias/cfg", BucketKey: true}, ""},
		{Encryption{SSE: "aws:fms"}, `server-side encryption "aws:fms"`},
		{Encryption{KMSKeyID: "alias/cfg"}, "needs server-side encryption aws:kms"},
		{Encryption{SSE: SSES3, KMSKeyID: "k"}, "needs server-side encryption aws:kms"},
		{Encryption{SSE: SSEKMS, KMSKeyID: "alias/a b"}, "white space"},
	} {
		err := tt.e.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.e, err, tt.want)
		}
	}
}
