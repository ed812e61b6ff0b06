package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// event is one server-sent event: a channel's section (Channel) or the
// whole page's main part (Page).
type event struct {
	Kind string `json:"-"` // "channel" or "page"
	ID   string `json:"id,omitempty"`
	HTML string `json:"html"`
}

// serveEvents streams the page's changes as server-sent events: first
// the page's main part, then every channel section that changed, and the
// main part again when the channels found change. Everything comes from
// memory: a tab costs S3 nothing.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if s.streams.Add(1) > maxStreams {
		s.streams.Add(-1)
		http.Error(w, "too many open dashboard tabs", http.StatusServiceUnavailable)
		return
	}
	defer s.streams.Add(-1)
	s.wanted.Store(time.Now().UnixNano())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	pageGen := uint64(math.MaxUint64) // none sent
	sent := map[string]uint64{}       // channel id: the generation sent
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		evs, wake := s.eventsSince(&pageGen, sent)
		for _, ev := range evs {
			if err := send(w, rc, ev); err != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-ping.C:
			if err := sendRaw(w, rc, ": ping\n\n"); err != nil {
				return
			}
		}
		s.wanted.Store(time.Now().UnixNano())
	}
}

// eventsSince returns the events a stream that has seen page generation
// *pageGen and the channel generations in sent needs, updates both, and
// returns the channel closed at the next change.
func (s *Server) eventsSince(pageGen *uint64, sent map[string]uint64) ([]event, <-chan struct{}) {
	s.mu.Lock()
	wake := s.changed
	if *pageGen != s.page.gen {
		// The list of channels changed (or the stream is new): send the
		// whole main part, the sections with it.
		*pageGen = s.page.gen
		clear(sent)
		for id, c := range s.channels {
			sent[id] = c.gen
		}
		s.mu.Unlock()
		b, err := s.render("main", s.pageNow())
		if err != nil {
			s.o.Log.Error("dashboard: render page", "err", err)
			return nil, wake
		}
		return []event{{Kind: "page", HTML: string(b)}}, wake
	}
	var evs []event
	for _, id := range s.page.IDs {
		c := s.channels[id]
		if c.gen > sent[id] {
			sent[id] = c.gen
			evs = append(evs, event{Kind: "channel", ID: id, HTML: string(c.html)})
		}
	}
	s.mu.Unlock()
	return evs, wake
}

// send writes ev as one server-sent event: its JSON on one data line
// (JSON escapes newlines), so no text in it can end the event early.
func send(w http.ResponseWriter, rc *http.ResponseController, ev event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return sendRaw(w, rc, fmt.Sprintf("event: %s\ndata: %s\n\n", ev.Kind, b))
}

func sendRaw(w http.ResponseWriter, rc *http.ResponseController, text string) error {
	if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	if _, err := fmt.Fprint(w, text); err != nil {
		return err
	}
	return rc.Flush()
}
