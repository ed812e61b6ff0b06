package fleet

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/release"
)

// StatusAddress is where the agent on host reports about channel:
// "<key>.status/<host>.json" next to the release. The host name is
// cleaned so that it cannot climb out of the status prefix ("../x" gives
// "x"); ListStatus ignores names that still contain a slash.
func StatusAddress(channel release.Address, host string) release.Address {
	return release.Address{Bucket: channel.Bucket, Key: channel.Key + ".status/" + path.Clean("/" + host)[1:] + ".json"}
}

// Host states, the values of HostStatus.State.
const (
	// StateNone: the agent has not installed any release yet.
	StateNone = "none"
	// StateOK: the installed release passed its health check.
	StateOK = "ok"
	// StateInstalling: a release (Target) is being installed right now.
	StateInstalling = "installing"
	// StateFailed: installing Target failed and there was nothing to roll
	// back to, or the rollback failed too.
	StateFailed = "failed"
	// StateRolledBack: Target failed (dpkg or health) and the host went
	// back to the release it ran before, which it is running now.
	StateRolledBack = "rolled-back"
	// StateRefused: the channel's release (Target) failed verification
	// (signature, checksum, package name, architecture, replay); the host
	// keeps running its installed release.
	StateRefused = "refused"
	// StateWaiting: the channel's release (Target) is staged and does not
	// reach this host yet (its wave has not come, or every update slot
	// is taken); the host keeps running its installed release.
	// Rollout.Waiting says why.
	StateWaiting = "waiting"
	// StateHalted: the channel's release (Target) is halted (pkgdeb halt,
	// or too many hosts failed it); the host keeps running its installed
	// release. Rollout.Halted says why.
	StateHalted = "halted"
	// StateHeld: the service on the host asked not to be updated now
	// (the agent's hold file or hold URL); the host keeps running its
	// installed release until the service lifts the hold or the agent's
	// max-hold runs out. Hold says why and since when.
	StateHeld = "held"
	// StateGated: the channel's release (Target) is in a wave after its
	// first and its rollout gate (an HTTP URL, a CloudWatch alarm) fails
	// or cannot be read; the host keeps running its installed release.
	// Rollout.Gated says why.
	StateGated = "gated"
)

// StateLabel is h's state as people read it: the state, with a wait
// for a maintenance window told apart as "waiting (window)".
func (h *HostStatus) StateLabel() string {
	if h.State == StateWaiting && h.Rollout != nil && h.Rollout.Window != "" {
		return StateWaiting + " (window)"
	}
	return h.State
}

// Reason is why h is not on its target in one line: its error, or why it
// waits, is halted, gated or held ("" when none of these).
func (h *HostStatus) Reason() string {
	switch {
	case h.Error != "":
		return h.Error
	case h.Rollout.Reason() != "":
		return h.Rollout.Reason()
	case h.Hold != nil:
		return h.Hold.Describe()
	}
	return ""
}

// HostStatus is the small JSON document an agent writes next to the
// release, at StatusAddress(channel, Host), on every state change and as a
// heartbeat (every 10 minutes by default). The agent writes it and
// `pkgdeb status` reads it; the JSON field names are a stable interface:
//
//	{
//	  "host": "i-0abc123",            // the agent's --host
//	  "package": "hello",             // the package the agent follows
//	  "version": "1.1.0",             // installed and healthy ("" before the first)
//	  "sha256": "9f86d0...",          // of the installed .deb
//	  "version_id": "3HL4kqtJ...",    // S3 VersionId it came from
//	  "state": "ok",                  // none|ok|installing|failed|rolled-back|refused|waiting|halted|held|gated
//	  "target": {"version": "1.2.0", "sha256": "...", "version_id": "..."},
//	  "error": "health check ...",    // why the last change failed (ok/none: why target cannot be downloaded)
//	  "rollout": {"wave": 1, "waves": 3, "percent": 10, "place": 37.2,
//	              "covered_at": "...", "waiting": "...", "halted": "...",
//	              "window": "Mon-Fri 09:00-17:00 Europe/London",
//	              "window_opens": "2026-12-07T09:00:00Z",
//	              "gated": "alarm \"api-5xx\" is in ALARM"},
//	  "hold": {"reason": "draining 3 jobs", "since": "...", "until": "...",
//	           "expired": false},   // held: why the service holds the update
//	  "since": "2026-11-22T00:10:00Z",// when state was entered
//	  "time": "2026-11-22T00:20:00Z"  // when written; heartbeats move only this
//	}
type HostStatus struct {
	Host    string `json:"host"`
	Package string `json:"package"`
	// Version, SHA256 and VersionID describe the release installed and
	// proved healthy on the host ("" before the first one).
	Version   string `json:"version,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	// ETag is the installed version's ETag: it tells a plain upload
	// (no manifest, so no SHA-256 before download) of the same bytes as
	// the installed ones.
	ETag string `json:"etag,omitempty"`
	// State is one of the State constants.
	State string `json:"state"`
	// Target is the release the last change was about (the one installing,
	// failed, rolled back or refused, or, with State ok or none and Error
	// set, the one the host found no room to download), when it is not the
	// installed one.
	Target *HostRelease `json:"target,omitempty"`
	// Error says why the last change failed; with State ok or none, why
	// the host cannot download Target (no room in its state directory).
	Error string `json:"error,omitempty"`
	// Refusal classifies why a refused target was refused, so that a
	// reader can say what to do about it: one of the Refused* codes, or
	// "" for any other reason.
	Refusal string `json:"refusal,omitempty"`
	// Rollout is where the host stands in Target's staged rollout, set
	// in the waiting, halted and gated states.
	Rollout *HostRollout `json:"rollout,omitempty"`
	// Hold is the service's hold on updating it to Target: set in the
	// held state, and, when max-hold ran out, in the states of the
	// install that went ahead anyway (Expired).
	Hold *HostHold `json:"hold,omitempty"`
	// Config is the config release the host's service runs with, when
	// its agent also follows a config channel (autoupdate
	// --config-source), in a package channel's status object: as of
	// this object's Time. The config channel's own status objects (at
	// its status address) are the config's full record.
	Config *HostRelease `json:"config,omitempty"`
	// Since is when State was entered; Time is when this object was
	// written.
	Since time.Time `json:"since"`
	Time  time.Time `json:"time"`
}

// HostRollout is a host's place in the staged rollout of a release (see
// Rollout), in its status object.
type HostRollout struct {
	// Wave is the wave in force (counted from 1) of Waves; Percent is the
	// share of the fleet it covers.
	Wave    int     `json:"wave"`
	Waves   int     `json:"waves"`
	Percent float64 `json:"percent"`
	// Place is the host's place in the rollout, in percent: a wave
	// covers the host once its Percent exceeds Place.
	Place float64 `json:"place"`
	// CoveredAt is when a wave first covers the host.
	CoveredAt time.Time `json:"covered_at,omitzero"`
	// Waiting says why the host does not adopt the release yet; Halted
	// why the release is halted.
	Waiting string `json:"waiting,omitempty"`
	Halted  string `json:"halted,omitempty"`
	// Window is set when the host waits for a maintenance window: the
	// policy's windows (FormatWindows), and WindowOpens when one next
	// opens.
	Window      string    `json:"window,omitempty"`
	WindowOpens time.Time `json:"window_opens,omitzero"`
	// Gated says why the release's gate holds the host: the gate's
	// answer, with a URL shown as scheme://host/path only.
	Gated string `json:"gated,omitempty"`
}

// Reason is why the host holds the release: Waiting, Halted or Gated,
// whichever is set.
func (hr *HostRollout) Reason() string {
	if hr == nil {
		return ""
	}
	return hr.Waiting + hr.Halted + hr.Gated
}

// HostHold is a service's hold on its update, in its host's status
// object. Reason is the service's own text (its hold file's first line
// or its hold URL's answer), at most MaxHoldReason bytes of printable
// characters: whoever runs the service wrote it.
type HostHold struct {
	Reason string `json:"reason"`
	// Since is when the agent first found the hold for this release;
	// Until is when its max-hold runs out and it updates anyway.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Expired: max-hold ran out and the host went ahead with the hold
	// still in place.
	Expired bool `json:"expired,omitempty"`
}

// MaxHoldReason bounds a HostHold's Reason, in bytes.
const MaxHoldReason = 200

// Describe says h in one line: "held by the service: REASON (until T)",
// or that the hold expired.
func (h *HostHold) Describe() string {
	if h.Expired {
		return fmt.Sprintf("held by the service since %s (%s); max-hold ran out at %s, updated anyway",
			h.Since.UTC().Format(time.RFC3339), h.Reason, h.Until.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("held by the service: %s (until %s at most)", h.Reason, h.Until.UTC().Format(time.RFC3339))
}

// Refusal codes (HostStatus.Refusal).
const (
	// RefusedReplay: a signed release older than the host's, or than the
	// channel's previous version, was put back as current without
	// re-signing (an S3 console restore, a copy).
	RefusedReplay = "replay"
	// RefusedUnsigned: the host requires signatures and the release has
	// none (published unsigned, or a plain upload).
	RefusedUnsigned = "unsigned"
	// RefusedUntrusted: the signature is by an unknown key, is bad, or is
	// for another channel.
	RefusedUntrusted = "untrusted"
)

// HostRelease names a release in a HostStatus.
type HostRelease struct {
	Version   string `json:"version"`
	SHA256    string `json:"sha256"`
	VersionID string `json:"version_id,omitempty"`
}

// PutStatus writes st as st.Host's status object for channel (see
// HostStatus): one PutObject, the last writer wins.
func (c *Client) PutStatus(ctx context.Context, channel release.Address, st *HostStatus) error {
	if st.Host == "" {
		return fmt.Errorf("put status for %s: no host name", channel)
	}
	_, err := c.store.Put(ctx, StatusAddress(channel, st.Host), st)
	return err
}

// ReadHostStatus reads host's status object for channel (one GET); a
// host that has not reported gives release.ErrNotFound.
func (c *Client) ReadHostStatus(ctx context.Context, channel release.Address, host string) (*HostStatus, error) {
	var st HostStatus
	if _, err := c.store.Get(ctx, StatusAddress(channel, host), maxStatusSize, &st); err != nil {
		return nil, fmt.Errorf("read status of %s: %w", host, err)
	}
	return &st, nil
}

// FleetStatus is every status object of a channel, read by ReadStatus.
type FleetStatus struct {
	// Hosts are the readable status objects, sorted by host name.
	Hosts []HostStatus
	// Modified is each listed host's object's LastModified, the server's
	// clock (HostStatus.Time is the host's), unreadable ones included.
	Modified map[string]time.Time
	// Unreadable maps a host to why its object could not be read or
	// parsed (deleted between list and get, not JSON, too large).
	Unreadable map[string]error
}

// ReadStatus lists channel's status objects and reads each of them (see
// EachStatus for the costs), and keeps them all: for callers that need
// every host at once (pkgdeb wait, tests); StreamSummary summarises a
// fleet of any size in bounded memory. A broken object is reported in
// Unreadable rather than failing the whole read; failures to list, and
// release.ErrAccessDenied or release.ErrUnreachable on any GET, are
// returned.
func (c *Client) ReadStatus(ctx context.Context, channel release.Address) (*FleetStatus, error) {
	return c.readStatus(ctx, channel, nil)
}

// readStatus is ReadStatus through cache (none when nil).
func (c *Client) readStatus(ctx context.Context, channel release.Address, cache *StatusCache) (*FleetStatus, error) {
	fs := &FleetStatus{Hosts: []HostStatus{}, Modified: map[string]time.Time{}, Unreadable: map[string]error{}}
	err := c.EachStatus(ctx, channel, ReadOptions{Cache: cache}, func(r *StatusRead) error {
		fs.Modified[r.Object.Host] = r.Object.LastModified
		switch {
		case r.Err == nil:
			fs.Hosts = append(fs.Hosts, r.Status)
		case fatalRead(r.Err):
			return r.Err
		default:
			fs.Unreadable[r.Object.Host] = r.Err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(fs.Hosts, func(a, b HostStatus) int { return strings.Compare(a.Host, b.Host) })
	return fs, nil
}

// fatalRead reports whether err, from reading one status object, should
// end the whole reading: the caller may not read the channel's records,
// or S3 cannot be reached; anything else is that one object's problem.
func fatalRead(err error) bool {
	return errors.Is(err, release.ErrAccessDenied) || errors.Is(err, release.ErrUnreachable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// StatusObject is one agent's report found by ListStatus.
type StatusObject struct {
	Addr         release.Address
	Host         string
	LastModified time.Time
	Size         int64
	// ETag is the one the listing gave.
	ETag string
}

// ListStatus lists the status objects of channel's agents (see
// StatusAddress), one ListObjectsV2 request per 1000 hosts, sorted by
// host name.
func (c *Client) ListStatus(ctx context.Context, channel release.Address) ([]StatusObject, error) {
	list, err := c.store.List(ctx, channel.Bucket, channel.Key+".status/", ".json")
	if err != nil {
		return nil, fmt.Errorf("list status of %s: %w", channel, err)
	}
	out := make([]StatusObject, len(list))
	for i, o := range list {
		out[i] = StatusObject{Addr: o.Addr, Host: o.Name, LastModified: o.LastModified, Size: o.Size, ETag: o.ETag}
	}
	return out, nil
}

// Describe renders fs on one line (host=version/state, the target and
// error of a change), for error messages and logs; "none" for nil.
func (fs *FleetStatus) Describe() string {
	if fs == nil {
		return "none"
	}
	var parts []string
	for _, st := range fs.Hosts {
		s := fmt.Sprintf("%s=%s/%s", st.Host, st.Version, st.State)
		if st.Target != nil {
			s += "(target " + st.Target.Version + ")"
		}
		if st.Error != "" {
			s += ": " + st.Error
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// DefaultReaders is how many status objects EachStatus reads at once
// unless told otherwise: enough GETs in flight to read 100,000 objects
// from S3 (~20 ms a GET) in half a minute, far below S3's 5,500 GETs a
// second per prefix.
const DefaultReaders = 64

// bigStatus is the size from which a status object counts as big: at
// most bigReaders of them are read at once, so that objects near
// maxStatusSize (a mistake or an attack) cannot make readers hold
// readers × maxStatusSize bytes.
const (
	bigStatus  = 64 << 10
	bigReaders = 4
)

// StatusRead is one status object as EachStatus read it.
type StatusRead struct {
	Object StatusObject
	// Status is the object's document, its Host set to the name the key
	// gives (a document claiming another name would let one host hide
	// another); valid when Err is nil.
	Status HostStatus
	// Err says why the object could not be read or parsed (deleted
	// between list and get, not JSON, too large, access denied).
	Err error
}

// PageLister is a Store that also lists one page at a time, so that a
// listing of any length is not held at once; *release.Records is one.
// ListPages calls fn with each page of what List lists, in key order,
// and returns fn's first error as it is.
type PageLister interface {
	ListPages(ctx context.Context, bucket, prefix, suffix string, fn func([]release.RecordInfo) error) error
}

// ReadOptions says how EachStatus reads status objects.
type ReadOptions struct {
	// Readers is how many objects are read at once (DefaultReaders
	// when <= 0).
	Readers int
	// Cache, when set, holds the objects read for the next reading of
	// the same channel: an object whose listed ETag it holds is not read
	// again (see StatusCache).
	Cache *StatusCache
}

// EachStatus lists channel's status objects and reads them, o.Readers at
// a time, calling fn with each, one call at a time, in the order S3 lists
// them (by key: by host name, except that "a-b" comes before "a").
// Costs: one LIST per 1000 hosts and one GET per host not in o.Cache at
// its listed ETag; the LISTs run while the GETs do. It holds one listing
// page and at most 2 × readers objects at once, whatever the fleet's
// size (with a Store that is not a PageLister, the whole listing). A
// broken object is a StatusRead with Err, not an error; fn decides. An
// error from fn, or from listing, stops the reading and is returned.
func (c *Client) EachStatus(ctx context.Context, channel release.Address, o ReadOptions, fn func(*StatusRead) error) error {
	readers := o.Readers
	if readers <= 0 {
		readers = DefaultReaders
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &statusPipe{c: c, in: make(chan *statusJob, readers), out: make(chan *statusJob, readers),
		window: make(chan struct{}, 2*readers), big: make(chan struct{}, bigReaders),
		cache: o.Cache, reading: o.Cache.begin()}
	listed := make(chan error, 1)
	go func() {
		defer close(p.in)
		listed <- p.list(ctx, channel)
	}()
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() { p.read(ctx) })
	}
	go func() {
		wg.Wait()
		close(p.out)
	}()
	err := p.emit(fn)
	cancel()
	for range p.out { // let the readers finish
	}
	if err != nil {
		return err
	}
	if err := <-listed; err != nil {
		return fmt.Errorf("list status of %s: %w", channel, err)
	}
	if err := parent.Err(); err != nil {
		return err
	}
	p.cache.sweep(p.reading)
	return nil
}

// statusJob is one object on its way through EachStatus: listed as
// number seq, then read.
type statusJob struct {
	seq int
	r   StatusRead
}

// statusPipe is one EachStatus: the lister feeds in, the readers turn
// in into out, emit puts out back in listing order. window holds a
// token for every object listed and not yet emitted, so the reordering
// holds at most its capacity.
type statusPipe struct {
	c           *Client
	in, out     chan *statusJob
	window, big chan struct{}
	cache       *StatusCache
	reading     uint64 // this reading's number in cache
}

// list lists the status objects into p.in, each once a window token is
// free.
func (p *statusPipe) list(ctx context.Context, channel release.Address) error {
	seq := 0
	page := func(list []release.RecordInfo) error {
		for _, o := range list {
			select {
			case p.window <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			p.in <- &statusJob{seq: seq, r: StatusRead{Object: StatusObject{Addr: o.Addr, Host: o.Name, LastModified: o.LastModified, Size: o.Size, ETag: o.ETag}}}
			seq++
		}
		return nil
	}
	prefix := channel.Key + ".status/"
	pl, ok := p.c.store.(PageLister)
	if !ok {
		list, err := p.c.store.List(ctx, channel.Bucket, prefix, ".json")
		if err != nil {
			return err
		}
		return page(list)
	}
	// The next page is listed while this one's objects are read: a LIST
	// takes as long as many GETs, and each page would otherwise leave the
	// readers idle. At most three pages are held (read, waiting, listed).
	pages := make(chan []release.RecordInfo, 1)
	listed := make(chan error, 1)
	go func() {
		defer close(pages)
		listed <- pl.ListPages(ctx, channel.Bucket, prefix, ".json", func(list []release.RecordInfo) error {
			select {
			case pages <- list:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	for list := range pages {
		if err := page(list); err != nil {
			return err
		}
	}
	return <-listed
}

// read reads the objects of p.in into p.out until p.in closes.
func (p *statusPipe) read(ctx context.Context) {
	for j := range p.in {
		j.r.Err = p.get(ctx, &j.r)
		p.out <- j
	}
}

// get reads r's object into r.Status, from p.cache when it holds the
// listed ETag, a big one only with a p.big token.
func (p *statusPipe) get(ctx context.Context, r *StatusRead) error {
	key := r.Object.Addr.Key
	if p.cache.lookup(p.reading, key, r.Object.ETag, &r.Status) {
		return nil
	}
	if r.Object.Size > bigStatus {
		select {
		case p.big <- struct{}{}:
			defer func() { <-p.big }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	info, err := p.c.store.Get(ctx, r.Object.Addr, maxStatusSize, &r.Status)
	r.Status.Host = r.Object.Host
	if err != nil {
		p.cache.forget(key)
		return err
	}
	p.cache.store(p.reading, key, info.ETag, r.Status)
	return nil
}

// emit calls fn with the objects of p.out in listing order, freeing a
// window token for each; it stops at fn's first error.
func (p *statusPipe) emit(fn func(*StatusRead) error) error {
	pending := map[int]*statusJob{}
	next := 0
	for j := range p.out {
		pending[j.seq] = j
		for {
			j, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-p.window
			if err := fn(&j.r); err != nil {
				return err
			}
		}
	}
	return nil
}
