package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/debfleet/debfleet/restart"
)

const (
	// maxMessage bounds a websocket message: the echo is for tests and demos.
	maxMessage = 4 << 10
	// minEvery and maxEvery bound the interval of /events.
	minEvery, maxEvery = 10 * time.Millisecond, time.Minute
	// eventRetry is the reconnection delay /events asks of its clients, so
	// that they come back quickly after an upgrade ends their stream.
	eventRetry = 250 * time.Millisecond
)

// serveWS echoes each websocket message as "gen=PID MESSAGE", PID naming
// the generation that answered. When the process starts draining (an
// upgrade) it closes with 1012 (service restart): the client reconnects,
// to the new generation, and sends again what was not answered.
func serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	c.SetReadLimit(maxMessage)
	done := make(chan struct{})
	go func() {
		defer close(done)
		echo(r.Context(), c)
	}()
	select {
	case <-restart.Draining(r.Context()):
		_ = c.Close(websocket.StatusServiceRestart, "restarting")
	case <-done:
	}
}

// echo answers messages on c until it fails or closes.
func echo(ctx context.Context, c *websocket.Conn) {
	prefix := fmt.Sprintf("gen=%d ", os.Getpid())
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, append([]byte(prefix), msg...)); err != nil {
			return
		}
	}
}

// serveEvents streams server-sent events numbered from 0, or from one past
// the Last-Event-ID header of a client that reconnects, one every ?every=
// (default 1s): "id: N" and "data: N gen=PID". The numbers do not depend on
// the process, so a client that reconnects to the next generation misses
// none. When the process starts draining the stream ends, and the client
// reconnects after eventRetry.
func serveEvents(w http.ResponseWriter, r *http.Request) {
	every, next, err := eventsParams(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	fmt.Fprintf(w, "retry: %d\n\n", eventRetry.Milliseconds())
	tick := time.NewTicker(every)
	defer tick.Stop()
	draining := restart.Draining(r.Context())
	for ; ; next++ {
		select {
		case <-draining:
			return
		default:
		}
		fmt.Fprintf(w, "id: %d\ndata: %d gen=%d\n\n", next, next, os.Getpid())
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-draining:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// eventsParams reads /events' interval and first event number.
func eventsParams(r *http.Request) (every time.Duration, next uint64, err error) {
	every = time.Second
	if s := r.URL.Query().Get("every"); s != "" {
		every, err = time.ParseDuration(s)
		if err != nil || every < minEvery || every > maxEvery {
			return 0, 0, fmt.Errorf("every: want a duration from %s to %s", minEvery, maxEvery)
		}
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		last, err := strconv.ParseUint(s, 10, 63)
		if err != nil || last == 1<<63-1 {
			return 0, 0, fmt.Errorf("Last-Event-ID: want the number of an event")
		}
		next = last + 1
	}
	return every, next, nil
}
