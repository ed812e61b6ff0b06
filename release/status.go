package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxJSONSize bounds what GetJSON reads: status objects are small, and a
// huge one is a mistake or an attack.
const maxJSONSize = 1 << 20

// StatusAddress is where the agent on host reports about channel:
// "<key>.status/<host>.json" next to the release.
func StatusAddress(channel Address, host string) Address {
	return Address{Bucket: channel.Bucket, Key: channel.Key + ".status/" + host + ".json"}
}

// PutJSON writes v as a small JSON object at a in one PutObject (atomic:
// readers see the old or the new document, never a mix; the last writer
// wins). S3 verifies its SHA-256. Retried as described in the package
// documentation.
func (c *Client) PutJSON(ctx context.Context, a Address, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("put %s: %w", a, err)
	}
	sum := sha256.Sum256(body)
	_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         &a.Bucket,
		Key:            &a.Key,
		Body:           bytes.NewReader(body),
		ContentLength:  aws.Int64(int64(len(body))),
		ContentType:    aws.String("application/json"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	return c.opError("put", a.String(), err)
}

// GetJSON reads the JSON object at a into v. A missing object gives
// ErrNotFound; one over 1 MiB is refused.
func (c *Client) GetJSON(ctx context.Context, a Address, v any) error {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key})
	if err != nil {
		return c.opError("get", a.String(), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxJSONSize+1))
	if err != nil {
		return c.opError("get", a.String(), err)
	}
	if len(data) > maxJSONSize {
		return fmt.Errorf("get %s: larger than %d bytes", a, maxJSONSize)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("get %s: %w", a, err)
	}
	return nil
}

// StatusObject is one agent's report found by ListStatus.
type StatusObject struct {
	Addr         Address
	Host         string
	LastModified time.Time
	Size         int64
}

// ListStatus lists the status objects of channel's agents (see
// StatusAddress), one ListObjectsV2 request per 1000 hosts.
func (c *Client) ListStatus(ctx context.Context, channel Address) ([]StatusObject, error) {
	prefix := channel.Key + ".status/"
	var out []StatusObject
	p := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: &channel.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.opError("list status", channel.String(), err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			host, ok := strings.CutSuffix(strings.TrimPrefix(key, prefix), ".json")
			if !ok || host == "" || strings.Contains(host, "/") {
				continue
			}
			out = append(out, StatusObject{
				Addr:         Address{Bucket: channel.Bucket, Key: key},
				Host:         host,
				LastModified: aws.ToTime(o.LastModified),
				Size:         aws.ToInt64(o.Size),
			})
		}
	}
	return out, nil
}
