package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
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
	// S3Checksum is S3's SHA-256 checksum of the stored version, base64,
	// with "-<parts>" for a multipart upload's composite checksum; set by
	// Fetch, "" when S3 returned none. S3ChecksumVerified reports that
	// Fetch checked the bytes against it.
	S3Checksum         string
	S3ChecksumVerified bool
	// SHA256 (hex) and Integrity are set by FetchPlain: the SHA-256 of
	// the bytes received, and what vouched for them (e.g. "ETag MD5").
	SHA256    string
	Integrity []string
	// Encryption is how S3 says the version is encrypted at rest;
	// rollback and promote copy it to what they write.
	Encryption Encryption
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
	obj := newObject(a, out.VersionId, out.ETag, out.ContentLength, out.LastModified, out.Metadata)
	obj.Encryption = encryptionOf(out.ServerSideEncryption, out.SSEKMSKeyId, out.BucketKeyEnabled)
	return obj, nil
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
	obj = newObject(a, out.VersionId, out.ETag, out.ContentLength, out.LastModified, out.Metadata)
	obj.Encryption = encryptionOf(out.ServerSideEncryption, out.SSEKMSKeyId, out.BucketKeyEnabled)
	return obj, true, nil
}

// getPinned starts the GET of version versionID of a (never "": a fetch
// is pinned, so that a publish in between cannot mix two releases), with
// S3's checksum asked for and the SDK's own check of it removed: the
// caller checks it. The caller closes out.Body.
func (c *Client) getPinned(ctx context.Context, a Address, versionID string) (*s3.GetObjectOutput, *Object, error) {
	if versionID == "" {
		return nil, nil, &Error{Op: "fetch", Target: a.String(), Detail: "no VersionId given; fetches are pinned to a version"}
	}
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key, VersionId: &versionID,
		ChecksumMode: s3types.ChecksumModeEnabled}, withoutSDKChecksumValidation)
	if err != nil {
		return nil, nil, c.opError("fetch", target(a, versionID), err)
	}
	obj := newObject(a, out.VersionId, out.ETag, out.ContentLength, out.LastModified, out.Metadata)
	obj.Encryption = encryptionOf(out.ServerSideEncryption, out.SSEKMSKeyId, out.BucketKeyEnabled)
	return out, obj, nil
}

// withoutSDKChecksumValidation removes the SDK's response checksum check
// from one call: Fetch checks S3's checksum itself, composite ones
// included (the SDK skips those), hashing each byte once and reporting a
// difference as ErrChecksumMismatch.
func withoutSDKChecksumValidation(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		// Absent when validation is off altogether: nothing to remove.
		st.Deserialize.Remove("AWSChecksum:ValidateOutputPayloadChecksum")
		return nil
	})
}

// s3Sum is S3's SHA-256 checksum of one object version, as GetObject
// returned it in x-amz-checksum-sha256.
type s3Sum struct {
	value string // as S3 sent it; "" when S3 sent none
	// full is the SHA-256 of the whole object (single-part uploads and
	// copies).
	full []byte
	// composite is the SHA-256 of the concatenated SHA-256s of the parts
	// of a multipart upload ("<base64>-<parts>"), and parts hashes them
	// while the object streams.
	composite []byte
	parts     *partHasher
	// crc, when S3 sent no SHA-256, is its full-object CRC (what Publish
	// writes for a multipart upload: CRC32C), computed as the bytes
	// arrive in order.
	crc *plainCheck
}

// s3Checksum parses S3's SHA-256 checksum of version versionID (size
// bytes). For a composite checksum (releases published multipart before
// Publish wrote full-object CRC32Cs) it learns the exact size of every
// part with one HEAD ?partNumber=i each (at most 8 at a time): S3 does not
// say how a multipart upload was cut, and GetObjectAttributes is not
// implemented everywhere (versitygw returns no parts). When the parts
// cannot be learned (an S3-compatible server without partNumber), the
// composite is not checked and the manifest's SHA-256 alone vouches for
// the bytes.
func (c *Client) s3Checksum(ctx context.Context, a Address, versionID, value string, size int64) (s3Sum, error) {
	sum := s3Sum{value: value}
	b64, count, multipart := strings.Cut(value, "-")
	raw, err := base64.StdEncoding.DecodeString(b64)
	switch {
	case value == "":
		return sum, nil
	case err != nil || len(raw) != sha256.Size:
		return sum, &Error{Op: "fetch", Target: target(a, versionID), Kind: ErrChecksumMismatch, Detail: fmt.Sprintf("S3 sent a malformed SHA-256 checksum %q", value)}
	case !multipart:
		sum.full = raw
		return sum, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > 10000 {
		return sum, &Error{Op: "fetch", Target: target(a, versionID), Kind: ErrChecksumMismatch, Detail: fmt.Sprintf("S3 sent a malformed SHA-256 checksum %q", value)}
	}
	sizes, err := c.partSizes(ctx, a, versionID, n, size)
	switch {
	case errors.Is(err, errPartsUnknown):
		c.log.Warn("cannot learn the parts of a multipart release; checking its SHA-256 against the manifest only",
			"target", target(a, versionID), "err", err)
		sum.value = ""
		return sum, nil
	case err != nil:
		return sum, err
	}
	sum.composite = raw
	sum.parts = newPartHasher(sizes, sha256.New)
	return sum, nil
}

// errPartsUnknown: the server would not say how a multipart object was
// cut (no HEAD ?partNumber support).
var errPartsUnknown = errors.New("the server does not tell the sizes of a multipart object's parts")

// partSizes learns the exact size of each of the n parts of version
// versionID (size bytes in all) with one HEAD ?partNumber=i each, at most
// 8 at a time: S3 does not say how a multipart upload was cut, and
// GetObjectAttributes is not implemented everywhere (versitygw returns no
// parts). It fails with errPartsUnknown when the server answers those
// HEADs with anything but a transport, permission or not-found error, and
// with ErrChecksumMismatch when the parts do not add up to size.
func (c *Client) partSizes(ctx context.Context, a Address, versionID string, n int, size int64) ([]int64, error) {
	sizes := make([]int64, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.Bucket, Key: &a.Key, VersionId: &versionID, PartNumber: aws.Int32(int32(i + 1))})
			if err != nil {
				errs[i] = c.opError("fetch", fmt.Sprintf("%s&partNumber=%d", target(a, versionID), i+1), err)
				return
			}
			sizes[i] = aws.ToInt64(out.ContentLength)
		})
	}
	wg.Wait()
	var total int64
	for i, err := range errs {
		switch {
		case err == nil:
			total += sizes[i]
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, ErrUnreachable), errors.Is(err, ErrAccessDenied), errors.Is(err, ErrNotFound):
			return nil, err
		default:
			return nil, fmt.Errorf("%w: %w", errPartsUnknown, err)
		}
	}
	if total != size {
		return nil, &Error{Op: "fetch", Target: target(a, versionID), Kind: ErrChecksumMismatch,
			Detail: fmt.Sprintf("S3's %d parts add up to %d bytes, the object has %d", n, total, size)}
	}
	return sizes, nil
}

// crcHash is where the bytes go to be checked against s.crc, nil when
// there is no such check.
func (s s3Sum) crcHash() io.Writer {
	if s.crc == nil {
		return nil
	}
	return s.crc.whole
}

// verify compares S3's checksum with what was received; whole is the
// SHA-256 of all of it.
func (s s3Sum) verify(whole []byte) error {
	switch {
	case s.crc != nil:
		if err := s.crc.verify(whole); err != nil {
			return fmt.Errorf("S3's checksum of the object: %w", err)
		}
	case s.full != nil && !bytes.Equal(s.full, whole):
		return fmt.Errorf("S3's checksum of the object is sha256 %s, got %s", hex.EncodeToString(s.full), hex.EncodeToString(whole))
	case s.composite != nil:
		if got := s.parts.composite(); !bytes.Equal(got, s.composite) {
			return fmt.Errorf("S3's composite checksum %s does not match the %d parts received (%s)", s.value, len(s.parts.sizes),
				base64.StdEncoding.EncodeToString(got))
		}
	}
	return nil
}

// partHasher hashes a stream cut into parts of the given sizes, as S3
// computes a composite checksum (and a multipart upload's ETag): the hash
// of each part, then the hash of those digests concatenated.
type partHasher struct {
	sizes   []int64 // at least one
	newHash func() hash.Hash
	done    int   // parts hashed completely
	left    int64 // bytes still due in part done
	h       hash.Hash
	sums    []byte
	extra   bool // more bytes than the parts hold
}

func newPartHasher(sizes []int64, newHash func() hash.Hash) *partHasher {
	return &partHasher{sizes: sizes, newHash: newHash, left: sizes[0], h: newHash()}
}

func (p *partHasher) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 || (p.left == 0 && p.done < len(p.sizes)) {
		if p.done == len(p.sizes) {
			p.extra = true
			break
		}
		k := min(int64(len(b)), p.left)
		p.h.Write(b[:k])
		b, p.left = b[k:], p.left-k
		if p.left == 0 {
			p.sums = p.h.Sum(p.sums)
			p.h.Reset()
			if p.done++; p.done < len(p.sizes) {
				p.left = p.sizes[p.done]
			}
		}
	}
	return n, nil
}

// composite returns the composite digest, or nil when the stream did not
// fill the parts exactly.
func (p *partHasher) composite() []byte {
	if p.extra || p.done != len(p.sizes) {
		return nil
	}
	h := p.newHash()
	h.Write(p.sums)
	return h.Sum(nil)
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
