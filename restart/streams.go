package restart

import (
	"context"
	"net"
	"sync"
)

// drainingKey is the request context key of the channel Draining returns.
type drainingKey struct{}

// Draining returns a channel that is closed when the Serve that serves the
// request of ctx starts draining, for handlers of long-lived streams that
// http.Server.Shutdown would otherwise wait for until DrainTimeout
// (server-sent events, long polls) or not know about at all (websockets,
// and any connection a handler hijacks). Such a handler selects on it and
// then asks its client to reconnect, which it does to the new generation:
// a websocket handler sends a close frame with status 1012 (service
// restart) or 1001 (going away), an event stream ends its response so that
// the client reconnects with Last-Event-ID. Serve has closed the listener
// by then, so the client cannot land on this process again.
//
// Serve waits for hijacked connections to be closed by their handlers, up
// to DrainTimeout; at DrainTimeout it closes those still open and logs how
// many there were. ctx is the request's (r.Context()); outside Serve the
// channel is nil, and never ready.
func Draining(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(drainingKey{}).(chan struct{})
	return c
}

// hijackedConn is a connection a handler took over from http.Server; the
// drainer counts it until the handler closes it.
type hijackedConn struct {
	net.Conn
	once  sync.Once
	close func(*hijackedConn)
}

// Close closes the connection and stops counting it.
func (c *hijackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.close(c) })
	return err
}

// track counts c as open until it is closed.
func (d *drainer) track(c net.Conn) net.Conn {
	hc := &hijackedConn{Conn: c, close: func(hc *hijackedConn) { d.update(func() { delete(d.hijacked, hc) }) }}
	d.update(func() { d.hijacked[hc] = struct{}{} })
	return hc
}

// closeHijacked closes every hijacked connection still open, ending their
// handlers' reads and writes.
func (d *drainer) closeHijacked() {
	d.mu.Lock()
	open := make([]*hijackedConn, 0, len(d.hijacked))
	for c := range d.hijacked {
		open = append(open, c)
	}
	d.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}
