package restart

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// startDrainer serves h through a drainer on a fresh 127.0.0.1 listener.
func startDrainer(t *testing.T, h http.Handler) (*drainer, net.Listener, chan error) {
	t.Helper()
	srv := &http.Server{Handler: h}
	d := newDrainer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return d, ln, served
}

// TestDrainHijacked checks that a drain tells websocket handlers to go
// away, waits for the connections they hijacked, and at DrainTimeout closes
// those still open and logs how many.
func TestDrainHijacked(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	for _, tc := range []struct {
		name     string
		goAway   bool                 // the handler closes with 1012 on Draining
		status   websocket.StatusCode // what the client reads once the drain starts
		drainErr bool
		log      string
	}{
		{"goes away", true, websocket.StatusServiceRestart, false, "msg=drained"},
		{"ignores the drain", false, -1, true, `msg="drain timed out, closing connections".* connections=1 hijacked=1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ln, served := startDrainer(t, echoHandler(tc.goAway))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			echo(ctx, t, c, "before")

			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			drained := make(chan error, 1)
			start := time.Now()
			go func() { drained <- d.drain(ln, served, 100*time.Millisecond, timeout, log) }()
			_, _, err = c.Read(ctx)
			if got := websocket.CloseStatus(err); got != tc.status {
				t.Errorf("client read %v (status %d), want status %d", err, got, tc.status)
			}
			err = <-drained
			if (err != nil) != tc.drainErr {
				t.Errorf("drain: %v, want an error: %v", err, tc.drainErr)
			}
			if took := time.Since(start); tc.drainErr != (took >= timeout) {
				t.Errorf("drain took %s with a timeout of %s", took, timeout)
			}
			if !matches(tc.log, logs.String()) {
				t.Errorf("log %q, want a line matching %q", logs.String(), tc.log)
			}
		})
	}
}

// echoHandler accepts a websocket and echoes its messages; with goAway it
// closes with 1012 once Draining.
func echoHandler(goAway bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 10)
		read := make(chan error, 1)
		go func() {
			for {
				typ, b, err := c.Read(context.Background())
				if err == nil {
					err = c.Write(context.Background(), typ, b)
				}
				if err != nil {
					read <- err
					return
				}
			}
		}()
		drain := Draining(r.Context())
		if !goAway {
			drain = nil
		}
		select {
		case <-drain:
			_ = c.Close(websocket.StatusServiceRestart, "restarting")
		case <-read:
		}
	})
}

func echo(ctx context.Context, t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil || !bytes.Equal(b, []byte(msg)) {
		t.Fatalf("echo %q: %q, %v", msg, b, err)
	}
}

// TestDrainingOutsideServe checks that a handler not served by Serve waits
// on a nil channel rather than panicking or seeing a drain.
func TestDrainingOutsideServe(t *testing.T) {
	if c := Draining(context.Background()); c != nil {
		t.Errorf("Draining outside Serve = %v, want nil", c)
	}
}

// matches reports whether a line of s matches pattern.
func matches(pattern, s string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(s)
}
