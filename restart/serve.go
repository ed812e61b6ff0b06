package restart

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is what Serve runs: an *http.Server, or a GracefulServer such as
// a *grpc.Server.
type Server interface {
	// Serve accepts connections on ln and serves them until ln is closed or
	// the server stops.
	Serve(ln net.Listener) error
}

// GracefulServer is a server that stops the way a *grpc.Server does, which
// fits it without this package importing gRPC.
type GracefulServer interface {
	Server
	// GracefulStop stops accepting, tells every client to go away (an
	// HTTP/2 GOAWAY) so that its next calls go to the new process, and
	// returns once the calls in flight have finished.
	GracefulStop()
	// Stop closes every connection at once, ending the calls in flight and
	// making a GracefulStop under way return.
	Stop()
}

// Serve serves srv on ln until this process must exit (an upgrade succeeded,
// Stop, SIGTERM) or ctx ends, then drains srv so that no client sees an
// error, and returns nil once the last request, call or stream has ended.
// It returns an error if srv fails, or if the drain outlasted DrainTimeout:
// what was still open is then closed, and logged with a count.
//
// srv is an *http.Server (HTTP/1.1, h2c and HTTP/2 over TLS when ln is a
// TLS listener offering "h2") or a GracefulServer (gRPC); any other server
// is an error. Either way the drain first closes ln: the socket lives on
// in the new generation, which accepts from the same queue, so no
// connection is refused. A GracefulServer then gets GracefulStop, and Stop
// at DrainTimeout. For an *http.Server, see Draining for long-lived
// streams, and the steps below, each closing a way plain
// http.Server.Shutdown loses requests at an upgrade.
//
// Serve installs its own Handler wrapper and ConnState hook on an
// *http.Server (calling the ones already set), so it must not be started
// elsewhere. After ln is closed:
//
//  1. the channel of Draining closes: handlers of websockets and event
//     streams tell their clients to reconnect, which they do to the new
//     process;
//  2. every request is answered with "Connection: close" (on HTTP/2, a
//     GOAWAY once the connection is idle), and Serve waits, up to
//     CloseWindow, for every connection to close after its next answer:
//     keep-alive clients move to the new process instead of having an idle
//     connection closed while they send on it, and connections accepted
//     just before ln closed get to send their first request;
//  3. http.Server.Shutdown, bounded by what is left of DrainTimeout, waits
//     for in-flight requests, and Serve waits for hijacked connections
//     (websockets) to be closed by their handlers.
func (u *Upgrader) Serve(ctx context.Context, srv Server, ln net.Listener) error {
	var drain func(served <-chan error) error
	switch s := srv.(type) {
	case *http.Server:
		d := newDrainer(s)
		drain = func(served <-chan error) error {
			return d.drain(ln, served, u.opts.CloseWindow, u.opts.DrainTimeout, u.log)
		}
	case GracefulServer:
		drain = func(served <-chan error) error { return drainGraceful(s, ln, served, u.opts.DrainTimeout, u.log) }
	default:
		return fmt.Errorf("restart: serve %s: a %T is neither an *http.Server nor has GracefulStop and Stop", ln.Addr(), srv)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-u.Exit():
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return drain(errc)
}

// drainGraceful closes ln, waits for srv.Serve to return, and stops srv
// gracefully, at once if that outlasts timeout.
func drainGraceful(srv GracefulServer, ln net.Listener, served <-chan error, timeout time.Duration, log *slog.Logger) error {
	start := time.Now()
	closeListener(ln, log)
	// As for an *http.Server: once Serve has returned, every connection it
	// took from the queue is the server's, and GracefulStop tells it to go.
	<-served
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	deadline := time.NewTimer(timeout - time.Since(start))
	defer deadline.Stop()
	select {
	case <-stopped:
		log.Info("drained", "addr", ln.Addr().String(), "duration", time.Since(start))
		return nil
	case <-deadline.C:
	}
	log.Warn("drain timed out, closing connections", "addr", ln.Addr().String(), "timeout", timeout)
	srv.Stop()
	<-stopped
	return fmt.Errorf("drain %s: calls still running after %s", ln.Addr(), timeout)
}
