package release

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ListPages lists what List lists, one ListObjectsV2 page (up to 1000
// keys) at a time: fn gets each page's documents as soon as it arrives,
// in the order S3 lists them (by key, which for names of the same suffix
// is by name except where a name is a prefix of another: "a-b" comes
// before "a"), so that a caller holds one page of a listing of any
// length. A page may be empty. An error from fn stops the listing and is
// returned as it is.
func (r *Records) ListPages(ctx context.Context, bucket, prefix, suffix string, fn func([]RecordInfo) error) error {
	p := s3.NewListObjectsV2Paginator(r.c.s3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return r.c.opError("list", "s3://"+bucket+"/"+prefix, err)
		}
		out := make([]RecordInfo, 0, len(page.Contents))
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name, ok := strings.CutSuffix(strings.TrimPrefix(key, prefix), suffix)
			if !ok || name == "" || strings.Contains(name, "/") {
				continue
			}
			out = append(out, RecordInfo{
				Addr:         Address{Bucket: bucket, Key: key},
				Name:         name,
				ETag:         aws.ToString(o.ETag),
				LastModified: aws.ToTime(o.LastModified),
				Size:         aws.ToInt64(o.Size),
			})
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}
