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

// Serve serves srv on ln until this process must exit (an upgrade succeeded,
// Stop, SIGTERM) or ctx ends, then drains srv so that no client sees an
// error, and returns nil once the last request has been answered. It
// returns an error if srv fails, or if the drain outlasted DrainTimeout
// (the remaining connections are then closed).
//
// Serve installs its own Handler wrapper and ConnState hook on srv (calling
// the ones already set), so srv must not be started elsewhere. The drain
// goes in this order, each step closing a way plain http.Server.Shutdown
// loses requests at an upgrade:
//
//  1. close ln: the socket lives on in the new generation, which accepts
//     from the same queue, so no connection is refused;
//  2. answer every request with "Connection: close" and wait, up to
//     CloseWindow, for every connection to close after its next answer:
//     keep-alive clients move to the new process instead of having an idle
//     connection closed while they send on it, and connections accepted just
//     before step 1 get to send their first request;
//  3. http.Server.Shutdown, bounded by what is left of DrainTimeout, waits
//     for in-flight requests.
func (u *Upgrader) Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	d := newDrainer(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-u.Exit():
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return d.drain(ln, errc, u.opts.CloseWindow, u.opts.DrainTimeout, u.log)
}

// drainer tracks the connections of one http.Server and marks responses
// "Connection: close" once draining.
type drainer struct {
	srv      *http.Server
	draining atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]http.ConnState
	changed  chan struct{} // closed and replaced at each state change
}

func newDrainer(srv *http.Server) *drainer {
	d := &drainer{srv: srv, conns: make(map[net.Conn]http.ConnState), changed: make(chan struct{})}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &drainWriter{ResponseWriter: w, d: d}
		h.ServeHTTP(dw, r)
		dw.mark() // a handler that wrote nothing still gets its header
	})
	hook := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		d.mu.Lock()
		switch s {
		case http.StateClosed, http.StateHijacked:
			delete(d.conns, c)
		default:
			d.conns[c] = s
		}
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
		if hook != nil {
			hook(c, s)
		}
	}
	return d
}

// open returns how many connections are still open and a channel closed at
// the next change. Once draining, every response closes its connection, so
// a connection that carries one more request goes away by itself, without
// the race between a client sending on an idle connection and the server
// closing it.
func (d *drainer) open() (int, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns), d.changed
}

func (d *drainer) drain(ln net.Listener, served <-chan error, window, timeout time.Duration, log *slog.Logger) error {
	start := time.Now()
	d.draining.Store(true)
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Warn("close listener", "addr", ln.Addr().String(), "err", err)
	}
	// Serve returns once Accept fails, and it registers each connection it
	// accepted before accepting again: after this, every connection taken
	// from the queue is counted below, none is left to die with the process.
	<-served
	windowEnd := time.NewTimer(window)
	defer windowEnd.Stop()
	for {
		n, changed := d.open()
		if n == 0 {
			break
		}
		select {
		case <-changed:
			continue
		case <-windowEnd.C:
		}
		break
	}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(timeout))
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		_ = d.srv.Close()
		return fmt.Errorf("drain %s: %w after %s", ln.Addr(), err, timeout)
	}
	log.Info("drained", "addr", ln.Addr().String(), "duration", time.Since(start))
	return nil
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

func (w *drainWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.marked = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *drainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
