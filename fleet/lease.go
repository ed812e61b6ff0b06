package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/debfleet/debfleet/release"
)

// Lease errors, told apart with errors.Is.
var (
	// ErrNoLease: every update slot is held by a live lease; try again
	// later.
	ErrNoLease = errors.New("no free update slot")
	// ErrLeaseLost: the lease expired and another host took the slot over
	// (or it was released); the holder is no longer counted.
	ErrLeaseLost = errors.New("lease lost")
)

// maxLeaseProbes is the most update slots one AcquireLease looks at.
const maxLeaseProbes = 8

// LeaseAddress is update slot slot of channel: "<key>.leases/<slot>.json".
// Slots belong to the channel, not to one release, so a release published
// in the middle of another's rollout shares the same cap.
func LeaseAddress(channel release.Address, slot int) release.Address {
	return release.Address{Bucket: channel.Bucket, Key: channel.Key + ".leases/" + strconv.Itoa(slot) + ".json"}
}

// LeaseRecord is the JSON document of an update slot. A slot whose Holder
// is empty, or whose Expires has passed, is free.
type LeaseRecord struct {
	// Holder is the host holding the slot, "" when released.
	Holder string `json:"holder"`
	// Version and SHA256 name the release the holder is installing.
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	// Acquired is when the holder took the slot; Expires is when it
	// becomes free unless renewed. Both are the holder's clock: hosts'
	// clocks must agree to well within the lease TTL (NTP does). They are
	// the writer's claims: LeaseSlot.Held caps them with the store's
	// clock.
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
	// Nonce is fresh at every write. S3's ETag of a single PUT is the MD5
	// of the body, so without it a record written twice with the same
	// content (a host re-taking its slot within the same instant, or any
	// A-B-A sequence) would keep its ETag, and a stale If-Match would
	// still succeed: the nonce makes If-Match a true compare-and-swap.
	Nonce string `json:"nonce"`
}

// SetNonce implements release.Noncer.
func (r *LeaseRecord) SetNonce(n string) { r.Nonce = n }

// MaxLeaseTTL is the longest a lease may last without renewal. It bounds
// what any writer of a slot can claim: a slot counts as free MaxLeaseTTL
// after its last write, whatever its record says.
const MaxLeaseTTL = time.Hour

// clockSkew is how far a holder's clock may run ahead of the store's
// before an acquisition time counts as made up.
const clockSkew = time.Minute

// heldAt is the one rule for whether a slot's record holds it at now (the
// reader's clock), given when the store last wrote it (its own clock; zero
// when unknown): the record names a holder, its Expires has not passed,
// nor has its last write plus MaxLeaseTTL, and it was not acquired after
// it was written. The writer's clock alone would let one rogue record
// (expires 9999-01-01) stop every rollout of the channel.
func heldAt(r LeaseRecord, modified, now time.Time) bool {
	if r.Holder == "" || !now.Before(r.Expires) {
		return false
	}
	if modified.IsZero() {
		return true
	}
	return now.Before(modified.Add(MaxLeaseTTL)) && !r.Acquired.After(modified.Add(clockSkew))
}

// LeaseRequest asks for one of a channel's update slots.
type LeaseRequest struct {
	// Slots is the number of slots (the policy's MaxUpdating), at least 1.
	Slots int
	// Holder names the host; a slot it already holds (from before a
	// restart) is taken back at once.
	Holder string
	// Version and SHA256 name the release about to be installed.
	Version, SHA256 string
	// TTL is how long the lease lasts unless renewed; a holder that dies
	// blocks its slot for at most this long.
	TTL time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Lease is a held update slot. Renew it before it expires (Keep does) and
// Release it when done. Its methods are safe for concurrent use.
type Lease struct {
	c    *Client
	addr release.Address
	slot int
	ttl  time.Duration
	now  func() time.Time

	mu   sync.Mutex
	rec  LeaseRecord
	etag string
}

// Slot returns the slot number.
func (l *Lease) Slot() int { return l.slot }

// Record returns the lease's current record.
func (l *Lease) Record() LeaseRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// AcquireLease takes one of channel's update slots for req.Holder, or
// fails with ErrNoLease when every slot is held. It never writes without a
// condition: an absent slot is created with If-None-Match: *, a free,
// expired or own slot is overwritten with If-Match on the ETag just read,
// so of hosts racing for one slot exactly one wins and the others move on
// to the next slot. Cost: one GET per slot looked at plus one PUT per
// attempt to take one. Up to 8 slots, every slot is looked at, starting
// from one derived from the holder's name, so racing hosts mostly try
// different slots first; with more, 8 consecutive slots from a random
// one, so an attempt costs at most 8 GETs (ErrNoLease then means only
// that those were held).
func (c *Client) AcquireLease(ctx context.Context, channel release.Address, req LeaseRequest) (*Lease, error) {
	switch {
	case req.Slots < 1:
		return nil, fmt.Errorf("acquire lease on %s: %d slots", channel, req.Slots)
	case req.Holder == "":
		return nil, fmt.Errorf("acquire lease on %s: no holder name", channel)
	case req.TTL <= 0 || req.TTL > MaxLeaseTTL:
		return nil, fmt.Errorf("acquire lease on %s: TTL %v is not in (0, %v]", channel, req.TTL, MaxLeaseTTL)
	}
	now := req.Now
	if now == nil {
		now = time.Now
	}
	sum := sha256.Sum256([]byte(req.Holder))
	first := int(binary.BigEndian.Uint64(sum[:8]) % uint64(req.Slots))
	probes := req.Slots
	if probes > maxLeaseProbes {
		// With many slots, reading all of them at every attempt of every
		// waiting host would cost O(slots) GETs per poll: look at a few,
		// from a random place, and let the next attempt look elsewhere.
		probes, first = maxLeaseProbes, mathrand.IntN(req.Slots)
	}
	busy := make([]string, 0, probes)
	for i := range probes {
		slot := (first + i) % req.Slots
		a := LeaseAddress(channel, slot)
		var cur LeaseRecord
		info, err := c.store.Get(ctx, a, maxRecordSize, &cur)
		etag := info.ETag
		switch {
		case errors.Is(err, release.ErrNotFound):
			etag = "" // create-only
		case err != nil:
			return nil, fmt.Errorf("acquire lease: %w", err)
		case cur.Holder != req.Holder && heldAt(cur, info.LastModified, now()):
			busy = append(busy, fmt.Sprintf("%s until %s", cur.Holder, cur.Expires.Format(time.RFC3339)))
			continue
		}
		t := now().UTC()
		rec := LeaseRecord{Holder: req.Holder, Version: req.Version, SHA256: req.SHA256, Acquired: t, Expires: t.Add(req.TTL)}
		newTag, err := c.store.PutIf(ctx, a, &rec, etag)
		if errors.Is(err, release.ErrPreconditionFailed) {
			busy = append(busy, "taken by another host just now")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("acquire lease: %w", err)
		}
		c.log.Info("lease acquired", "channel", channel.String(), "slot", slot, "holder", req.Holder, "expires", rec.Expires)
		return &Lease{c: c, addr: a, slot: slot, ttl: req.TTL, now: now, rec: rec, etag: newTag}, nil
	}
	return nil, fmt.Errorf("acquire lease on %s: %w: the %d of %d slots looked at are held (%s)", channel, ErrNoLease, probes, req.Slots, joinShort(busy))
}

func joinShort(s []string) string {
	const show = 3
	if len(s) <= show {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v and %d more", s[:show], len(s)-show)
}

// Renew pushes the lease's expiry to now + TTL with a PUT conditional on
// the lease's ETag. ErrLeaseLost means another host took the slot over
// after the lease expired.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.rec
	rec.Expires = l.now().UTC().Add(l.ttl)
	return l.write(ctx, "renew", rec)
}

// Release frees the slot with a PUT conditional on the lease's ETag that
// empties the holder. It is an overwrite rather than a DELETE because
// versitygw (v1.8.0, versioned bucket) refuses If-None-Match: * on a key
// whose current version is a delete marker, which would leave the slot
// unusable; an overwrite keeps every transition of a slot conditional on
// every S3 server. ErrLeaseLost means the slot had already been taken
// over; it is free of us either way.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rec.Holder == "" {
		return nil
	}
	rec := LeaseRecord{Acquired: l.rec.Acquired, Expires: l.now().UTC()}
	return l.write(ctx, "release", rec)
}

// write stores rec with If-Match on the current ETag; l.mu is held.
func (l *Lease) write(ctx context.Context, op string, rec LeaseRecord) error {
	if l.etag == "" {
		return fmt.Errorf("%s lease %s: %w", op, l.addr, ErrLeaseLost)
	}
	tag, err := l.c.store.PutIf(ctx, l.addr, &rec, l.etag)
	if errors.Is(err, release.ErrPreconditionFailed) || errors.Is(err, release.ErrNotFound) {
		l.etag = ""
		return fmt.Errorf("%s lease %s: %w", op, l.addr, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("%s lease: %w", op, err)
	}
	l.rec, l.etag = rec, tag
	return nil
}

// Keep renews the lease every interval (a third of the TTL is a good
// choice) until stop is called or ctx ends. A failed renewal is retried at
// the next tick; stop returns ErrLeaseLost if the lease was lost, else the
// last renewal's error (nil when it worked).
func (l *Lease) Keep(ctx context.Context, every time.Duration) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		var last error
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- last
				return
			case <-t.C:
			}
			last = l.Renew(ctx)
			if errors.Is(last, ErrLeaseLost) {
				done <- last
				return
			}
			if last != nil && ctx.Err() == nil {
				l.c.log.Warn("lease renewal failed; retrying", "lease", l.addr.String(), "err", last)
			}
		}
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
			if ctx.Err() != nil && !errors.Is(err, ErrLeaseLost) {
				err = nil // a renewal cut short by stop says nothing
			}
		})
		return err
	}
}

// LeaseSlot is one update slot as ReadLeases sees it.
type LeaseSlot struct {
	Slot   int
	Record LeaseRecord // zero when the slot object does not exist yet
	// Modified is when the store last wrote the slot (its clock).
	Modified time.Time
}

// Held reports whether the slot is held at now: its record's claim,
// capped by the store's clock (see MaxLeaseTTL).
func (s LeaseSlot) Held(now time.Time) bool { return heldAt(s.Record, s.Modified, now) }

// ReadLeases reads slots 0..slots-1 of channel (one GET each); missing
// slots come back with a zero Record.
func (c *Client) ReadLeases(ctx context.Context, channel release.Address, slots int) ([]LeaseSlot, error) {
	out := make([]LeaseSlot, 0, slots)
	for i := range slots {
		var rec LeaseRecord
		info, err := c.store.Get(ctx, LeaseAddress(channel, i), maxRecordSize, &rec)
		if err != nil && !errors.Is(err, release.ErrNotFound) {
			return nil, fmt.Errorf("read leases: %w", err)
		}
		out = append(out, LeaseSlot{Slot: i, Record: rec, Modified: info.LastModified})
	}
	return out, nil
}
