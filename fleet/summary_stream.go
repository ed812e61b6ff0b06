package fleet

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/debfleet/debfleet/release"
)

// ErrTooManyHosts: a channel has more status objects than
// SummaryOptions.Limit allows.
var ErrTooManyHosts = errors.New("more status objects than allowed")

// SummaryOptions says how StreamSummary reads a channel's status objects
// and what it keeps of them.
type SummaryOptions struct {
	// Stale: a host not heard from for longer than this is listed but
	// does not count (see Summarize).
	Stale time.Duration
	// MaxHosts bounds Summary.Hosts: it keeps the MaxHosts most relevant
	// hosts (see Relevance), sorted by name, and counts the others in
	// HostsOmitted. 0 keeps none.
	MaxHosts int
	// Each, when set, is called with every host as it is read, in
	// listing order (see EachStatus), one call at a time, before the
	// summary is complete: for a table of every host in bounded memory.
	// h is valid only during the call. An error from Each stops the
	// reading and is returned.
	Each func(h *HostSummary) error
	// Limit, when positive, stops the reading with ErrTooManyHosts once
	// the listing passes Limit status objects.
	Limit int
	// Readers is how many status objects are read at once
	// (DefaultReaders when 0).
	Readers int
	// Cache, when set, keeps the status objects read for the next
	// summary of the same channel, which then reads only those that
	// changed (see StatusCache).
	Cache *StatusCache
}

// maxKeptText bounds each text of a host kept in Summary.Hosts by
// StreamSummary (its error, why it waits or is held): a status object
// may hold a megabyte of error, and MaxHosts of them must stay small.
// Each sees the texts in full.
const maxKeptText = 4 << 10

// StreamSummary is Client.Summary for a fleet of any size: it reads the
// current release's rollout records first, then streams the status
// objects (EachStatus) through the counts, the verdict's groups and the
// rollout's progress, and keeps only the hosts o asks for, so its memory
// does not grow with the fleet. Costs as Client.Summary's. Counts,
// Versions, Verdict, Advice and Rollout are those Client.Summary gives;
// Hosts holds at most o.MaxHosts hosts.
func (c *Client) StreamSummary(ctx context.Context, ch release.Address, cur *release.Object, now time.Time, o SummaryOptions) (*Summary, error) {
	s := newSummary(ch, cur, now)
	cr, err := c.currentRollout(ctx, ch, cur, now)
	if err != nil {
		return nil, err
	}
	ro := cr.ro
	k := newKeeper(max(o.MaxHosts, 0))
	t := newTally()
	var progress rolloutProgress
	listed := 0
	err = c.EachStatus(ctx, ch, ReadOptions{Readers: o.Readers, Cache: o.Cache}, func(r *StatusRead) error {
		if listed++; o.Limit > 0 && listed > o.Limit {
			return fmt.Errorf("%s: %w (%d)", ch, ErrTooManyHosts, o.Limit)
		}
		var h HostSummary
		switch {
		case r.Err == nil:
			h = s.hostSummary(r.Status, r.Object.LastModified, now, o.Stale)
		case fatalRead(r.Err):
			return r.Err
		default:
			h = unreadableHost(r.Object.Host, r.Err, r.Object.LastModified, now, o.Stale)
		}
		s.count(t, &h)
		if ro != nil {
			progress.count(ro, &h, now)
		}
		if o.Each != nil {
			if err := o.Each(&h); err != nil {
				return err
			}
		}
		k.offer(h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Hosts, s.HostsOmitted = k.sorted(), s.Counts.Hosts-k.Len()
	s.finish(t, o.Stale)
	if ro != nil {
		s.addRollout(ro, *cr.rec, now, progress)
	}
	if cr.malformed != nil {
		s.Verdict = fmt.Sprintf("the current release's rollout policy is malformed (agents refuse it): %v; %s", cr.malformed, s.Verdict)
	}
	return s, nil
}

// rolloutRead is what a summary shows of the current release's rollout:
// its policy and records (ro nil when there is nothing to show), or why
// its policy is malformed.
type rolloutRead struct {
	ro        *Rollout
	rec       *RolloutRecords
	malformed error
}

// currentRollout reads cur's rollout policy and records.
func (c *Client) currentRollout(ctx context.Context, ch release.Address, cur *release.Object, now time.Time) (rolloutRead, error) {
	if cur.Manifest == nil {
		return rolloutRead{}, nil
	}
	ro, err := RolloutOf(cur.Manifest)
	if err != nil {
		return rolloutRead{malformed: err}, nil
	}
	rec, err := c.readRollout(ctx, ch, ro, now)
	if err != nil || rec == nil {
		return rolloutRead{}, err
	}
	return rolloutRead{ro: ro, rec: rec}, nil
}

// Relevance ranks a host for a summary that cannot list every host, the
// lowest first: 0 for hosts something went wrong on (unreadable, failed,
// rolled back, refused, or behind with an error: a release it could not
// download for lack of room), 1 for hosts on their way or held (installing,
// waiting, halted, gated, held), 2 for live hosts on another version or
// none, 3 for stale hosts, 4 for live hosts on the current release.
func Relevance(h *HostSummary) int {
	switch {
	case h.Stale:
		return 3
	case h.State == StateUnreadable || h.State == StateFailed || h.State == StateRolledBack || h.State == StateRefused,
		h.Error != "" && !h.OnCurrent:
		return 0
	case h.State == StateInstalling || h.State == StateWaiting || h.State == StateHalted || h.State == StateGated || h.State == StateHeld:
		return 1
	case !h.OnCurrent:
		return 2
	}
	return 4
}

// keeper keeps the n most relevant hosts offered, as a heap whose root
// is the least relevant kept.
type keeper struct {
	n     int
	hosts []HostSummary
}

func newKeeper(n int) *keeper { return &keeper{n: n} }

// lessRelevant orders by relevance, then by name: a before b when a is
// the one to drop first.
func lessRelevant(a, b *HostSummary) bool {
	ra, rb := Relevance(a), Relevance(b)
	if ra != rb {
		return ra > rb
	}
	return a.Host > b.Host
}

func (k *keeper) Len() int           { return len(k.hosts) }
func (k *keeper) Less(i, j int) bool { return lessRelevant(&k.hosts[i], &k.hosts[j]) }
func (k *keeper) Swap(i, j int)      { k.hosts[i], k.hosts[j] = k.hosts[j], k.hosts[i] }
func (k *keeper) Push(x any)         { k.hosts = append(k.hosts, x.(HostSummary)) }
func (k *keeper) Pop() any {
	h := k.hosts[len(k.hosts)-1]
	k.hosts = k.hosts[:len(k.hosts)-1]
	return h
}

// offer keeps h if it is among the n most relevant so far, its texts
// clipped to maxKeptText.
func (k *keeper) offer(h HostSummary) {
	switch {
	case k.n == 0:
		return
	case len(k.hosts) < k.n:
		clip(&h.HostStatus)
		heap.Push(k, h)
	case lessRelevant(&k.hosts[0], &h):
		clip(&h.HostStatus)
		k.hosts[0] = h
		heap.Fix(k, 0)
	}
}

// sorted returns the kept hosts sorted by name, never nil.
func (k *keeper) sorted() []HostSummary {
	out := append([]HostSummary{}, k.hosts...)
	slices.SortFunc(out, func(a, b HostSummary) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// clip cuts h's free texts to maxKeptText bytes.
func clip(h *HostStatus) {
	cut := func(s *string) {
		if len(*s) > maxKeptText {
			*s = strings.ToValidUTF8((*s)[:maxKeptText-3], "") + "..."
		}
	}
	cut(&h.Error)
	if h.Hold != nil {
		hold := *h.Hold
		cut(&hold.Reason)
		h.Hold = &hold
	}
	if h.Rollout != nil {
		ro := *h.Rollout
		cut(&ro.Waiting)
		cut(&ro.Halted)
		cut(&ro.Gated)
		cut(&ro.Window)
		h.Rollout = &ro
	}
}
