package dashboard

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"
)

// Bounds of the event streams.
const (
	// maxStreams bounds the open event streams (tabs); more get 503.
	maxStreams = 32
	// keepAlive is how often an idle stream gets a comment, so that a
	// closed tab is noticed and a proxy does not time the stream out.
	keepAlive = 15 * time.Second
	// writeTimeout bounds each write to a stream.
	writeTimeout = 10 * time.Second
)

// pageView is what the page template shows.
type pageView struct {
	pageState
	Nav []navItem
}

// navItem is one channel in the page's list of them, with its rendered
// section.
type navItem struct {
	ID, Name, State string
	HTML            template.HTML
}

// pageNow returns the page's state and its channels' rendered sections.
func (s *Server) pageNow() pageView {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := pageView{pageState: s.page}
	v.pageState.IDs = slices.Clone(s.page.IDs)
	for _, id := range s.page.IDs {
		c := s.channels[id]
		// c.html was rendered by html/template from the channel
		// template, which escaped what it shows.
		v.Nav = append(v.Nav, navItem{ID: c.id, Name: c.addr.String(), State: c.state, HTML: template.HTML(c.html)})
	}
	return v
}

// servePage serves the whole page from memory.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	s.wanted.Store(time.Now().UnixNano())
	b, err := s.render("page", s.pageNow())
	if err != nil {
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		s.o.Log.Error("dashboard: render page", "err", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// serveStatus serves one channel's summary exactly as pkgdeb status
// --json prints it, from memory: only channels the dashboard found, so
// that a request never makes it read anything else.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	s.wanted.Store(time.Now().UnixNano())
	name := r.URL.Query().Get("channel")
	s.mu.Lock()
	var body []byte
	var readErr error
	found := false
	for _, c := range s.channels {
		if c.addr.String() == name {
			found, body, readErr = true, c.json, c.err
		}
	}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case !found:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no channel %q on this dashboard", name))
	case readErr != nil:
		writeError(w, http.StatusBadGateway, readErr.Error())
	case body == nil:
		writeError(w, http.StatusServiceUnavailable, "not read yet")
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
