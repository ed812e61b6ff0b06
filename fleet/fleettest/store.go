package fleettest

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/release"
)

// Store is a fleet.Store in memory. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	objects map[release.Address]object
	// Now stamps LastModified; nil means time.Now.
	Now func() time.Time
}

type object struct {
	body     []byte
	etag     string
	modified time.Time
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{objects: map[release.Address]object{}} }

func notFound(a release.Address) error {
	return &release.Error{Op: "get", Target: a.String(), Kind: release.ErrNotFound, Detail: "NoSuchKey (in memory)"}
}

// Get implements fleet.Store.
func (s *Store) Get(ctx context.Context, a release.Address, maxSize int64, v any) (release.RecordInfo, error) {
	if err := ctx.Err(); err != nil {
		return release.RecordInfo{}, err
	}
	s.mu.Lock()
	o, ok := s.objects[a]
	s.mu.Unlock()
	if !ok {
		return release.RecordInfo{}, notFound(a)
	}
	if int64(len(o.body)) > maxSize {
		return release.RecordInfo{}, fmt.Errorf("get %s: larger than %d bytes", a, maxSize)
	}
	if err := json.Unmarshal(o.body, v); err != nil {
		return release.RecordInfo{}, fmt.Errorf("get %s: %w", a, err)
	}
	return release.RecordInfo{Addr: a, ETag: o.etag, LastModified: o.modified, Size: int64(len(o.body))}, nil
}

// Put implements fleet.Store.
func (s *Store) Put(ctx context.Context, a release.Address, v any) (string, error) {
	return s.put(ctx, a, v, nil)
}

// PutIf implements fleet.Store.
func (s *Store) PutIf(ctx context.Context, a release.Address, v any, ifMatch string) (string, error) {
	return s.put(ctx, a, v, &ifMatch)
}

func (s *Store) put(ctx context.Context, a release.Address, v any, ifMatch *string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if n, ok := v.(release.Noncer); ok {
		n.SetNonce(rand.Text())
	}
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", a, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.objects[a]
	if ifMatch != nil && ((*ifMatch == "" && exists) || (*ifMatch != "" && (!exists || cur.etag != *ifMatch))) {
		return "", &release.Error{Op: "put", Target: a.String(), Kind: release.ErrPreconditionFailed, Detail: "PreconditionFailed (in memory)"}
	}
	sum := md5.Sum(body)
	// As S3's ETag of a single PUT: the quoted MD5 of the body.
	o := object{body: body, etag: `"` + hex.EncodeToString(sum[:]) + `"`, modified: s.now()}
	s.objects[a] = o
	return o.etag, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// List implements fleet.Store.
func (s *Store) List(ctx context.Context, bucket, prefix, suffix string) ([]release.RecordInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []release.RecordInfo
	for a, o := range s.objects {
		if a.Bucket != bucket || !strings.HasPrefix(a.Key, prefix) {
			continue
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(a.Key, prefix), suffix)
		if !ok || name == "" || strings.Contains(name, "/") {
			continue
		}
		out = append(out, release.RecordInfo{Addr: a, Name: name, ETag: o.etag, LastModified: o.modified, Size: int64(len(o.body))})
	}
	slices.SortFunc(out, func(a, b release.RecordInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
