package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/debfleet/debfleet/release"
)

// DefaultWaitTimeout is how long Watch waits, by default, after the last
// wave of the release began (at once for a release without waves): agents
// check every 10 s by default, a health check takes up to 30 s, and a
// release capped at one host updating at a time reaches some 60 hosts in
// that time; a CI job's own limit is usually an hour.
const DefaultWaitTimeout = 30 * time.Minute

// DefaultWaitInterval is the time between two readings of a rollout: one
// HEAD, one LIST and a GET per host each time.
const DefaultWaitInterval = 2 * time.Second

// pollTimeout bounds one reading (a HEAD, the status objects, the rollout
// records): a timeout may be overrun by this much at most.
const pollTimeout = 30 * time.Second

// Channel reads a channel's current version (one HEAD);
// *release.Client satisfies it.
type Channel interface {
	Head(ctx context.Context, a release.Address, versionID string) (*release.Object, error)
}

// WatchInput says which rollout Watch follows and how.
type WatchInput struct {
	Channel  release.Address
	Releases Channel
	// Target is the release to follow; the zero Target means the
	// channel's current release when Watch starts.
	Target Target
	// Interval is the time between readings; default DefaultWaitInterval.
	Interval time.Duration
	// Stale: a host not heard from for longer is not waited for (see
	// Summarize). Required.
	Stale time.Duration
	// Timeout bounds the wait; 0 means DefaultWaitTimeout after the
	// release's last wave begins (at once without waves), or after its
	// maintenance window next opens, if that is later.
	Timeout time.Duration
	// KeepGoing: a failed host does not end the wait; it ends once every
	// live host runs the release or has failed it.
	KeepGoing bool
	// OnReading, when set, is called with every successful reading (a
	// progress bar redraws itself with it).
	OnReading func(*Progress)
}

// WatchResult is how a Watch ended.
type WatchResult struct {
	Outcome WaitOutcome
	// Last is the last reading (nil when none succeeded).
	Last *Progress
	// Final is the last event, also passed to emit.
	Final WaitEvent
}

// Watch follows the rollout of in.Target on in.Channel, reading it every
// in.Interval, and calls emit for each change (WaitEvents) and once for
// the outcome (FinalEvent), until every live host runs the release, a
// host failed it, it is halted or superseded, or the time is up. A
// reading that fails is reported (EventReadError, once per distinct
// error) and tried again. Each reading after the first GETs only the
// status objects whose ETag changed (see StatusCache). It returns an
// error only when ctx ends or the channel has no release at all.
func (c *Client) Watch(ctx context.Context, in WatchInput, emit func(WaitEvent)) (*WatchResult, error) {
	start := time.Now()
	cur, err := in.Releases.Head(ctx, in.Channel, "")
	if err != nil {
		return nil, fmt.Errorf("follow the rollout on %s: %w", in.Channel, err)
	}
	if in.Target == (Target{}) {
		in.Target = TargetOf(cur)
	}
	if in.Interval <= 0 {
		in.Interval = DefaultWaitInterval
	}
	w := &watch{c: c, in: in, start: start, deadline: deadline(in.Timeout, start, cur), emit: emit, cache: NewStatusCache(maxWatchCached)}
	return w.run(ctx)
}

// deadline is when a wait begun at start on cur ends (see
// WatchInput.Timeout).
func deadline(timeout time.Duration, start time.Time, cur *release.Object) time.Time {
	if timeout > 0 {
		return start.Add(timeout)
	}
	last := start
	if cur.Manifest != nil {
		ro, err := RolloutOf(cur.Manifest)
		if err == nil && ro.Staged() {
			if w := ro.PublishedAt.Add(time.Duration(len(ro.Waves)-1) * ro.WaveInterval); w.After(last) {
				last = w
			}
		}
		if err == nil {
			// Outside its maintenance windows no host moves: count
			// from when one next opens.
			if _, opens := ro.InWindow(last); opens.After(last) {
				last = opens
			}
		}
	}
	return last.Add(DefaultWaitTimeout)
}

// maxWatchCached bounds the hosts a Watch keeps between readings. Each
// reading holds every host anyway (Summary), and the cache shares their
// texts, so it adds a few hundred bytes a host; past this many, hosts are
// read each time.
const maxWatchCached = 100_000

// watch is one Watch in progress.
type watch struct {
	c        *Client
	in       WatchInput
	start    time.Time
	deadline time.Time
	emit     func(WaitEvent)
	last     *Progress
	readErr  error
	// cache keeps the hosts read, so that each reading after the first
	// reads only the hosts that reported since.
	cache *StatusCache
}

func (w *watch) run(ctx context.Context) (*WatchResult, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("follow the rollout on %s: %w", w.in.Channel, ctx.Err())
		case <-t.C:
		}
		if res := w.step(ctx); res != nil {
			w.emit(res.Final)
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("follow the rollout on %s: %w", w.in.Channel, ctx.Err())
		}
		left := time.Until(w.deadline)
		if left <= 0 {
			res := w.end(timeout(w.last), nil)
			w.emit(res.Final)
			return res, nil
		}
		t.Reset(min(w.in.Interval, left))
	}
}

// step takes one reading and returns the result when the wait ends.
func (w *watch) step(ctx context.Context) *WatchResult {
	p, now, err := w.read(ctx)
	if err != nil {
		if ctx.Err() == nil && (w.readErr == nil || errorKind(w.readErr) != errorKind(err)) {
			e := WaitEvent{Event: EventReadError, Time: time.Now().UTC(), Channel: w.in.Channel.String(), Reason: err.Error(),
				Elapsed: time.Since(w.start).Round(time.Second).Seconds()}
			w.emit(e)
		}
		w.readErr = err
		return nil
	}
	w.readErr = nil
	if w.in.OnReading != nil {
		w.in.OnReading(p)
	}
	for _, e := range WaitEvents(w.last, p, w.start) {
		w.emit(e)
	}
	w.last = p
	if now != nil {
		r := WaitRelease{VersionID: now.VersionID}
		if m := now.Manifest; m != nil {
			r.Package, r.Version, r.SHA256 = m.Package, m.Version, m.SHA256
		}
		return w.end(Superseded, &r)
	}
	if o := p.Outcome(w.in.KeepGoing); o != "" {
		return w.end(o, nil)
	}
	return nil
}

// errorKind classifies a failed reading, so that one failing again the
// same way (its text differs by request IDs) is reported once: the
// operation and kind of a release.Error, else the text.
func errorKind(err error) string {
	var re *release.Error
	if errors.As(err, &re) {
		return fmt.Sprintf("%s %s %v %s", re.Op, re.Target, re.Kind, re.Detail)
	}
	return err.Error()
}

// read takes one reading, bounded by pollTimeout. When the channel's
// current release is no longer the target, it also returns the current
// version as now (and the last reading again, if there is one).
func (w *watch) read(ctx context.Context) (p *Progress, now *release.Object, err error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	cur, err := w.in.Releases.Head(ctx, w.in.Channel, "")
	if err != nil {
		return nil, nil, err
	}
	obj := cur
	if !w.in.Target.Is(cur) {
		if w.last != nil {
			return w.last, cur, nil
		}
		// Superseded before the first reading: read the target itself,
		// so that the events say what it was.
		if obj, err = w.in.Releases.Head(ctx, w.in.Channel, w.in.Target.VersionID); err != nil {
			return nil, nil, fmt.Errorf("read the release followed (VersionId %s): %w", w.in.Target.VersionID, err)
		}
		now = cur
	}
	s, err := w.c.summary(ctx, w.in.Channel, obj, time.Now(), w.in.Stale, w.cache)
	if err != nil {
		return nil, nil, err
	}
	return w.in.Target.Progress(s), now, nil
}

// end makes the result and final event of outcome.
func (w *watch) end(outcome WaitOutcome, now *WaitRelease) *WatchResult {
	e := FinalEvent(outcome, w.last, w.start, w.in.Channel.String(), now, w.readErr)
	return &WatchResult{Outcome: outcome, Last: w.last, Final: e}
}
