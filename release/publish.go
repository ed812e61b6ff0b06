package release

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"encoding/base64"
	"encoding/hex"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ContentType is what Debian package releases are served as.
const ContentType = "application/vnd.debian.binary-package"

// contentType is what a release of m's kind is served as: a
// configuration is a file of settings, any other kind but a package is
// opaque bytes.
func contentType(m *Manifest) string {
	switch {
	case m.IsDeb():
		return ContentType
	case m.Kind == KindConfig:
		return "text/plain"
	}
	return "application/octet-stream"
}

// PublishInput is what Publish writes.
type PublishInput struct {
	// Body holds the package bytes; Publish reads it from offset 0 to
	// Manifest.Size, so one Body can go to several channels.
	Body io.ReaderAt
	// Manifest describes Body, complete but unsigned: its SHA-256 and
	// Size must be those of Body.
	Manifest *Manifest
	// Key, when set, signs the manifest for the channel it is published
	// to (Manifest.Channel), so each channel gets its own signature.
	Key *SigningKey
	// AllowUnversioned publishes to a bucket without versioning, where
	// the previous release is lost (no history, no rollback).
	AllowUnversioned bool
	// Force uploads even when the channel's current version already holds
	// these exact bytes.
	Force bool
	// Encryption asks S3 to encrypt the bytes at rest (SSE-KMS for a
	// configuration holding secrets); the zero value leaves it to the
	// bucket's default. Rollback and promote keep it on their copies.
	Encryption Encryption
	// Progress, when set, is called as bytes are confirmed by S3 (after
	// each part), with the total.
	Progress func(done, total int64)
}

// manifestFor is the manifest in publishes to channel a: in.Manifest,
// signed by in.Key for a when there is a key.
func (in PublishInput) manifestFor(a Address) *Manifest {
	if in.Manifest == nil || in.Key == nil {
		return in.Manifest
	}
	m := *in.Manifest
	in.Key.SignFor(&m, a)
	return &m
}

// PublishResult is the outcome of a Publish.
type PublishResult struct {
	Addr Address
	// VersionID is the new current version, or, when Skipped, the current
	// version that already holds the bytes.
	VersionID string
	// Skipped: the current version already had this SHA-256 and Force was
	// not set; nothing was written.
	Skipped bool
	// Multipart reports whether the upload went in parts.
	Multipart bool
}

// Publish makes in.Body the current version of channel a.
//
// Checks, in order: the bucket keeps versions (ErrNotVersioned, unless
// AllowUnversioned); the current version, if any, is not already these
// bytes (then nothing is written, Skipped). The write is conditional on
// the current version seen by that check (If-Match on its ETag, or
// If-None-Match: * when there was none), so a concurrent publish makes
// one of the two fail with ErrPreconditionFailed instead of being lost
// silently.
//
// The bytes and in.Manifest become visible together, in one request; S3
// verifies a SHA-256 checksum of the upload. Bodies of Options.PartSize
// or more go multipart; a failed or cancelled multipart upload is aborted
// and the channel's current version stays what it was. If the bytes read
// do not hash to the manifest's SHA-256 (the file changed), the new
// version is deleted again, which makes the previous one current, and
// ErrChecksumMismatch is returned.
func (c *Client) Publish(ctx context.Context, a Address, in PublishInput) (*PublishResult, error) {
	m := in.manifestFor(a)
	if m == nil {
		return nil, &Error{Op: "publish", Target: a.String(), Detail: "no manifest"}
	}
	if err := m.Validate(); err != nil {
		return nil, &Error{Op: "publish", Target: a.String(), Detail: err.Error(), Err: err}
	}
	if err := in.Encryption.Validate(); err != nil {
		return nil, &Error{Op: "publish", Target: a.String(), Detail: err.Error(), Err: err}
	}
	if !in.AllowUnversioned {
		if err := c.requireVersioning(ctx, "publish", a); err != nil {
			return nil, err
		}
	}
	res := &PublishResult{Addr: a}
	cur, err := c.Head(ctx, a, "")
	switch {
	case errors.Is(err, ErrNotFound):
		cur = nil
	case err != nil:
		return nil, c.opError("publish", a.String(), err)
	}
	if cur != nil && cur.Manifest != nil && cur.Manifest.SHA256 == m.SHA256 && cur.Size == m.Size && !in.Force {
		res.VersionID, res.Skipped = cur.VersionID, true
		c.log.Info("publish skipped: identical to current", "channel", a.String(), "version_id", cur.VersionID, "sha256", m.SHA256)
		return res, nil
	}

	h := sha256.New()
	body := &hashingReader{r: io.NewSectionReader(in.Body, 0, m.Size), h: h}
	up := &transfermanager.UploadObjectInput{
		Bucket:        &a.Bucket,
		Key:           &a.Key,
		Body:          body,
		ContentLength: aws.Int64(m.Size),
		ContentType:   aws.String(contentType(m)),
		Metadata:      m.Metadata(),
	}
	in.Encryption.applyToUpload(up)
	res.Multipart = m.Size >= c.partSize
	if !res.Multipart {
		// Single PUT: S3 checks the whole object's SHA-256 against the
		// manifest before it becomes visible. Multipart uploads get
		// per-part SHA-256 checksums instead (S3 has no full-object
		// SHA-256 for multipart), plus our own hash below.
		raw, _ := hex.DecodeString(m.SHA256)
		up.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(raw))
	}
	if cur != nil {
		up.IfMatch = aws.String(cur.ETag)
	} else {
		up.IfNoneMatch = aws.String("*")
	}
	var optFns []func(*transfermanager.Options)
	if in.Progress != nil {
		optFns = append(optFns, func(o *transfermanager.Options) {
			o.ObjectProgressListeners.Register(progressListener(in.Progress))
		})
	}
	out, err := c.tm.UploadObject(ctx, up, optFns...)
	if err != nil {
		return nil, c.opError("publish", a.String(), err)
	}
	res.VersionID = aws.ToString(out.VersionID)
	if got := body.n; got != m.Size || fmt.Sprintf("%x", h.Sum(nil)) != m.SHA256 {
		err := fmt.Errorf("the file changed while it was uploaded (read %d bytes, sha256 %x; manifest: %d bytes, %s)", got, h.Sum(nil), m.Size, m.SHA256)
		if res.VersionID != "" {
			_, delErr := c.s3.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &a.Bucket, Key: &a.Key, VersionId: &res.VersionID})
			if delErr != nil {
				err = fmt.Errorf("%w; deleting the bad version %s failed too: %v", err, res.VersionID, c.opError("delete", a.String(), delErr))
			}
		}
		return nil, &Error{Op: "publish", Target: a.String(), Kind: ErrChecksumMismatch, Detail: err.Error(), Err: err}
	}
	c.log.Info("published", "channel", a.String(), "version_id", res.VersionID,
		"package", m.Package, "version", m.Version, "sha256", m.SHA256, "size", m.Size, "signed", m.Signed())
	return res, nil
}

// requireVersioning returns ErrNotVersioned unless a's bucket has
// versioning enabled (suspended counts as not).
func (c *Client) requireVersioning(ctx context.Context, op string, a Address) error {
	v, err := c.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &a.Bucket})
	if err != nil {
		return c.opError(op, a.String(), err)
	}
	if v.Status != s3types.BucketVersioningStatusEnabled {
		return &Error{Op: op, Target: a.String(), Kind: ErrNotVersioned,
			Detail: fmt.Sprintf("bucket %s does not keep old versions, so a rollback would be impossible; enable versioning on it", a.Bucket)}
	}
	return nil
}

// hashingReader hashes what the uploader reads. It is deliberately not an
// io.Seeker: the uploader then reads it exactly once, front to back.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	return n, err
}

// progressListener adapts a callback to the transfer manager's listener
// interface.
type progressListener func(done, total int64)

func (f progressListener) OnObjectBytesTransferred(_ context.Context, e *transfermanager.ObjectBytesTransferredEvent) {
	f(e.BytesTransferred, e.TotalBytes)
}
