package release

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// pageVersions returns the versions and delete markers of key in one
// ListObjectVersions page, newest first. S3 lists a key's versions newest
// first, and its delete markers newest first in a separate list: S3's
// order is kept within each (timestamps can tie) and the two are merged
// by time.
func pageVersions(page *s3.ListObjectVersionsOutput, key string) []Version {
	var objs, markers []Version
	for _, v := range page.Versions {
		if aws.ToString(v.Key) != key {
			continue
		}
		objs = append(objs, Version{
			VersionID:    aws.ToString(v.VersionId),
			LastModified: aws.ToTime(v.LastModified),
			Size:         aws.ToInt64(v.Size),
			ETag:         aws.ToString(v.ETag),
			Current:      aws.ToBool(v.IsLatest),
		})
	}
	for _, m := range page.DeleteMarkers {
		if aws.ToString(m.Key) != key {
			continue
		}
		markers = append(markers, Version{
			VersionID:    aws.ToString(m.VersionId),
			LastModified: aws.ToTime(m.LastModified),
			Current:      aws.ToBool(m.IsLatest),
			DeleteMarker: true,
		})
	}
	return mergeNewestFirst(objs, markers)
}

// VersionsDelimiter is the delimiter of WrittenBefore's listing, for an
// IAM policy's s3:delimiter condition.
const VersionsDelimiter = "."

// recentVersions bounds WrittenBefore's listing: versionID is looked for
// among the channel's newest entries only.
const recentVersions = 20

// WrittenBefore returns the entry of channel a (object version or delete
// marker) written just before version versionID, without its manifest,
// or nil when versionID is the channel's first. It costs one
// ListObjectVersions request (with prefix a.Key and delimiter
// VersionsDelimiter). versionID must be among the channel's 20
// newest entries: otherwise the channel moved on meanwhile, and the
// error wraps ErrNotFound.
//
// S3 sets LastModified with its own clock, so a signed manifest
// published (by the publisher's clock) well before its predecessor was
// written is an old release copied back into the channel.
func (c *Client) WrittenBefore(ctx context.Context, a Address, versionID string) (*Version, error) {
	// The delimiter rolls every longer key under the channel's name (its
	// status objects, leases and records) into one common prefix, so the
	// page lists the channel's own versions only, and a policy can allow
	// this listing without showing other hosts' names.
	out, err := c.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &a.Bucket, Prefix: &a.Key,
		Delimiter: aws.String(VersionsDelimiter), MaxKeys: aws.Int32(recentVersions)})
	if err != nil {
		return nil, c.opError("list versions", a.String(), err)
	}
	vs := pageVersions(out, a.Key)
	for i, v := range vs {
		if v.VersionID != versionID || v.DeleteMarker {
			continue
		}
		if i+1 < len(vs) {
			return &vs[i+1], nil
		}
		if aws.ToBool(out.IsTruncated) && len(vs) == recentVersions {
			break
		}
		return nil, nil
	}
	return nil, &Error{Op: "list versions", Target: target(a, versionID), Kind: ErrNotFound,
		Detail: fmt.Sprintf("not among the channel's %d newest versions", recentVersions)}
}
