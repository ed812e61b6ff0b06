package release

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Object is one version of a release channel as HEAD or GET sees it.
type Object struct {
	Addr         Address
	VersionID    string // "null" or empty on an unversioned bucket
	ETag         string // for If-None-Match polling only; not an identity
	Size         int64
	LastModified time.Time
	// Manifest is the release manifest, nil when the object has none
	// (ManifestErr then says why, wrapping ErrNoManifest).
	Manifest    *Manifest
	ManifestErr error
}

func target(a Address, versionID string) string {
	if versionID == "" {
		return a.String()
	}
	return a.String() + "?versionId=" + versionID
}

func newObject(a Address, versionID, etag *string, size *int64, mod *time.Time, md map[string]string) *Object {
	o := &Object{
		Addr:         a,
		VersionID:    aws.ToString(versionID),
		ETag:         aws.ToString(etag),
		Size:         aws.ToInt64(size),
		LastModified: aws.ToTime(mod),
	}
	o.Manifest, o.ManifestErr = ParseManifest(md)
	return o
}

// Head returns the current version of a's channel (versionID "") or the
// given version. A channel with no current version gives ErrNotFound. One
// request, retried as described in the package documentation.
func (c *Client) Head(ctx context.Context, a Address, versionID string) (*Object, error) {
	in := &s3.HeadObjectInput{Bucket: &a.Bucket, Key: &a.Key}
	if versionID != "" {
		in.VersionId = &versionID
	}
	out, err := c.s3.HeadObject(ctx, in)
	if err != nil {
		return nil, c.opError("head", target(a, versionID), err)
	}
	return newObject(a, out.VersionId, out.ETag, out.ContentLength, out.LastModified, out.Metadata), nil
}

// HeadIfNoneMatch is the agent's poll: it returns modified == false and a
// nil Object when the current version's ETag still equals etag (HTTP 304,
// one request, nothing else transferred), else the current version. An
// empty etag always counts as modified.
func (c *Client) HeadIfNoneMatch(ctx context.Context, a Address, etag string) (obj *Object, modified bool, err error) {
	in := &s3.HeadObjectInput{Bucket: &a.Bucket, Key: &a.Key}
	if etag != "" {
		in.IfNoneMatch = &etag
	}
	out, err := c.s3.HeadObject(ctx, in)
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == 304 {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.opError("head", a.String(), err)
	}
	return newObject(a, out.VersionId, out.ETag, out.ContentLength, out.LastModified, out.Metadata), true, nil
}

// Fetch streams version versionID of a (which must not be empty: a fetch
// is always pinned, so a publish in between cannot mix two releases) into
// w while hashing it, and checks the size and SHA-256 against the
// version's manifest: ErrNoManifest without one, ErrChecksumMismatch on a
// difference. w has then received bytes that must be discarded. Memory
// use does not depend on the object's size. A failed transfer is not
// resumed: call Fetch again with a fresh w.
func (c *Client) Fetch(ctx context.Context, a Address, versionID string, w io.Writer) (*Object, error) {
	if versionID == "" {
		return nil, &Error{Op: "fetch", Target: a.String(), Detail: "no VersionId given; fetches are pinned to a version"}
	}
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key, VersionId: &versionID})
	if err != nil {
		return nil, c.opError("fetch", target(a, versionID), err)
	}
	defer out.Body.Close()
	obj := newObject(a, out.VersionId, out.ETag, out.ContentLength, out.LastModified, out.Metadata)
	if obj.Manifest == nil {
		return obj, &Error{Op: "fetch", Target: target(a, versionID), Kind: ErrNoManifest, Err: obj.ManifestErr, Detail: fmt.Sprint(obj.ManifestErr)}
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), out.Body)
	if err != nil {
		return obj, c.opError("fetch", target(a, versionID), err)
	}
	if err := checkSum(obj.Manifest, n, h.Sum(nil)); err != nil {
		return obj, &Error{Op: "fetch", Target: target(a, versionID), Kind: ErrChecksumMismatch, Detail: err.Error(), Err: err}
	}
	return obj, nil
}

func checkSum(m *Manifest, n int64, sum []byte) error {
	if n != m.Size {
		return fmt.Errorf("got %d bytes, manifest says %d", n, m.Size)
	}
	if got := hex.EncodeToString(sum); got != m.SHA256 {
		return fmt.Errorf("got sha256 %s, manifest says %s", got, m.SHA256)
	}
	return nil
}

// FetchFile is Fetch into the file path: it writes a temporary file in the
// same directory, syncs it and renames it to path only when size and
// SHA-256 match the manifest, so path never holds a partial or wrong
// release. On failure the temporary file is removed and path is untouched.
func (c *Client) FetchFile(ctx context.Context, a Address, versionID, path string) (*Object, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	obj, err := c.Fetch(ctx, a, versionID, bw)
	if err != nil {
		return obj, err
	}
	if err := bw.Flush(); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	if err := tmp.Sync(); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	if err := tmp.Close(); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return obj, fmt.Errorf("fetch %s: %w", target(a, versionID), err)
	}
	done = true
	return obj, nil
}
