package fleet

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Wait event kinds (WaitEvent.Event).
const (
	// EventStarted: the first reading of the rollout.
	EventStarted = "started"
	// EventHost: a live host's state or version changed, or it became
	// stale (or live again).
	EventHost = "host"
	// EventWave: the staged rollout's next wave began.
	EventWave = "wave"
	// EventHostFailed: a live host failed, rolled back or refused the
	// release (Host.State says which).
	EventHostFailed = "host-failed"
	// EventReadError: reading the channel or the status objects failed
	// (the wait goes on); Reason says why.
	EventReadError = "read-error"
)

// The last event of a wait is its WaitOutcome: "deployed" is reported as
// EventCompleted, the others under their own names.
const (
	EventCompleted  = "completed"
	EventFailed     = string(Failed)
	EventHalted     = string(HaltedOutcome)
	EventSuperseded = string(Superseded)
	EventTimedOut   = string(TimedOut)
	EventGated      = string(GatedOutcome)
)

// WaitEvent is one change in a rollout a wait follows: what `pkgdeb wait
// --json` prints, one object per line, and the body of its notifications.
// The JSON field names are a stable interface. No field is named
// "channel", "username", "type" or "props": Slack and Mattermost webhooks
// act on those.
type WaitEvent struct {
	Event   string      `json:"event"`
	Time    time.Time   `json:"time"`
	Channel string      `json:"release_channel"`
	Release WaitRelease `json:"release"`
	// OnRelease, Live, Stale and Failed count hosts as Summary does:
	// live ones on the release, live ones, stale ones, and live ones
	// that failed, rolled back or refused it.
	OnRelease int `json:"on_release"`
	Live      int `json:"live"`
	Stale     int `json:"stale"`
	Failed    int `json:"failed"`
	// Wave (from 1) of Waves, covering Percent of the fleet; zero for a
	// release without a rollout policy.
	Wave    int     `json:"wave,omitempty"`
	Waves   int     `json:"waves,omitempty"`
	Percent float64 `json:"percent,omitempty"`
	// Elapsed is the time since the wait began, in seconds.
	Elapsed float64 `json:"elapsed_seconds"`
	// Host is the host a host or host-failed event is about.
	Host *WaitHost `json:"host,omitempty"`
	// Hosts are, for failed and halted, the hosts that failed; for
	// timed-out, the live hosts not on the release (failed ones first);
	// for completed, the stale hosts not waited for.
	Hosts []WaitHost `json:"hosts,omitempty"`
	// Reason is the halt's reason (halted), the release now current
	// (superseded), or the read error (read-error, and timed-out when
	// reads failed).
	Reason string `json:"reason,omitempty"`
	// Text says it in one line, for people (and chat webhooks). The
	// caller sets it from Describe, quoting as its output needs.
	Text string `json:"text"`
}

// WaitRelease is the release a wait follows.
type WaitRelease struct {
	VersionID string `json:"version_id"`
	Package   string `json:"package,omitempty"`
	Version   string `json:"version,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}

// WaitHost is a host in a WaitEvent, as its status object says
// (Previous: the state it left, for host events).
type WaitHost struct {
	Host    string `json:"host"`
	State   string `json:"state"`
	Version string `json:"version,omitempty"`
	// Target is the version the host's last change was about
	// (installing, failed, rolled back, refused, waiting, halted).
	Target   string `json:"target,omitempty"`
	Error    string `json:"error,omitempty"`
	Previous string `json:"previous_state,omitempty"`
	Stale    bool   `json:"stale,omitempty"`
	// Reason is why a waiting, halted or held host, or an idle one with
	// an error (no room for the release), is not on the release; Window
	// marks a wait for a maintenance window.
	Reason string `json:"reason,omitempty"`
	Window bool   `json:"window,omitempty"`
}

func waitHost(h HostSummary) WaitHost {
	w := WaitHost{Host: h.Host, State: h.State, Version: h.Version, Error: h.Error, Stale: h.Stale}
	if h.Target != nil {
		w.Target = h.Target.Version
	}
	switch h.State {
	case StateWaiting, StateHalted, StateHeld:
		w.Reason = h.Reason()
		w.Window = h.StateLabel() != h.State
	case StateOK, StateNone:
		w.Reason = h.Error // a release it found no room for
	}
	return w
}

// label is the host's state as people read it (see HostStatus.StateLabel).
func (h *WaitHost) label() string {
	if h.Window {
		return h.State + " (window)"
	}
	return h.State
}

func waitHosts(hs []HostSummary) []WaitHost {
	var out []WaitHost
	for _, h := range hs {
		out = append(out, waitHost(h))
	}
	return out
}

// event returns an event of kind about p at now, for a wait begun at start.
func (p *Progress) event(kind string, start time.Time) WaitEvent {
	s := p.Summary
	cur := s.Current
	e := WaitEvent{Event: kind, Time: p.Time, Channel: s.Channel,
		Release:   WaitRelease{VersionID: cur.VersionID, Package: cur.Package, Version: cur.Version, SHA256: cur.SHA256},
		OnRelease: s.Counts.OnCurrent, Live: s.Counts.Live, Stale: s.Counts.Stale, Failed: len(p.Failed),
		Elapsed: p.Time.Sub(start).Round(time.Second).Seconds()}
	if ro := s.Rollout; ro != nil {
		e.Wave, e.Waves, e.Percent = ro.Wave, ro.Of, ro.Percent
	}
	return e
}

// WaitEvents returns the events from prev (nil at the first reading) to
// cur, for a wait begun at start: started first, then a wave that began,
// then each host that changed, by name.
func WaitEvents(prev, cur *Progress, start time.Time) []WaitEvent {
	if prev == nil {
		return []WaitEvent{cur.event(EventStarted, start)}
	}
	var out []WaitEvent
	// A release without a policy gets a rollout summary once a host
	// failed it: that is no wave.
	if was, is := prev.Summary.Rollout, cur.Summary.Rollout; was != nil && is != nil && was.Wave != is.Wave {
		out = append(out, cur.event(EventWave, start))
	}
	before := map[string]HostSummary{}
	for _, h := range prev.Summary.Hosts {
		before[h.Host] = h
	}
	failed := map[string]bool{}
	for _, h := range cur.Failed {
		failed[h.Host] = true
	}
	for _, h := range cur.Summary.Hosts {
		old, seen := before[h.Host]
		if seen && old.StateLabel() == h.StateLabel() && old.Version == h.Version && old.SHA256 == h.SHA256 && old.Stale == h.Stale && old.Error == h.Error {
			continue
		}
		kind := EventHost
		if failed[h.Host] {
			kind = EventHostFailed
		}
		e := cur.event(kind, start)
		wh := waitHost(h)
		if seen {
			wh.Previous = old.State
		}
		e.Host = &wh
		out = append(out, e)
	}
	return out
}

// FinalEvent is the last event of a wait that ended with outcome at p.
// For Superseded, now is the channel's current release; for TimedOut,
// readErr is the last read error, if any, and p may be nil when no
// reading succeeded (then channel names the channel).
func FinalEvent(outcome WaitOutcome, p *Progress, start time.Time, channel string, now *WaitRelease, readErr error) WaitEvent {
	if p == nil {
		e := WaitEvent{Event: string(outcome), Time: time.Now().UTC(), Channel: channel, Elapsed: time.Since(start).Round(time.Second).Seconds()}
		if readErr != nil {
			e.Reason = readErr.Error()
		}
		return e
	}
	kind := string(outcome)
	if outcome == Deployed {
		kind = EventCompleted
	}
	e := p.event(kind, start)
	switch outcome {
	case Deployed:
		for _, h := range p.Summary.Hosts {
			if h.Stale {
				e.Hosts = append(e.Hosts, waitHost(h))
			}
		}
	case Failed:
		e.Hosts = waitHosts(p.Failed)
	case HaltedOutcome:
		e.Hosts, e.Reason = waitHosts(p.Failed), p.Summary.Rollout.HaltReason
	case GatedOutcome:
		gated := p.Gated()
		e.Hosts, e.Reason = waitHosts(gated), gated[0].Rollout.Reason()
	case TimedOut:
		e.Hosts = waitHosts(append(slices.Clone(p.Failed), p.Behind...))
		if readErr != nil {
			e.Reason = readErr.Error()
		}
	case Superseded:
		if now != nil {
			e.Reason = fmt.Sprintf("%s %s (VersionId %s, sha256 %.12s)", now.Package, now.Version, now.VersionID, now.SHA256)
		}
	}
	return e
}

// Describe says e in one line, with quote applied to every string that
// someone else wrote (host names, states, versions, errors, reasons, the
// release's name).
func (e WaitEvent) Describe(quote func(string) string) string {
	rel := e.releaseName(quote)
	progress := fmt.Sprintf("%d/%d live hosts on it", e.OnRelease, e.Live)
	switch e.Event {
	case EventStarted:
		s := fmt.Sprintf("following the rollout of %s on %s: %s", rel, quote(e.Channel), progress)
		if e.Waves > 1 {
			s += "; " + e.wave()
		}
		if e.Stale > 0 {
			s += fmt.Sprintf("; %d stale (not waited for)", e.Stale)
		}
		return s
	case EventWave:
		return fmt.Sprintf("%s began for %s: %s", e.wave(), rel, progress)
	case EventHost, EventHostFailed:
		return e.describeHost(quote, rel, progress)
	case EventReadError:
		return "reading the rollout failed (trying again): " + quote(e.Reason)
	case EventCompleted:
		s := fmt.Sprintf("%s deployed on %s: %d/%d live hosts in %s", rel, quote(e.Channel), e.OnRelease, e.Live, e.elapsed())
		if len(e.Hosts) > 0 {
			s += fmt.Sprintf("; %d stale, not waited for: %s", len(e.Hosts), hostList(e.Hosts, quote, false))
		}
		return s
	case EventFailed:
		return fmt.Sprintf("%s FAILED on %s: %d hosts failed it: %s; %s", rel, quote(e.Channel), len(e.Hosts), hostList(e.Hosts, quote, true), progress)
	case EventHalted:
		s := fmt.Sprintf("%s HALTED on %s: %s; %s", rel, quote(e.Channel), quote(e.Reason), progress)
		if len(e.Hosts) > 0 {
			s += "; failed: " + hostList(e.Hosts, quote, true)
		}
		return s
	case EventSuperseded:
		return fmt.Sprintf("%s SUPERSEDED on %s: the channel's release is now %s", rel, quote(e.Channel), quote(e.Reason))
	case EventTimedOut:
		return e.describeTimeout(quote, rel, progress)
	case EventGated:
		return fmt.Sprintf("%s GATED on %s: the time ran out with %d hosts held by its rollout gate (%s): %s; %s",
			rel, quote(e.Channel), len(e.Hosts), hostList(e.Hosts, quote, false), quote(e.Reason), progress)
	}
	return e.Event
}

func (e WaitEvent) releaseName(quote func(string) string) string {
	r := e.Release
	switch {
	case r.Version != "":
		return fmt.Sprintf("%s %s", quote(cmp.Or(r.Package, "?")), quote(r.Version))
	case r.VersionID != "":
		return "VersionId " + quote(r.VersionID)
	}
	return "the release"
}

func (e WaitEvent) wave() string {
	return fmt.Sprintf("wave %d/%d (%s%%)", e.Wave, e.Waves, strconv.FormatFloat(e.Percent, 'f', -1, 64))
}

func (e WaitEvent) elapsed() string {
	return (time.Duration(e.Elapsed) * time.Second).String()
}

func (e WaitEvent) describeHost(quote func(string) string, rel, progress string) string {
	h := e.Host
	if h == nil {
		return e.Event
	}
	if e.Event == EventHostFailed {
		return fmt.Sprintf("%s %s %s: %s; %s", quote(h.Host), quote(h.State), rel, quote(h.Error), progress)
	}
	s := quote(h.Host) + " "
	if h.Previous != "" && h.Previous != h.State {
		s += quote(h.Previous) + " -> "
	}
	s += quote(h.label())
	switch {
	case h.Target != "" && h.State != StateOK && h.Version != "":
		s += " " + quote(h.Target) + " (runs " + quote(h.Version) + ")"
	case h.Target != "" && h.State != StateOK:
		s += " " + quote(h.Target)
	case h.Version != "":
		s += " " + quote(h.Version)
	}
	if h.Reason != "" {
		s += ": " + quote(OneLine(h.Reason, 200))
	}
	if h.Stale {
		s += " (stale: not counted)"
	}
	return s + "; " + progress
}

func (e WaitEvent) describeTimeout(quote func(string) string, rel, progress string) string {
	if e.Live == 0 && e.Release.VersionID == "" {
		return fmt.Sprintf("timed out after %s waiting on %s: no reading succeeded: %s", e.elapsed(), quote(e.Channel), quote(e.Reason))
	}
	s := fmt.Sprintf("timed out after %s waiting for %s on %s: %s", e.elapsed(), rel, quote(e.Channel), progress)
	if len(e.Hosts) > 0 {
		s += fmt.Sprintf("; %d behind: %s", len(e.Hosts), hostList(e.Hosts, quote, true))
	}
	if e.Live == 0 {
		s += "; no live host has reported"
	}
	return s
}

// maxListed bounds the hosts a text names: a line for people (and a chat
// message) with thousands of names helps no one; the JSON has them all.
const maxListed = 20

// hostList names hosts, with their state, version and error when full;
// past maxListed, it says how many more.
func hostList(hs []WaitHost, quote func(string) string, full bool) string {
	var parts []string
	more := len(hs) - maxListed
	if more > 0 {
		hs = hs[:maxListed]
	}
	for _, h := range hs {
		s := quote(h.Host)
		if full {
			s += " (" + quote(h.State)
			if h.Version != "" {
				s += " " + quote(h.Version)
			}
			if h.Error != "" {
				s += ": " + quote(OneLine(h.Error, 200))
			}
			s += ")"
		}
		parts = append(parts, s)
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(parts, ", ")
}
