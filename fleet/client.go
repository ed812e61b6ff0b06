package fleet

import (
	"context"
	"log/slog"

	"github.com/debfleet/debfleet/release"
)

// Store keeps the fleet's small JSON records. *release.Records (S3) and
// fleettest.Store (memory, for tests) satisfy it; fleettest.TestStore is
// the conformance suite both pass.
//
// Errors a Client tells apart, matched with errors.Is: release.ErrNotFound
// for a missing record (also where S3 answers 403 and a listing shows no
// such key), release.ErrPreconditionFailed for a lost conditional write.
type Store interface {
	// Get reads the JSON document at a into v and returns its ETag and
	// the store's LastModified (its own clock, which no writer sets). A
	// document over maxSize bytes, or one that is not JSON, is an error.
	Get(ctx context.Context, a release.Address, maxSize int64, v any) (release.RecordInfo, error)
	// Put writes v as JSON at a, atomically (a reader sees the old or the
	// new document), the last writer winning; it returns the new ETag.
	Put(ctx context.Context, a release.Address, v any) (etag string, err error)
	// PutIf writes like Put only if the current ETag is ifMatch, or, with
	// ifMatch "", only if there is no document. Every write of a document
	// that implements release.Noncer gets a fresh nonce first, so no two
	// writes share an ETag.
	PutIf(ctx context.Context, a release.Address, v any, ifMatch string) (etag string, err error)
	// List lists the documents directly under prefix whose keys end in
	// suffix, sorted by the name between the two; keys with a "/" in the
	// name are skipped.
	List(ctx context.Context, bucket, prefix, suffix string) ([]release.RecordInfo, error)
}

// Sizes of the records read: a huge one is a mistake or an attack.
const (
	// maxRecordSize bounds lease, failure and halt records, a few
	// hundred bytes each.
	maxRecordSize = 64 << 10
	// maxStatusSize bounds a host status object.
	maxStatusSize = 1 << 20
)

// Client reads and writes the fleet's records next to release channels.
// It is safe for concurrent use.
type Client struct {
	store Store
	log   *slog.Logger
}

// New returns a Client over store (for S3: release.Client.Records) that
// logs fleet events (a lease taken, a renewal failed) to log; a nil log
// discards them.
func New(store Store, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{store: store, log: log}
}

// listNames lists the names of the JSON records directly under prefix,
// sorted.
func (c *Client) listNames(ctx context.Context, bucket, prefix string) ([]string, error) {
	list, err := c.store.List(ctx, bucket, prefix, ".json")
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, o := range list {
		names[i] = o.Name
	}
	return names, nil
}
