package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// Timings of the refresh loop.
const (
	// rediscoverEvery is how often the channels are looked for again.
	rediscoverEvery = time.Minute
	// historyEvery is how often a channel's history is read again when
	// its current version has not changed.
	historyEvery = time.Minute
	// idleAfter: the loop stops reading S3 when nobody has asked for
	// anything for this long and no event stream is open.
	idleAfter = 30 * time.Second
	// maxSamples bounds the points of a channel's timeline recorded
	// while the dashboard runs.
	maxSamples = 500
)

// pageState is what the page shows besides the channels.
type pageState struct {
	Bucket, Prefix string
	IDs            []string // the channels, in order
	Notes          []string
	Err            string // why the channels could not be listed
	ReadAt         time.Time
	Interval       time.Duration
	gen            uint64 // the generation the list of channels last changed in
}

// channel is what the dashboard knows of one channel: its last summary
// and history as read, and their rendering.
type channel struct {
	id    string
	addr  release.Address
	cache *fleet.StatusCache // the hosts read, for the next refresh

	sum     *fleet.Summary
	json    []byte // sum as pkgdeb status --json writes it
	err     error  // of the last read; sum is then the one before
	history []release.Version
	histErr error
	histFor string // the current VersionID the history was read for
	histAt  time.Time
	samples []sample // OnRelease over time for the current release
	sampled string   // the VersionID samples are of

	html  []byte // the rendered section
	state string // converged, halted, progress, error or "" (not read)
	gen   uint64 // the page generation html last changed in
}

// sample is one reading of a channel: live hosts on the current release
// and live hosts.
type sample struct {
	Time            time.Time
	OnRelease, Live int
}

// channelID names a channel in the page: stable while the dashboard
// runs, whatever the key holds.
func channelID(a release.Address) string {
	sum := sha256.Sum256([]byte(a.String()))
	return "ch-" + hex.EncodeToString(sum[:6])
}

// Run reads the channels until ctx ends: at once, then every Interval
// while someone is looking (a page, JSON request or event stream within
// the last 30 seconds). It returns ctx's error.
func (s *Server) Run(ctx context.Context) error {
	s.wanted.Store(time.Now().UnixNano())
	var found time.Time
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		if s.looked() {
			if time.Since(found) >= rediscoverEvery || len(s.page.IDs) == 0 {
				s.rediscover(ctx)
				found = time.Now()
			}
			s.refreshAll(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// looked reports whether someone looked at the dashboard lately.
func (s *Server) looked() bool {
	return s.streams.Load() > 0 || time.Since(time.Unix(0, s.wanted.Load())) < idleAfter
}

// rediscover finds the channels and updates the page's list of them.
func (s *Server) rediscover(ctx context.Context) {
	d, err := s.discover(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.page
	p.Bucket, p.Prefix, p.Interval, p.Err = s.o.Bucket, s.o.Prefix, s.o.Interval, ""
	if err != nil {
		s.o.Log.Warn("dashboard: list channels", "prefix", "s3://"+s.o.Bucket+"/"+s.o.Prefix, "err", err)
		p.Err = err.Error()
	} else {
		p.IDs, p.Notes = nil, d.notes
		keep := map[string]*channel{}
		for _, a := range d.channels {
			id := channelID(a)
			c := s.channels[id]
			if c == nil {
				c = &channel{id: id, addr: a, cache: fleet.NewStatusCache(s.o.MaxHosts)}
			}
			keep[id] = c
			p.IDs = append(p.IDs, id)
		}
		s.channels = keep
	}
	if !slices.Equal(p.IDs, s.page.IDs) || !slices.Equal(p.Notes, s.page.Notes) || p.Err != s.page.Err {
		p.gen = s.bump()
	}
	s.page = p
}

// bump starts a new generation and wakes the event streams; s.mu is
// held.
func (s *Server) bump() uint64 {
	close(s.changed)
	s.changed = make(chan struct{})
	s.gen++
	return s.gen
}

// refreshAll reads every channel, four at a time.
func (s *Server) refreshAll(ctx context.Context) {
	s.mu.Lock()
	var list []*channel
	for _, id := range s.page.IDs {
		list = append(list, s.channels[id])
	}
	s.mu.Unlock()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, c := range list {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s.refresh(ctx, c)
		})
	}
	wg.Wait()
	s.mu.Lock()
	s.page.ReadAt = time.Now()
	s.mu.Unlock()
}

// refresh reads channel c once: its summary (a channel with more than
// MaxHosts status objects is not read further), and its history when the current version changed or the last
// read is older than historyEvery. Then it renders c again.
func (s *Server) refresh(ctx context.Context, c *channel) {
	s.mu.Lock()
	next := *c
	s.mu.Unlock()
	now := time.Now()
	sum, err := s.readChannel(ctx, c)
	next.err = err
	if err == nil {
		next.sum = sum
		var b bytes.Buffer
		if err := s.writeJSON(&b, sum); err == nil {
			next.json = b.Bytes()
		}
		next.record(now)
		if sum.Current.VersionID != next.histFor || now.Sub(next.histAt) >= historyEvery {
			next.history, next.histErr = s.o.Client.History(ctx, c.addr, s.o.History)
			next.histFor, next.histAt = sum.Current.VersionID, now
		}
	} else if ctx.Err() == nil {
		s.o.Log.Warn("dashboard: read channel", "channel", c.addr.String(), "err", err)
	}
	view := s.channelView(&next, now)
	next.state = view.State
	html, rerr := s.render("channel", view)
	if rerr != nil {
		s.o.Log.Error("dashboard: render channel", "channel", c.addr.String(), "err", rerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(html, c.html) {
		next.html = html
		next.gen = s.bump()
	}
	*c = next
}

// readChannel reads c's summary; a channel with more than MaxHosts
// status objects is an error, found by the time the listing passes them.
func (s *Server) readChannel(ctx context.Context, c *channel) (*fleet.Summary, error) {
	sum, err := s.o.Status(ctx, c.addr, c.cache)
	if errors.Is(err, fleet.ErrTooManyHosts) {
		return nil, fmt.Errorf("more status objects than the %d the dashboard reads per channel: see pkgdeb status", s.o.MaxHosts)
	}
	return sum, err
}

// record adds the channel's summary to its timeline: a new current
// version starts a new one; a reading equal to the last is not kept.
func (c *channel) record(now time.Time) {
	cur := c.sum.Current.VersionID
	if cur != c.sampled {
		c.samples, c.sampled = nil, cur
	}
	on, live := c.sum.Counts.OnCurrent, c.sum.Counts.Live
	if n := len(c.samples); n > 0 && c.samples[n-1].OnRelease == on && c.samples[n-1].Live == live {
		return
	}
	// A copy: the previous generation of c may still be rendering it.
	c.samples = append(slices.Clip(c.samples), sample{Time: now, OnRelease: on, Live: live})
	if len(c.samples) > maxSamples {
		c.samples = c.samples[len(c.samples)-maxSamples:]
	}
}

// writeJSON writes v as the JSON endpoint does.
func (s *Server) writeJSON(w io.Writer, v any) error {
	if s.o.WriteJSON != nil {
		return s.o.WriteJSON(w, v)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
