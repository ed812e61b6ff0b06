package release

import (
	"fmt"
	"net/url"
	"strings"
)

// Address names a release channel: one key in one bucket.
type Address struct {
	Bucket string
	Key    string
}

// ParseAddress parses "s3://bucket/key". The key must not be empty or end
// in "/": a channel is an object, not a folder.
func ParseAddress(s string) (Address, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Address{}, fmt.Errorf("address %q: want s3://bucket/key", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	switch {
	case bucket == "":
		return Address{}, fmt.Errorf("address %q: no bucket; want s3://bucket/key", s)
	case key == "":
		return Address{}, fmt.Errorf("address %q: no key; want s3://bucket/key", s)
	case strings.HasSuffix(key, "/"):
		return Address{}, fmt.Errorf("address %q: key ends in /; name an object, e.g. s3://%s/%sproduction.deb", s, bucket, key)
	}
	return Address{Bucket: bucket, Key: key}, nil
}

// String returns "s3://bucket/key".
func (a Address) String() string { return "s3://" + a.Bucket + "/" + a.Key }

// copySource is a's CopySource value pinned to versionID: bucket and key
// URL-encoded, "/" kept between key segments.
func (a Address) copySource(versionID string) string {
	segs := strings.Split(a.Key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return url.PathEscape(a.Bucket) + "/" + strings.Join(segs, "/") + "?versionId=" + url.QueryEscape(versionID)
}
