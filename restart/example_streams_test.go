package restart_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"

	"github.com/debfleet/debfleet/restart"
)

// A websocket handler served by Upgrader.Serve: it echoes messages until
// the process starts draining, then closes with 1012 (service restart), and
// the client reconnects to the new generation. Serve waits for the
// connection to close, up to DrainTimeout. An event stream does the same by
// returning, and its client reconnects with Last-Event-ID.
func ExampleDraining() {
	ws := func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil || c.Write(r.Context(), typ, msg) != nil {
					return
				}
			}
		}()
		select {
		case <-restart.Draining(r.Context()):
			c.Close(websocket.StatusServiceRestart, "restarting")
		case <-done:
		}
	}
	// In a service: upg.Serve(ctx, &http.Server{Handler: mux}, ln).
	srv := httptest.NewServer(http.HandlerFunc(ws))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// A client reconnects when it reads a close with status 1001 or 1012:
	// websocket.CloseStatus(err) tells.
	fmt.Println(string(msg))
	// Output: hello
}
