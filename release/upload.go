package release

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// upload is one write of a new version: the bytes, the manifest that
// goes with them, the digest that S3 checks them against, and the
// condition on the channel's current version.
type upload struct {
	a        Address
	body     io.ReaderAt
	m        *Manifest
	d        *Digest
	ifMatch  string // the current version's ETag; "" means If-None-Match: *
	enc      Encryption
	progress func(done, total int64)
}

// put writes u in one PutObject, the manifest's SHA-256 as S3's checksum
// and as the signed payload hash: S3 refuses bytes that differ, and the
// SDK does not read the body to hash it.
func (c *Client) put(ctx context.Context, u upload) (string, error) {
	raw, _ := hex.DecodeString(u.m.SHA256)
	in := &s3.PutObjectInput{
		Bucket:            &u.a.Bucket,
		Key:               &u.a.Key,
		Body:              io.NewSectionReader(u.body, 0, u.m.Size),
		ContentLength:     aws.Int64(u.m.Size),
		ContentType:       aws.String(contentType(u.m)),
		Metadata:          u.m.Metadata(),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(raw)),
	}
	in.IfMatch, in.IfNoneMatch = u.condition()
	u.enc.applyToPut(in)
	out, err := c.s3.PutObject(ctx, in, withPayloadHash(u.m.SHA256))
	if err != nil {
		return "", err
	}
	if u.progress != nil {
		u.progress(u.m.Size, u.m.Size)
	}
	return aws.ToString(out.VersionId), nil
}

func (u upload) condition() (ifMatch, ifNoneMatch *string) {
	if u.ifMatch != "" {
		return aws.String(u.ifMatch), nil
	}
	return nil, aws.String("*")
}

// multipart writes u as a multipart upload in u.d's parts, Concurrency
// at a time, each part streamed from the body with its CRC32C from the
// digest, and the whole's CRC32C as a full-object checksum at the end: S3
// refuses a part, or the whole, whose bytes differ from what was hashed
// (the file changed meanwhile). The parts are sent with an unsigned
// payload, as the SDK does over HTTPS: the CRCs, TLS and the manifest's
// SHA-256 (which every fetch checks) vouch for the bytes, and no SHA-256
// of the parts is computed. The manifest goes with CreateMultipartUpload,
// the condition with CompleteMultipartUpload, so the version appears
// whole or not at all; on any failure the upload is aborted on a fresh
// context.
func (c *Client) multipart(ctx context.Context, u upload) (string, error) {
	cin := &s3.CreateMultipartUploadInput{
		Bucket:            &u.a.Bucket,
		Key:               &u.a.Key,
		ContentType:       aws.String(contentType(u.m)),
		Metadata:          u.m.Metadata(),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
		ChecksumType:      s3types.ChecksumTypeFullObject,
	}
	u.enc.applyToMultipart(cin)
	created, err := c.s3.CreateMultipartUpload(ctx, cin)
	if err != nil {
		return "", err
	}
	id := created.UploadId
	done := false
	defer func() {
		if done {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if _, err := c.s3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &u.a.Bucket, Key: &u.a.Key, UploadId: id}); err != nil {
			c.log.Warn("aborting a failed multipart upload failed; a lifecycle rule for incomplete uploads removes it",
				"channel", u.a.String(), "err", c.opError("abort", u.a.String(), err))
		}
	}()
	parts, err := c.uploadParts(ctx, u, id)
	if err != nil {
		return "", err
	}
	in := &s3.CompleteMultipartUploadInput{Bucket: &u.a.Bucket, Key: &u.a.Key, UploadId: id,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
		ChecksumType:    s3types.ChecksumTypeFullObject,
		ChecksumCRC32C:  aws.String(base64.StdEncoding.EncodeToString(u.d.CRC32C)),
		MpuObjectSize:   aws.Int64(u.m.Size)}
	in.IfMatch, in.IfNoneMatch = u.condition()
	out, err := c.s3.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return "", err
	}
	done = true
	return aws.ToString(out.VersionId), nil
}

// uploadParts sends every part of u to upload id, c.concurrency at a
// time; the first failure cancels the others and is returned.
func (c *Client) uploadParts(ctx context.Context, u upload, id *string) ([]s3types.CompletedPart, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sizes := uniformParts(u.m.Size, u.d.PartSize)
	parts := make([]s3types.CompletedPart, len(sizes))
	var (
		next, sent atomic.Int64
		report     sync.Mutex
		workers    sync.WaitGroup
	)
	for range min(c.concurrency, len(sizes)) {
		workers.Go(func() {
			for i := int(next.Add(1) - 1); i < len(sizes) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				off := int64(i) * u.d.PartSize
				sum := aws.String(base64.StdEncoding.EncodeToString(u.d.PartCRC32C[i]))
				out, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{
					Bucket: &u.a.Bucket, Key: &u.a.Key, UploadId: id, PartNumber: aws.Int32(int32(i + 1)),
					Body:              io.NewSectionReader(u.body, off, sizes[i]),
					ContentLength:     aws.Int64(sizes[i]),
					ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
					ChecksumCRC32C:    sum,
				}, withPayloadHash(unsignedPayload))
				if err != nil {
					cancel(fmt.Errorf("part %d of %d: %w", i+1, len(sizes), err))
					return
				}
				parts[i] = s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32C: sum}
				if u.progress != nil {
					report.Lock()
					u.progress(sent.Add(sizes[i]), u.m.Size)
					report.Unlock()
				}
			}
		})
	}
	workers.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return parts, nil
}

// unsignedPayload is SigV4's payload hash for a body it does not cover.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// withPayloadHash gives one request the payload hash SigV4 signs: the
// SHA-256 (hex) of its body known beforehand, or unsignedPayload. Without
// it the SDK reads a seekable body once to hash it before sending it (over
// plain HTTP), or sends it with a trailing checksum (over HTTPS).
func withPayloadHash(hexSum string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("debfleet:PayloadHash",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, hexSum), in)
				}), middleware.Before)
		})
	}
}
