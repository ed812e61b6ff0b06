package release

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rangedFetch is one parallel fetch of a pinned version into a file:
// workers write ranges in place, run hashes what is complete, in order.
type rangedFetch struct {
	c         *Client
	a         Address
	versionID string
	size      int64
	f         FileWriter
	base      int64 // f's offset when the fetch began
	ranges    []byteRange

	mu   sync.Mutex
	done []int64 // bytes of each range written, from its start

	h      hash.Hash // the SHA-256 of the first hashed bytes
	hashed int64     // bytes of the release already in h (probe)

	crc      io.Writer     // S3's full-object CRC, hashed in order with the SHA-256; may be nil
	wake     chan struct{} // a range moved on (capacity 1)
	partSums [][]byte      // SHA-256 of each upload part, for a composite checksum
}

// drainBlock is how much run reads back and hashes at once.
const drainBlock = 1 << 20

// run fetches every range, the first from first (the body of the GET of
// the whole version, closed after its first range), and returns the bytes
// written and the SHA-256 of the whole, read back in order as ranges
// complete. The first failure cancels everything and is returned.
func (rf *rangedFetch) run(ctx context.Context, first io.ReadCloser) (int64, []byte, error) {
	rf.done = make([]int64, len(rf.ranges))
	rf.done[0] = rf.hashed
	rf.wake = make(chan struct{}, 1)
	last := rf.ranges[len(rf.ranges)-1]
	rf.partSums = make([][]byte, last.firstPart+len(last.parts))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(1) // range 0 is the first worker's, from first
	var workers sync.WaitGroup
	for wk := range min(rf.c.concurrency, len(rf.ranges)) {
		workers.Go(func() {
			i, body := 0, first
			if wk > 0 {
				i, body = int(next.Add(1)-1), nil
			}
			for ; i < len(rf.ranges); i = int(next.Add(1) - 1) {
				if err := rf.fetchRange(ctx, i, body); err != nil {
					cancel(err)
					return
				}
				body = nil
			}
		})
	}
	n, sum, err := rf.hashInOrder(ctx)
	if err != nil {
		cancel(err)
	}
	workers.Wait()
	if err := context.Cause(ctx); err != nil {
		return n, nil, err
	}
	if _, err := rf.f.Seek(rf.base+n, io.SeekStart); err != nil {
		return n, nil, fmt.Errorf("move the file's offset past the release: %w", err)
	}
	return n, sum, nil
}

// hashInOrder hashes the file from the start as the ranges fill it,
// until size bytes are hashed or ctx is done.
func (rf *rangedFetch) hashInOrder(ctx context.Context) (int64, []byte, error) {
	sink := rf.sink()
	buf := make([]byte, drainBlock)
	hashed := rf.hashed
	for hashed < rf.size {
		if avail := rf.prefix(); avail > hashed {
			n, err := rf.f.ReadAt(buf[:min(avail-hashed, drainBlock)], rf.base+hashed)
			if err != nil && !(err == io.EOF && n > 0) {
				return hashed, nil, fmt.Errorf("read back bytes %d-%d to hash them: %w", hashed, hashed+int64(n), err)
			}
			sink.Write(buf[:n])
			hashed += int64(n)
			continue
		}
		select {
		case <-rf.wake:
		case <-ctx.Done():
			return hashed, nil, context.Cause(ctx)
		}
	}
	return hashed, rf.h.Sum(nil), nil
}

// sink is where bytes go, in order, to be hashed.
func (rf *rangedFetch) sink() io.Writer {
	if rf.crc != nil {
		return io.MultiWriter(rf.h, rf.crc)
	}
	return rf.h
}

// probeBytes is how much of the first GET probe times.
const probeBytes = 2 << 20

// probe reads, writes and hashes the first probeBytes of first, and
// reports whether they came at SplitBelow or faster (timed from the
// first byte read, so the request's latency does not count). A read
// error is left to the ranged fetch, which asks again from where the
// probe stopped.
func (rf *rangedFetch) probe(first io.Reader) bool {
	buf := make([]byte, min(probeBytes, rf.ranges[0].end))
	k, err := first.Read(buf[:1])
	start := time.Now()
	if err == nil {
		var more int
		more, err = io.ReadFull(first, buf[1:])
		k += more
	}
	elapsed := time.Since(start)
	if _, werr := rf.f.WriteAt(buf[:k], rf.base); werr != nil {
		return false // the ranged fetch will meet it again and say so
	}
	rf.sink().Write(buf[:k])
	rf.hashed = int64(k)
	return err == nil && float64(k) >= float64(rf.c.splitBelow)*elapsed.Seconds()
}

// prefix is how many bytes from the start are written.
func (rf *rangedFetch) prefix() int64 {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for i, r := range rf.ranges {
		if rf.done[i] < r.end-r.start {
			return r.start + rf.done[i]
		}
	}
	return rf.size
}

// wrote records n more bytes of range i and wakes the hasher.
func (rf *rangedFetch) wrote(i int, n int64) {
	rf.mu.Lock()
	rf.done[i] += n
	rf.mu.Unlock()
	select {
	case rf.wake <- struct{}{}:
	default:
	}
}

// fetchRange writes range i into the file, from body when given (the
// first GET's, positioned at the range's start), else from a ranged GET;
// a body cut short is followed by a ranged GET of the rest, at most
// FetchAttempts attempts in all.
func (rf *rangedFetch) fetchRange(ctx context.Context, i int, body io.ReadCloser) error {
	r := rf.ranges[i]
	var parts *partHasher
	if r.parts != nil {
		parts = newPartHasher(r.parts, sha256.New)
	}
	buf := make([]byte, copyBuffer)
	for attempt := 1; ; attempt++ {
		err := rf.attempt(ctx, i, body, parts, buf)
		body = nil
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if permanent(err) || attempt >= rf.c.attempts {
			return fmt.Errorf("bytes %d-%d: gave up at attempt %d of %d: %w", r.start, r.end-1, attempt, rf.c.attempts, err)
		}
		rf.c.log.Warn("fetch: range cut short; asking again for the rest", "target", target(rf.a, rf.versionID),
			"range", fmt.Sprintf("%d-%d", r.start, r.end-1), "done", rf.doneOf(i), "attempt", attempt, "err", err)
		select {
		case <-time.After(min(100*time.Millisecond<<attempt, 2*time.Second)):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if parts != nil {
		for k := range r.parts {
			rf.partSums[r.firstPart+k] = parts.sums[k*sha256.Size : (k+1)*sha256.Size]
		}
	}
	return nil
}

func (rf *rangedFetch) doneOf(i int) int64 {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return rf.done[i]
}

// attempt copies what is left of range i from body, or from a ranged
// GET of it when body is nil, hashing it by part and writing it in place.
func (rf *rangedFetch) attempt(ctx context.Context, i int, body io.ReadCloser, parts *partHasher, buf []byte) error {
	r := rf.ranges[i]
	from := r.start + rf.doneOf(i)
	if body == nil {
		reqCtx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		b, err := rf.getRange(reqCtx, from, r.end)
		if err != nil {
			return err
		}
		body = idleBody(b, rf.c.idle, cancel)
		defer func() {
			if errors.Is(context.Cause(reqCtx), errStalled) && ctx.Err() == nil {
				rf.c.log.Warn("fetch: range stalled", "target", target(rf.a, rf.versionID), "from", from)
			}
		}()
	}
	defer body.Close()
	lr := io.LimitReader(body, r.end-from)
	for {
		n, err := lr.Read(buf)
		if n > 0 {
			if parts != nil {
				parts.Write(buf[:n])
			}
			if _, werr := rf.f.WriteAt(buf[:n], rf.base+r.start+rf.doneOf(i)); werr != nil {
				return &permanentError{fmt.Errorf("write to the file: %w", werr)}
			}
			rf.wrote(i, int64(n))
		}
		if err == io.EOF {
			if left := r.end - r.start - rf.doneOf(i); left > 0 {
				return fmt.Errorf("%w: %d bytes of the range missing", io.ErrUnexpectedEOF, left)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// getRange starts a GET of bytes [from, end) of the pinned version and
// checks that the answer is that range of an object of the expected size.
func (rf *rangedFetch) getRange(ctx context.Context, from, end int64) (io.ReadCloser, error) {
	rng := fmt.Sprintf("bytes=%d-%d", from, end-1)
	out, err := rf.c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &rf.a.Bucket, Key: &rf.a.Key, VersionId: &rf.versionID, Range: &rng})
	if err != nil {
		return nil, rf.c.opError("fetch", target(rf.a, rf.versionID)+" "+rng, err)
	}
	want := fmt.Sprintf("bytes %d-%d/%d", from, end-1, rf.size)
	if got := aws.ToString(out.ContentRange); got != want || aws.ToInt64(out.ContentLength) != end-from || aws.ToString(out.VersionId) != rf.versionID {
		out.Body.Close()
		return nil, &permanentError{&Error{Op: "fetch", Target: target(rf.a, rf.versionID), Kind: ErrChecksumMismatch,
			Detail: fmt.Sprintf("asked for %s, S3 answered %q (%d bytes) of version %q", rng, got, aws.ToInt64(out.ContentLength), aws.ToString(out.VersionId))}}
	}
	return out.Body, nil
}

// permanentError marks a failure that asking again cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent reports whether a range's failure is worth no other attempt:
// the version is gone or forbidden, the answer was not the range asked
// for, or the file cannot be written.
func permanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccessDenied) ||
		errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrChecksumMismatch)
}

// completedParts is a partHasher that has hashed parts of the given
// sizes to the given digests.
func completedParts(sizes []int64, sums [][]byte) *partHasher {
	p := &partHasher{sizes: sizes, newHash: sha256.New, done: len(sizes)}
	for _, s := range sums {
		p.sums = append(p.sums, s...)
	}
	return p
}
