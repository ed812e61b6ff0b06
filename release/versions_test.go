package release

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestWrittenBefore: the entry written before a version, delete markers
// included, is found with one listing that shows none of the records
// kept under the channel's name; the first version has none, and a
// version not among the newest is an error. (Entries written within the
// same second may come in either order: versitygw keeps a delete
// marker's time to the nanosecond and an object's to the second. The
// agent compares the time with a slack of minutes.)
func TestWrittenBefore(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	v1 := publishBytes(t, c, a, randomBytes(t, 100), "1.0").VersionID
	// Records under the channel's name sort right after it: they must not
	// count as versions.
	var records []string
	for _, k := range []string{a.Key + ".status/web-1.json", a.Key + ".leases/0.json", a.Key + "x"} {
		out, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: aws.String(k), Body: bytes.NewReader([]byte("{}"))})
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, aws.ToString(out.VersionId))
	}
	del, err := c.S3().DeleteObject(testCtx(t), &s3.DeleteObjectInput{Bucket: &a.Bucket, Key: &a.Key})
	if err != nil {
		t.Fatal(err)
	}
	// Not through Publish: versitygw refuses its If-None-Match: * over a
	// delete marker.
	put, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: bytes.NewReader([]byte("2.0"))})
	if err != nil {
		t.Fatal(err)
	}
	v2 := aws.ToString(put.VersionId)
	v3 := publishBytes(t, c, a, randomBytes(t, 100), "3.0").VersionID
	other := publishBytes(t, c, Address{Bucket: a.Bucket, Key: "app/staging.deb"}, randomBytes(t, 100), "9.0").VersionID

	ours := []string{v1, aws.ToString(del.VersionId), v2, v3}
	for _, tt := range []struct {
		name, of string
		some     bool // an entry of the channel, written before of
		err      error
	}{
		{"the newest", v3, true, nil},
		{"after a delete", v2, true, nil},
		{"the first", v1, false, nil},
		{"another channel's version", other, false, ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prev, err := c.WrittenBefore(testCtx(t), a, tt.of)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			switch {
			case !tt.some && prev != nil:
				t.Errorf("got %+v, want none", prev)
			case tt.some && (prev == nil || prev.VersionID == tt.of || !slices.Contains(ours, prev.VersionID) || prev.LastModified.IsZero()):
				t.Errorf("got %+v, want another entry of the channel (records: %v)", prev, records)
			}
		})
	}
}
