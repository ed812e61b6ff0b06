package dashboard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/release"
)

// Bounds of finding channels under the prefix.
const (
	// maxListPages bounds the listing: 10 pages of 1000 keys. A prefix
	// holding more keys (channels count their hosts' status objects) is
	// shown as far as it was listed, with a note.
	maxListPages = 10
	// maxProbes bounds the HEADs of one discovery: keys with no status
	// object next to them are HEADed to see whether they are releases.
	maxProbes = 50
)

// recordMarkers are what follows a channel's key in the keys of the
// records fleet keeps next to it (status objects, update slots, rollout
// records): no such key is a channel itself.
var recordMarkers = []string{".status/", ".leases/", ".rollout/"}

// listedKey is one key of the listing, with its ETag (a release probed
// once is not HEADed again until it changes).
type listedKey struct {
	Key, ETag string
}

// candidates splits keys into the ones with a status object next to them
// (agents follow them: channels for sure) and the others that are not
// records of a channel (releases or not: only a HEAD tells). Both keep
// the order of keys.
func candidates(keys []listedKey) (reported, others []listedKey) {
	present := map[string]bool{}
	for _, k := range keys {
		present[k.Key] = true
	}
	hasStatus := map[string]bool{}
	var plain []listedKey
	for _, k := range keys {
		record := false
		for _, m := range recordMarkers {
			if i := strings.Index(k.Key, m); i > 0 {
				record = true
				if m == ".status/" && present[k.Key[:i]] {
					hasStatus[k.Key[:i]] = true
				}
			}
		}
		if !record {
			plain = append(plain, k)
		}
	}
	for _, k := range plain {
		if hasStatus[k.Key] {
			reported = append(reported, k)
		} else {
			others = append(others, k)
		}
	}
	return reported, others
}

// listKeys lists the keys under the server's prefix, at most
// maxListPages pages; truncated reports that more were left.
func (s *Server) listKeys(ctx context.Context) (keys []listedKey, truncated bool, err error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.o.Bucket, Prefix: &s.o.Prefix}
	p := s3.NewListObjectsV2Paginator(s.o.Client.S3(), in)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == maxListPages {
			return keys, true, nil
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("list s3://%s/%s: %w", s.o.Bucket, s.o.Prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, listedKey{Key: aws.ToString(o.Key), ETag: aws.ToString(o.ETag)})
		}
	}
	return keys, false, nil
}

// discovery is what finding the channels found.
type discovery struct {
	channels []release.Address // sorted by key, at most MaxChannels
	// notes say what was left out and why, for the page.
	notes []string
}

// discover finds the channels under the prefix: the keys with a status
// object next to them, then keys without records HEADed (at most
// maxProbes, each key once per ETag) for a debfleet manifest; at most
// MaxChannels in all.
func (s *Server) discover(ctx context.Context) (*discovery, error) {
	keys, truncated, err := s.listKeys(ctx)
	if err != nil {
		return nil, err
	}
	d := &discovery{}
	if truncated {
		d.notes = append(d.notes, fmt.Sprintf("only the first %d keys under the prefix were listed: name a longer prefix to see the channels past them", maxListPages*1000))
	}
	reported, others := candidates(keys)
	found := make([]string, 0, len(reported))
	for _, k := range reported {
		found = append(found, k.Key)
	}
	want := s.o.MaxChannels - len(found)
	found = append(found, s.probe(ctx, others, want)...)
	slices.Sort(found)
	switch {
	case len(found) > s.o.MaxChannels:
		d.notes = append(d.notes, fmt.Sprintf("%d channels found, the first %d shown (the limit on channels read)", len(found), s.o.MaxChannels))
		found = found[:s.o.MaxChannels]
	case want <= 0 && len(others) > 0:
		d.notes = append(d.notes, fmt.Sprintf("%d channels shown (the limit on channels read); %d more keys without status objects were not examined", len(found), len(others)))
	case len(others) > maxProbes:
		d.notes = append(d.notes, fmt.Sprintf("only %d of the %d keys without status objects were examined for releases", maxProbes, len(others)))
	}
	for _, k := range found {
		d.channels = append(d.channels, release.Address{Bucket: s.o.Bucket, Key: k})
	}
	return d, nil
}

// probe HEADs keys (at most maxProbes, 4 at a time; a key already
// probed with the same ETag is not HEADed again) and returns those whose
// current version carries a release manifest, at most want of them. It
// runs on the refresh loop only; s.probed keeps the answers for the keys
// of this listing alone, so it never outgrows the listing.
func (s *Server) probe(ctx context.Context, keys []listedKey, want int) []string {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 4)
		found []string
		next  = map[listedKey]bool{}
	)
	for i, k := range keys {
		if i == maxProbes || want <= 0 {
			break
		}
		if is, ok := s.probed[k]; ok {
			mu.Lock()
			next[k] = is
			if is {
				found = append(found, k.Key)
			}
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			obj, err := s.o.Client.Head(ctx, release.Address{Bucket: s.o.Bucket, Key: k.Key}, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				return // gone meanwhile, or unreadable: tried again next time
			}
			next[k] = obj.Manifest != nil
			if obj.Manifest != nil {
				found = append(found, k.Key)
			}
		})
	}
	wg.Wait()
	s.probed = next
	slices.Sort(found)
	return found[:min(max(want, 0), len(found))]
}
