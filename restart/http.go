package restart

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// drainer tracks the connections of one http.Server, marks responses
// "Connection: close" once draining, and tells long-lived streams to go.
type drainer struct {
	srv      *http.Server
	draining atomic.Bool
	goAway   chan struct{} // closed once ln is closed: see Draining
	mu       sync.Mutex
	conns    map[net.Conn]http.ConnState
	hijacked map[*hijackedConn]struct{} // open until their handler closes them
	changed  chan struct{}              // closed and replaced at each change of conns or hijacked
}

func newDrainer(srv *http.Server) *drainer {
	d := &drainer{
		srv:      srv,
		goAway:   make(chan struct{}),
		conns:    make(map[net.Conn]http.ConnState),
		hijacked: make(map[*hijackedConn]struct{}),
		changed:  make(chan struct{}),
	}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &drainWriter{ResponseWriter: w, d: d}
		h.ServeHTTP(dw, r.WithContext(context.WithValue(r.Context(), drainingKey{}, d.goAway)))
		dw.mark() // a handler that wrote nothing still gets its header
	})
	hook := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		// Only whether a connection is open counts: the active and idle
		// turns of every keep-alive request take no lock.
		switch s {
		case http.StateNew:
			d.update(func() { d.conns[c] = s })
		case http.StateClosed, http.StateHijacked:
			d.update(func() { delete(d.conns, c) })
		}
		if hook != nil {
			hook(c, s)
		}
	}
	return d
}

// update runs f, which changes conns or hijacked, under the lock and,
// once draining, wakes whoever waits for a change (before that nobody
// waits, and a new channel per connection would be waste).
func (d *drainer) update(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f()
	if d.draining.Load() {
		close(d.changed)
		d.changed = make(chan struct{})
	}
}

// open returns how many connections, and how many of them hijacked, are
// still open, and a channel closed at the next change. Once draining, every
// response closes its connection, so a connection that carries one more
// request goes away by itself, without the race between a client sending
// on an idle connection and the server closing it.
func (d *drainer) open() (n, hijacked int, changed <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns) + len(d.hijacked), len(d.hijacked), d.changed
}

func (d *drainer) drain(ln net.Listener, served <-chan error, window, timeout time.Duration, log *slog.Logger) error {
	start := time.Now()
	d.draining.Store(true)
	closeListener(ln, log)
	// Serve returns once Accept fails, and it registers each connection it
	// accepted before accepting again: after this, every connection taken
	// from the queue is counted below, none is left to die with the process.
	<-served
	// Only now: a client told to go away must not reconnect to this process.
	close(d.goAway)
	d.waitClosed(window, func(n, hijacked int) bool { return n-hijacked == 0 })
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(timeout))
	defer cancel()
	shutdownErr := d.srv.Shutdown(ctx)
	d.waitClosed(time.Until(start.Add(timeout)), func(_, hijacked int) bool { return hijacked == 0 })
	n, hijacked, _ := d.open()
	if shutdownErr == nil {
		// Every other connection is closed, though ConnState may not have
		// heard of it yet.
		n = hijacked
	}
	if n > 0 {
		log.Warn("drain timed out, closing connections", "addr", ln.Addr().String(), "timeout", timeout, "connections", n, "hijacked", hijacked)
		_ = d.srv.Close()
		d.closeHijacked()
		return fmt.Errorf("drain %s: %d connections (%d hijacked) still open after %s", ln.Addr(), n, hijacked, timeout)
	}
	log.Info("drained", "addr", ln.Addr().String(), "duration", time.Since(start))
	return nil
}

// waitClosed waits up to d for done to hold over the counts of open.
func (d *drainer) waitClosed(limit time.Duration, done func(n, hijacked int) bool) {
	end := time.NewTimer(limit)
	defer end.Stop()
	for {
		n, hijacked, changed := d.open()
		if done(n, hijacked) {
			return
		}
		select {
		case <-changed:
		case <-end.C:
			return
		}
	}
}

// closeListener closes ln, which another generation may still accept on.
func closeListener(ln net.Listener, log *slog.Logger) {
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Warn("close listener", "addr", ln.Addr().String(), "err", err)
	}
}

// drainWriter adds "Connection: close" to a response begun while draining.
// It keeps the optional interfaces handlers use (Flusher, Hijacker,
// ReaderFrom) and unwraps for http.ResponseController.
type drainWriter struct {
	http.ResponseWriter
	d      *drainer
	marked bool
}

func (w *drainWriter) mark() {
	if w.marked {
		return
	}
	w.marked = true
	if w.d.draining.Load() {
		w.Header().Set("Connection", "close")
	}
}

func (w *drainWriter) WriteHeader(code int) {
	if code >= 200 || code < 100 {
		w.mark()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *drainWriter) Write(b []byte) (int, error) {
	w.mark()
	return w.ResponseWriter.Write(b)
}

func (w *drainWriter) ReadFrom(r io.Reader) (int64, error) {
	w.mark()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *drainWriter) Flush() {
	w.mark()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection to the handler (a websocket, say), which
// http.Server then forgets: the drainer counts it until it is closed.
func (w *drainWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.marked = true
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return w.d.track(c), rw, nil
}

func (w *drainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
