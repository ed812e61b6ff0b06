package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/debfleet/debfleet/release"
)

// Jitter returns a delay drawn uniformly from [interval-jitter,
// interval+jitter], so that agents started together (an auto-scaling group
// booting) drift apart instead of polling in lockstep. jitter is clamped to
// interval, so the delay is never negative. r is the random source; nil
// uses the math/rand/v2 top-level source.
func Jitter(interval, jitter time.Duration, r *rand.Rand) time.Duration {
	if jitter <= 0 {
		return interval
	}
	if jitter > interval {
		jitter = interval
	}
	span := int64(2*jitter) + 1
	var n int64
	if r != nil {
		n = r.Int64N(span)
	} else {
		n = rand.Int64N(span)
	}
	return interval - jitter + time.Duration(n)
}

// Backoff spaces out retries after failures, exponentially and capped, and
// keeps logs quiet: it logs a failure only when the kind of failure changes
// (first failure, or a different kind than the last one) and logs once
// when the failures end, instead of one line per cycle. It is not safe for
// concurrent use; one loop owns it.
type Backoff struct {
	// Min is the delay after the first failure; it doubles with each
	// consecutive failure up to Max.
	Min, Max time.Duration
	// Rand, when set, spreads each delay uniformly over [d/2, d] so a
	// fleet that failed together does not retry together. nil keeps
	// delays exact.
	Rand *rand.Rand
	// Logger receives the state changes; nil discards them.
	Logger *slog.Logger
	// What names the operation in log lines, e.g. "check release".
	What string

	failures int
	kind     string
	since    time.Time
	steady   bool // the failures so far were Steady's
}

// Fail records a failure of the given kind (a short, stable class such as
// "unreachable" or "forbidden": details that change every time, like
// request IDs, belong in err, not in kind) and returns the delay before the
// next attempt. now is the current time, passed in so tests control it.
func (b *Backoff) Fail(now time.Time, kind string, err error) time.Duration {
	if b.steady {
		b.failures, b.steady = 0, false
	}
	b.failures++
	d := b.delay()
	b.note(now, kind, err, d)
	return d
}

// Steady records a failure worth retrying at the usual pace, next, rather
// than later and later: a channel nothing was published on yet, which a
// check costs no more to poll than a live one. It is logged as Fail logs
// (once per kind). A Fail after it backs off from Min again.
func (b *Backoff) Steady(now time.Time, kind string, err error, next time.Duration) time.Duration {
	if !b.steady || kind != b.kind {
		b.failures, b.steady = 0, true
	}
	b.failures++
	b.note(now, kind, err, next)
	return next
}

// note logs a failure when it is the first or of another kind than the
// last.
func (b *Backoff) note(now time.Time, kind string, err error, next time.Duration) {
	if b.failures == 1 || kind != b.kind {
		if b.failures == 1 {
			b.since = now
		}
		b.logger().Warn(b.What+" failing", "kind", kind, "err", err, "failures", b.failures, "retry_in", next)
		b.kind = kind
	}
}

// Succeed records a success. After failures it logs the recovery once and
// reports true.
func (b *Backoff) Succeed(now time.Time) bool {
	if b.failures == 0 {
		return false
	}
	b.logger().Info(b.What+" recovered", "failures", b.failures, "duration", now.Sub(b.since).Round(time.Millisecond))
	b.failures, b.kind, b.steady = 0, "", false
	return true
}

// Failures returns the number of consecutive failures so far.
func (b *Backoff) Failures() int { return b.failures }

func (b *Backoff) delay() time.Duration {
	d := b.Min
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < b.failures && (b.Max <= 0 || d < b.Max); i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if b.Rand != nil && d > 1 {
		half := d / 2
		d = half + time.Duration(b.Rand.Int64N(int64(d-half)+1))
	}
	return d
}

func (b *Backoff) logger() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

// errorKind classifies a check failure for Backoff's logging.
func errorKind(err error) string {
	for _, k := range []struct {
		err  error
		kind string
	}{
		{release.ErrUnreachable, "unreachable"},
		// Before access-denied, which it also matches.
		{release.ErrNoCredentials, "no-credentials"},
		{release.ErrAccessDenied, "access-denied"},
		{release.ErrNotFound, "not-found"},
		{release.ErrChecksumMismatch, "checksum-mismatch"},
		{release.ErrNoSpace, "disk-full"},
		{release.ErrNoManifest, "no-manifest"},
		{context.DeadlineExceeded, "timeout"},
	} {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "download-cut"
	}
	var re *release.Error
	if errors.As(err, &re) {
		return "s3-error"
	}
	return "error"
}
