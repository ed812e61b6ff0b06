package release

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Records reads and writes small JSON documents next to a channel: the
// one layer through which everything coordinated beside a release (host
// status objects, update slots, failure and halt records) reaches S3.
// Get it from Client.Records; it is safe for concurrent use.
//
// Contracts:
//   - A Put is one PutObject: a reader sees the old or the new document,
//     never a mix. S3 verifies the body's SHA-256.
//   - PutIf is a compare-and-swap: it writes only if the object's current
//     ETag is the one given, or, given "", only if there is no object;
//     otherwise ErrPreconditionFailed. A document that implements Noncer
//     gets a fresh nonce at every write, so two writes of equal content
//     never share an ETag (the ETag of a single PUT is the MD5 of its
//     body) and If-Match never matches a stale read.
//   - Get refuses a document over the size limit (a mistake or an
//     attack) and one that is not JSON. A missing object is ErrNotFound,
//     also where S3 answers 403 for it: see Get.
//   - Requests are retried as the Client's are (see the package
//     documentation). The SDK may resend a conditional PUT whose response
//     was lost; the resend then fails its condition although the first
//     attempt won. Callers treat ErrPreconditionFailed as "someone else
//     won", which at worst leaves a record of ours looking like another's.
type Records struct {
	c *Client
}

// Noncer is a document that carries a nonce (see Records).
type Noncer interface {
	SetNonce(string)
}

// RecordInfo describes one document, as Records.Get read it or
// Records.List found it.
type RecordInfo struct {
	Addr Address
	// Name is, from List, the part of the key between the listed prefix
	// and suffix.
	Name string
	// ETag identifies this write of the document (see PutIf).
	ETag string
	// LastModified is when S3 stored it: the server's clock, which no
	// writer sets.
	LastModified time.Time
	Size         int64
}

// Records returns the JSON record layer of c.
func (c *Client) Records() *Records { return &Records{c: c} }

// Get reads the JSON document at a into v and returns its ETag and
// LastModified. A document over maxSize bytes is refused; a missing object
// gives ErrNotFound.
//
// S3 answers a GET of a missing object 403 rather than 404 when the
// caller may not list the bucket, and agents are granted s3:ListBucket
// only on the prefixes of their channel's records (docs/iam-agent.json): a
// GET carries no s3:prefix, so that grant does not turn the 403 into a
// 404. A 403 is therefore settled with a LIST of the key itself, which
// that grant allows: no such key is ErrNotFound, an existing one keeps the
// 403. Without the grant the 403 stands, and the caller fails rather than
// guess.
func (r *Records) Get(ctx context.Context, a Address, maxSize int64, v any) (RecordInfo, error) {
	out, err := r.c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key})
	if err != nil {
		err = r.c.opError("get", a.String(), err)
		if errors.Is(err, ErrAccessDenied) && r.absent(ctx, a) {
			return RecordInfo{}, &Error{Op: "get", Target: a.String(), Kind: ErrNotFound, Detail: "access denied, and a listing shows no such key", Err: err}
		}
		return RecordInfo{}, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxSize+1))
	if err != nil {
		return RecordInfo{}, r.c.opError("get", a.String(), err)
	}
	if int64(len(data)) > maxSize {
		return RecordInfo{}, fmt.Errorf("get %s: larger than %d bytes", a, maxSize)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return RecordInfo{}, fmt.Errorf("get %s: %w", a, err)
	}
	return RecordInfo{Addr: a, ETag: aws.ToString(out.ETag), LastModified: aws.ToTime(out.LastModified), Size: int64(len(data))}, nil
}

// absent reports whether a listing of a's key shows no object with that
// exact key; false when the listing itself fails.
func (r *Records) absent(ctx context.Context, a Address) bool {
	out, err := r.c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &a.Bucket, Prefix: &a.Key, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false
	}
	return len(out.Contents) == 0 || aws.ToString(out.Contents[0].Key) != a.Key
}

// Put writes v at a unconditionally (the last writer wins) and returns
// the new ETag.
func (r *Records) Put(ctx context.Context, a Address, v any) (string, error) {
	return r.put(ctx, a, v, nil)
}

// PutIf writes v at a only if the object's current ETag is ifMatch, or,
// with ifMatch "", only if there is no object (If-None-Match: *). A lost
// race gives ErrPreconditionFailed. It returns the new ETag.
func (r *Records) PutIf(ctx context.Context, a Address, v any, ifMatch string) (string, error) {
	return r.put(ctx, a, v, &ifMatch)
}

func (r *Records) put(ctx context.Context, a Address, v any, ifMatch *string) (string, error) {
	if n, ok := v.(Noncer); ok {
		n.SetNonce(rand.Text())
	}
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", a, err)
	}
	sum := sha256.Sum256(body)
	in := &s3.PutObjectInput{
		Bucket:         &a.Bucket,
		Key:            &a.Key,
		Body:           bytes.NewReader(body),
		ContentLength:  aws.Int64(int64(len(body))),
		ContentType:    aws.String("application/json"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}
	switch {
	case ifMatch == nil:
	case *ifMatch == "":
		in.IfNoneMatch = aws.String("*")
	default:
		in.IfMatch = ifMatch
	}
	out, err := r.c.s3.PutObject(ctx, in)
	if err != nil {
		return "", r.c.opError("put", a.String(), err)
	}
	return aws.ToString(out.ETag), nil
}

// List lists the documents directly under prefix in bucket whose keys end
// in suffix (one ListObjectsV2 request per 1000), sorted by Name. Keys
// with a further "/" between prefix and suffix are skipped, so a name
// never climbs out of or into another prefix.
func (r *Records) List(ctx context.Context, bucket, prefix, suffix string) ([]RecordInfo, error) {
	var out []RecordInfo
	err := r.ListPages(ctx, bucket, prefix, suffix, func(page []RecordInfo) error {
		out = append(out, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b RecordInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
