package fleet

import (
	"strings"
	"sync"
)

// StatusCache keeps the status objects one channel's readings read, by
// key and ETag, so that the next reading GETs only the objects whose
// ETag the listing shows changed. Something that reads a channel again
// and again (the dashboard every few seconds, pkgdeb wait, pkgdeb status
// --watch) then pays per reading one LIST per 1000 hosts and one GET per
// host that reported since, instead of one GET per host: at 1000 hosts
// and a 2 s interval, about 2 requests a second instead of 500.
//
// An ETag is S3's: the same key with the same ETag holds the same bytes,
// and every status write carries the time it was written, so a host that
// reported has a new ETag. A reading that fails or stops early keeps what
// it read; a complete one also drops what the listing no longer shows.
// Unreadable objects are read again each time.
//
// Use one cache per channel: a reading of another channel drops what the
// cache held. It is safe for concurrent use; readings of one channel at
// once share it. The statuses it hands out share their texts and Target,
// Rollout, Hold and Config with it: readers must not change what those
// point to.
type StatusCache struct {
	max int

	mu      sync.Mutex
	reading uint64 // counts the readings begun
	byKey   map[string]*cachedStatus
}

// cachedStatus is one object as last read, and the last reading whose
// listing showed it.
type cachedStatus struct {
	etag   string
	status HostStatus
	seen   uint64
}

// NewStatusCache returns a cache that holds at most max objects (none
// when max <= 0): past that, new objects are read each time, as with no
// cache, so that its memory is bounded by the caller's.
func NewStatusCache(max int) *StatusCache {
	return &StatusCache{max: max, byKey: map[string]*cachedStatus{}}
}

// begin starts a reading and returns its number (0 with no cache).
func (sc *StatusCache) begin() uint64 {
	if sc == nil {
		return 0
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.reading++
	return sc.reading
}

// lookup copies into st the status cached for key at etag and reports
// whether there was one; reading marks it seen either way when the key
// is cached, so that a changed object is not dropped before it is read
// again.
func (sc *StatusCache) lookup(reading uint64, key, etag string, st *HostStatus) bool {
	if sc == nil || etag == "" {
		return false
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	e := sc.byKey[key]
	if e == nil {
		return false
	}
	e.seen = max(e.seen, reading)
	if e.etag != bareETag(etag) {
		return false
	}
	*st = e.status
	return true
}

// store keeps st as key's status at etag, if there is room.
func (sc *StatusCache) store(reading uint64, key, etag string, st HostStatus) {
	if sc == nil || etag == "" {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	etag = bareETag(etag)
	if e := sc.byKey[key]; e != nil {
		e.etag, e.status, e.seen = etag, st, max(e.seen, reading)
		return
	}
	if len(sc.byKey) >= sc.max {
		return
	}
	sc.byKey[key] = &cachedStatus{etag: etag, status: st, seen: reading}
}

// bareETag is etag without the quotes S3 puts around it, so that a
// server quoting it in GET answers and not in listings (or the other way
// round) still matches.
func bareETag(etag string) string {
	return strings.Trim(etag, `"`)
}

// forget drops key, whose object could not be read.
func (sc *StatusCache) forget(key string) {
	if sc == nil {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	delete(sc.byKey, key)
}

// sweep ends a complete reading: it drops the objects its listing did
// not show (deleted hosts), unless a later reading has begun meanwhile.
func (sc *StatusCache) sweep(reading uint64) {
	if sc == nil {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if reading != sc.reading {
		return
	}
	for k, e := range sc.byKey {
		if e.seen != reading {
			delete(sc.byKey, k)
		}
	}
}

// Len returns how many objects the cache holds.
func (sc *StatusCache) Len() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.byKey)
}
