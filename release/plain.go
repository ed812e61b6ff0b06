package release

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Plain reports whether the object carries no manifest at all: a plain
// upload by any S3 client (aws s3 cp, the console, Terraform), as opposed
// to a release whose manifest is malformed.
func (o *Object) Plain() bool { return o.Manifest == nil && o.ManifestErr == ErrNoManifest }

// FetchPlain streams version versionID of a, an object without a manifest,
// into w while hashing it, and returns it with the SHA-256 of what it
// received (Object.SHA256) and what vouched for those bytes
// (Object.Integrity), since no manifest does:
//   - S3's checksum of the object, when it has one: a full-object CRC32,
//     CRC32C, CRC64NVME, SHA-1 or SHA-256, or a multipart upload's
//     composite SHA-256;
//   - the ETag, when it is an MD5: objects encrypted neither with KMS nor
//     with a customer key, uploaded in one part, or in parts learned as
//     for a composite checksum.
//
// A difference is ErrChecksumMismatch; with none of these, only TLS
// vouched for the bytes and Integrity is empty. The object must be size
// bytes (what a HEAD said): another length is refused before any byte is
// read, and w never receives more than size+1 bytes.
func (c *Client) FetchPlain(ctx context.Context, a Address, versionID string, size int64, w io.Writer) (*Object, error) {
	out, obj, err := c.getPinned(ctx, a, versionID)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	tgt := target(a, versionID)
	if obj.Size != size {
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrChecksumMismatch,
			Detail: fmt.Sprintf("the object is %d bytes, %d when it was listed", obj.Size, size)}
	}
	if err := reserveFor(w, size); err != nil {
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrNoSpace, Err: err, Detail: err.Error()}
	}
	checks, err := c.plainChecks(ctx, a, out, size)
	if err != nil {
		return obj, err
	}
	h := sha256.New()
	sinks := []io.Writer{w, h}
	for _, ck := range checks {
		if ck.parts != nil {
			sinks = append(sinks, ck.parts)
		}
		if ck.whole != nil {
			sinks = append(sinks, ck.whole)
		}
	}
	n, err := io.Copy(io.MultiWriter(sinks...), io.LimitReader(out.Body, size+1))
	if err != nil {
		return obj, c.opError("fetch", tgt, err)
	}
	if n != size {
		return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrChecksumMismatch, Detail: fmt.Sprintf("got %d bytes, the object is %d", n, size)}
	}
	sum := h.Sum(nil)
	for _, ck := range checks {
		if err := ck.verify(sum); err != nil {
			return obj, &Error{Op: "fetch", Target: tgt, Kind: ErrChecksumMismatch, Detail: err.Error(), Err: err}
		}
		obj.Integrity = append(obj.Integrity, ck.name)
	}
	obj.SHA256 = hex.EncodeToString(sum)
	return obj, nil
}

// plainCheck is one claim about a plain object's bytes: the digest want
// of the whole object, by whole (nil: the SHA-256 FetchPlain computes
// anyway), or of its parts' digests concatenated (parts hashes them).
type plainCheck struct {
	name  string
	want  []byte
	whole hash.Hash
	parts *partHasher
}

func (ck plainCheck) verify(sha []byte) error {
	got := sha
	switch {
	case ck.parts != nil:
		got = ck.parts.composite()
	case ck.whole != nil:
		got = ck.whole.Sum(nil)
	}
	if !bytes.Equal(got, ck.want) {
		return fmt.Errorf("%s: the bytes received give %x, S3 says %x", ck.name, got, ck.want)
	}
	return nil
}

// plainChecks lists what out's headers let FetchPlain check.
func (c *Client) plainChecks(ctx context.Context, a Address, out *s3.GetObjectOutput, size int64) ([]plainCheck, error) {
	checks, err := fullChecksums(out)
	if err != nil {
		return nil, &Error{Op: "fetch", Target: target(a, aws.ToString(out.VersionId)), Kind: ErrChecksumMismatch, Detail: err.Error()}
	}
	versionID := aws.ToString(out.VersionId)
	if v := aws.ToString(out.ChecksumSHA256); v != "" {
		sum, err := c.s3Checksum(ctx, a, versionID, v, size)
		if err != nil {
			return nil, err
		}
		switch {
		case sum.full != nil:
			checks = append(checks, plainCheck{name: "S3 checksum SHA256", want: sum.full})
		case sum.parts != nil:
			checks = append(checks, plainCheck{name: "S3 composite checksum SHA256", want: sum.composite, parts: sum.parts})
		}
	}
	ck, err := c.etagCheck(ctx, a, out, size)
	if err != nil || ck == nil {
		return checks, err
	}
	return append(checks, *ck), nil
}

// crc64NVME is the CRC-64/NVME polynomial, reversed as hash/crc64 wants
// it: S3's CRC64NVME checksum.
const crc64NVME = 0x9a6c9329ac4bc9b5

// fullChecksums returns the checks of out's full-object CRC and SHA-1
// checksums. Composite ones ("...-N") are left to the ETag.
func fullChecksums(out *s3.GetObjectOutput) ([]plainCheck, error) {
	var checks []plainCheck
	for _, sum := range []struct {
		alg   string
		value *string
		hash  func() hash.Hash
	}{
		{"CRC32", out.ChecksumCRC32, func() hash.Hash { return crc32.NewIEEE() }},
		{"CRC32C", out.ChecksumCRC32C, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
		{"CRC64NVME", out.ChecksumCRC64NVME, func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVME)) }},
		{"SHA1", out.ChecksumSHA1, sha1.New},
	} {
		if sum.value == nil || strings.Contains(*sum.value, "-") {
			continue
		}
		h := sum.hash()
		want, err := base64.StdEncoding.DecodeString(*sum.value)
		if err != nil || len(want) != h.Size() {
			return nil, fmt.Errorf("S3 sent a malformed %s checksum %q", sum.alg, *sum.value)
		}
		checks = append(checks, plainCheck{name: "S3 checksum " + sum.alg, want: want, whole: h})
	}
	return checks, nil
}

// etagMD5 matches an ETag that is an MD5: of the object ("<hex>"), or of
// its parts' MD5s ("<hex>-<parts>").
var etagMD5 = regexp.MustCompile(`^"?([0-9a-f]{32})(?:-([0-9]+))?"?$`)

// etagCheck returns the check of out's ETag as an MD5, or nil when it is
// not one: S3 makes it an MD5 unless the object is encrypted with KMS or
// a customer key.
func (c *Client) etagCheck(ctx context.Context, a Address, out *s3.GetObjectOutput, size int64) (*plainCheck, error) {
	sse := out.ServerSideEncryption
	if sse == s3types.ServerSideEncryptionAwsKms || sse == s3types.ServerSideEncryptionAwsKmsDsse || out.SSECustomerAlgorithm != nil {
		return nil, nil
	}
	m := etagMD5.FindStringSubmatch(aws.ToString(out.ETag))
	if m == nil {
		return nil, nil
	}
	want, _ := hex.DecodeString(m[1])
	if m[2] == "" {
		return &plainCheck{name: "ETag MD5", want: want, whole: md5.New()}, nil
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n < 1 || n > 10000 {
		return nil, nil
	}
	sizes, err := c.partSizes(ctx, a, aws.ToString(out.VersionId), n, size)
	switch {
	case errors.Is(err, errPartsUnknown):
		c.log.Warn("cannot learn the parts of a multipart upload; not checking its ETag", "target", target(a, aws.ToString(out.VersionId)), "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &plainCheck{name: "multipart ETag MD5", want: want, parts: newPartHasher(sizes, md5.New)}, nil
}
