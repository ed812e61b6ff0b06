package release

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is one entry of a channel's history.
type Version struct {
	VersionID    string
	LastModified time.Time
	Size         int64
	ETag         string
	// Current marks the version a GET without VersionId returns.
	Current bool
	// DeleteMarker: the key was deleted here; there is no release.
	DeleteMarker bool
	// Manifest is the version's manifest, nil for delete markers and
	// objects not written by Publish (ManifestErr says why).
	Manifest    *Manifest
	ManifestErr error
}

// headConcurrency bounds the HEAD requests History makes at once.
const headConcurrency = 4

// History lists every version of channel a, newest first, with each
// version's manifest. It costs one ListObjectVersions request per 1000
// versions plus one HEAD per version (S3 does not list user metadata);
// limit > 0 keeps only the newest limit entries and HEADs only those.
// A channel that never existed gives an empty list and no error; a
// missing bucket gives ErrNotFound.
func (c *Client) History(ctx context.Context, a Address, limit int) ([]Version, error) {
	var vs []Version
	p := s3.NewListObjectVersionsPaginator(c.s3, &s3.ListObjectVersionsInput{Bucket: &a.Bucket, Prefix: &a.Key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.opError("history", a.String(), err)
		}
		vs = append(vs, pageVersions(page, a.Key)...)
		if limit > 0 && len(vs) >= limit {
			vs = vs[:limit]
			break
		}
	}
	errs := make([]error, len(vs))
	sem := make(chan struct{}, headConcurrency)
	var wg sync.WaitGroup
	for i := range vs {
		if vs[i].DeleteMarker {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			vid := vs[i].VersionID
			if vid == "null" && vs[i].Current {
				// The object written while versioning was off. Some
				// servers (versitygw) do not accept versionId=null;
				// the current object is that version anyway.
				vid = ""
			}
			obj, err := c.Head(ctx, a, vid)
			if err != nil {
				errs[i] = err
				return
			}
			vs[i].Manifest, vs[i].ManifestErr = obj.Manifest, obj.ManifestErr
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, c.opError("history", a.String(), err)
		}
	}
	return vs, nil
}

// mergeNewestFirst merges two newest-first lists; on equal times the
// current entry, then the object version, comes first.
func mergeNewestFirst(objs, markers []Version) []Version {
	out := make([]Version, 0, len(objs)+len(markers))
	for len(objs) > 0 && len(markers) > 0 {
		o, m := objs[0], markers[0]
		if m.Current || (!o.Current && m.LastModified.After(o.LastModified)) {
			out, markers = append(out, m), markers[1:]
		} else {
			out, objs = append(out, o), objs[1:]
		}
	}
	out = append(out, objs...)
	return append(out, markers...)
}
