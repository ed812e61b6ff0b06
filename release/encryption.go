package release

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server-side encryption modes (Encryption.SSE).
const (
	// SSES3 is encryption with keys S3 manages (AES256).
	SSES3 = "AES256"
	// SSEKMS is encryption with an AWS KMS key: reading the object then
	// needs kms:Decrypt on that key besides s3:GetObject, so a bucket
	// reader without it cannot read the release (a configuration holding
	// secrets).
	SSEKMS = "aws:kms"
)

// Encryption is how S3 encrypts a release's bytes at rest. The zero value
// asks for nothing: the bucket's default encryption applies.
//
// With SSE-KMS the ETag is not an MD5 of the bytes; Fetch does not use
// ETags, it checks the manifest's SHA-256 (and S3's checksum), so an
// encrypted release is verified like any other. Only a signature makes
// that SHA-256 trustworthy: a channel encrypted because it holds secrets
// should be signed.
type Encryption struct {
	// SSE is "", SSES3 or SSEKMS.
	SSE string
	// KMSKeyID names the KMS key with SSEKMS: its ARN, or a key ID or
	// alias, which KMS resolves in the caller's account rather than the
	// bucket owner's; empty means the account's AWS managed key for S3
	// (aws/s3). A HEAD reports the key's ARN.
	KMSKeyID string
	// BucketKey asks S3 to use an S3 Bucket Key with SSEKMS, which cuts
	// the KMS requests S3 makes.
	BucketKey bool
}

// IsZero reports whether e asks for nothing.
func (e Encryption) IsZero() bool { return e == Encryption{} }

// Validate checks that e is a mode S3 knows, with a key only for SSEKMS.
func (e Encryption) Validate() error {
	switch e.SSE {
	case "", SSES3:
		if e.KMSKeyID != "" || e.BucketKey {
			return fmt.Errorf("a KMS key (%s) needs server-side encryption %s", e.KMSKeyID, SSEKMS)
		}
	case SSEKMS:
		if strings.ContainsAny(e.KMSKeyID, " \t\r\n") {
			return fmt.Errorf("KMS key id %q contains white space", e.KMSKeyID)
		}
	default:
		return fmt.Errorf("server-side encryption %q: want %s or %s", e.SSE, SSEKMS, SSES3)
	}
	return nil
}

// String describes e for people: "aws:kms (key K)", "AES256", "bucket default".
func (e Encryption) String() string {
	switch {
	case e.SSE == "":
		return "bucket default"
	case e.SSE == SSEKMS && e.KMSKeyID != "":
		return SSEKMS + " (key " + e.KMSKeyID + ")"
	case e.SSE == SSEKMS:
		return SSEKMS + " (key aws/s3)"
	}
	return e.SSE
}

// encryptionOf is what a HEAD or GET said of an object's encryption.
func encryptionOf(sse s3types.ServerSideEncryption, keyID *string, bucketKey *bool) Encryption {
	e := Encryption{SSE: string(sse), KMSKeyID: aws.ToString(keyID), BucketKey: aws.ToBool(bucketKey)}
	if e.SSE != SSEKMS && e.SSE != "aws:kms:dsse" {
		e.KMSKeyID, e.BucketKey = "", false
	}
	return e
}

// applyToCopy sets e on a copy. S3 does not carry a source's SSE-KMS
// over to the copy: without these headers the copy gets the destination
// bucket's default encryption, so a rollback or promote of a release
// encrypted with a KMS key would write it unencrypted by that key.
func (e Encryption) applyToCopy(in *s3.CopyObjectInput) {
	e.headers(&in.ServerSideEncryption, &in.SSEKMSKeyId, &in.BucketKeyEnabled)
}

// applyToPut sets e on a single-part upload.
func (e Encryption) applyToPut(in *s3.PutObjectInput) {
	e.headers(&in.ServerSideEncryption, &in.SSEKMSKeyId, &in.BucketKeyEnabled)
}

// applyToMultipart sets e on a multipart upload (its parts need no
// SSE-KMS headers).
func (e Encryption) applyToMultipart(in *s3.CreateMultipartUploadInput) {
	e.headers(&in.ServerSideEncryption, &in.SSEKMSKeyId, &in.BucketKeyEnabled)
}

// headers sets the three fields every SDK input that writes an object
// has for its encryption; none when e asks for none.
func (e Encryption) headers(sse *s3types.ServerSideEncryption, keyID **string, bucketKey **bool) {
	if e.SSE == "" {
		return
	}
	*sse = s3types.ServerSideEncryption(e.SSE)
	if e.KMSKeyID != "" {
		*keyID = aws.String(e.KMSKeyID)
	}
	if e.BucketKey {
		*bucketKey = aws.Bool(true)
	}
}
