package release

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	// each part), with the total; never twice at once.
	Progress func(done, total int64)
	// Digest, when set, is Client.Digest of Body by the same Client:
	// Publish then does not read Body to hash it. Make it instead of
	// hashing the file for the manifest, and reuse it for every channel.
	Digest *Digest
}

// manifestFor is the manifest in publishes to channel a: in.Manifest,
// signed by in.Key for a when there is a key.
func (in PublishInput) manifestFor(a Address) *Manifest {
	if in.Key == nil {
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
// The bytes and the manifest become visible together, in one request. A
// body under Options.PartSize goes in one PUT carrying the manifest's
// SHA-256, which S3 checks. A larger one goes multipart in about 8 equal
// parts of at least Options.PartSize, uploaded Concurrency at a time
// straight from in.Body, with CRC32Cs from in.Digest, or from a pass of
// Digest when in.Digest is nil; that pass also checks the body against
// the manifest before anything is sent. S3 keeps the whole's CRC32C as
// the object's full-object checksum, which Fetch checks. S3 refuses any byte that differs
// from what was hashed (the file changed meanwhile), and a failed or
// cancelled multipart upload is aborted; either way the channel's current
// version stays what it was and the error is ErrChecksumMismatch or the
// cause.
func (c *Client) Publish(ctx context.Context, a Address, in PublishInput) (*PublishResult, error) {
	if in.Manifest == nil {
		return nil, &Error{Op: "publish", Target: a.String(), Detail: "no manifest"}
	}
	partSize := partSizeFor(in.Manifest.Size, c.partSize)
	m := in.manifestFor(a)
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
	res := &PublishResult{Addr: a, Multipart: partSize > 0}
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
	u := upload{a: a, body: in.Body, m: m, enc: in.Encryption, progress: in.Progress}
	if cur != nil {
		u.ifMatch = cur.ETag
	}
	if res.Multipart {
		if u.d, err = c.digestFor(ctx, a, in, m, partSize); err != nil {
			return nil, err
		}
		res.VersionID, err = c.multipart(ctx, u)
	} else {
		res.VersionID, err = c.put(ctx, u)
	}
	if err != nil {
		return nil, c.opError("publish", a.String(), err)
	}
	c.log.Info("published", "channel", a.String(), "version_id", res.VersionID,
		"package", m.Package, "version", m.Version, "sha256", m.SHA256, "size", m.Size, "signed", m.Signed(), "part_size", partSize)
	return res, nil
}

// digestFor returns in.Digest, or computes it, and checks that it
// describes the manifest's bytes in the parts Publish will send.
func (c *Client) digestFor(ctx context.Context, a Address, in PublishInput, m *Manifest, partSize int64) (*Digest, error) {
	d := in.Digest
	if d == nil {
		var err error
		if d, err = c.Digest(ctx, in.Body, m.Size); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &Error{Op: "publish", Target: a.String(), Detail: err.Error(), Err: err}
		}
	}
	switch {
	case d.Size != m.Size || d.SHA256 != m.SHA256:
		err := fmt.Errorf("the file changed after it was hashed (now %d bytes, sha256 %s; manifest: %d bytes, %s); nothing was uploaded", d.Size, d.SHA256, m.Size, m.SHA256)
		return nil, &Error{Op: "publish", Target: a.String(), Kind: ErrChecksumMismatch, Detail: err.Error(), Err: err}
	case d.PartSize != partSize || len(d.PartCRC32C) != len(uniformParts(m.Size, partSize)) || len(d.CRC32C) != 4:
		return nil, &Error{Op: "publish", Target: a.String(), Detail: fmt.Sprintf("the digest was made for %d-byte parts, this client uploads in %d-byte parts: make it with the same Client", d.PartSize, partSize)}
	}
	return d, nil
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
