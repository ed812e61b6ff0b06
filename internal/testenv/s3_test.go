package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/debfleet/debfleet/internal/realparts"
)

func TestS3ServerVersionedAndUnversionedBuckets(t *testing.T) {
	srv := S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := srv.Client()

	tests := []struct {
		versioned    bool
		wantVersions int
		wantStatus   s3types.BucketVersioningStatus
	}{
		{versioned: true, wantVersions: 2, wantStatus: s3types.BucketVersioningStatusEnabled},
		{versioned: false, wantVersions: 1, wantStatus: ""},
	}
	prefix := os.Getenv(realparts.EnvS3BucketPrefix)
	if prefix == "" {
		prefix = "debfleet-test-"
	}
	for _, tt := range tests {
		bucket := srv.Bucket(t, tt.versioned)
		if !strings.HasPrefix(bucket, prefix) {
			t.Errorf("bucket %q lacks prefix %q", bucket, prefix)
		}
		v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != tt.wantStatus {
			t.Errorf("versioned=%v: status %q, want %q", tt.versioned, v.Status, tt.wantStatus)
		}
		key := "a/b.deb"
		for _, body := range []string{"one", "two"} {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Versions) != tt.wantVersions {
			t.Errorf("versioned=%v: %d versions, want %d", tt.versioned, len(out.Versions), tt.wantVersions)
		}
	}
}

func TestS3EnvStartsLazilyOnce(t *testing.T) {
	env := NewS3Env()
	defer env.Close()
	if env.srv != nil {
		t.Fatal("server started before first use")
	}
	a, b := env.Server(t), env.Server(t)
	if a != b {
		t.Error("Server returned two different servers")
	}
}
