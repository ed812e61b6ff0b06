package realparts

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// StreamOptions describe bounded load of long-lived streams: Clients
// clients, each holding one stream (a websocket or an event stream) and
// reconnecting whenever it ends, until Duration has passed or the context
// ends.
type StreamOptions struct {
	// URL is the stream's: ws://host:port/ws, http://host:port/events.
	URL string
	// Clients is the number of concurrent clients, default 4.
	Clients int
	// Duration bounds the run; default 10 s.
	Duration time.Duration
	// Timeout bounds each dial and each wait for a message; default 10 s.
	Timeout time.Duration
	// MaxMessages bounds the messages each websocket client sends;
	// default 1,000,000.
	MaxMessages int
	// Seen, if set, is called with the client's number (from 0) and the
	// generation ("gen=PID") of each answer or event, so that a caller can
	// wait for every client to have moved to a new generation.
	Seen func(client int, gen string)
}

// StreamResult counts what the clients saw.
type StreamResult struct {
	// Messages are the websocket messages answered, or the events read.
	Messages int64
	// Lost are websocket messages sent on a connection that then failed
	// without a close frame saying why (sent again on the next one), or
	// events skipped (a gap in their ids across a reconnection).
	Lost int64
	// Duplicates are events read twice.
	Duplicates int64
	// Reconnects are polite ends: a websocket close frame 1001 (going away)
	// or 1012 (service restart), an event stream ended by the server.
	Reconnects int64
	// Failures are every other end: refused, reset, a close frame with
	// another status, a bad answer, a timeout.
	Failures int64
	// Errors holds up to 20 distinct failure messages with their counts.
	Errors map[string]int
	// Generations are the distinct generations ("gen=PID") that answered.
	Generations map[string]bool
}

// streamTally is a StreamResult under a lock, shared by the clients.
type streamTally struct {
	mu  sync.Mutex
	res StreamResult
}

func (t *streamTally) add(f func(r *StreamResult)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.res)
}

// seen records the generation of an answer, and tells opts.Seen.
func (t *streamTally) seen(opts StreamOptions, client int, gen string) {
	t.add(func(r *StreamResult) { r.Generations[gen] = true })
	if opts.Seen != nil {
		opts.Seen(client, gen)
	}
}

func (t *streamTally) fail(err error) {
	t.add(func(r *StreamResult) {
		r.Failures++
		msg := unwrapOp(err).Error()
		if _, ok := r.Errors[msg]; ok || len(r.Errors) < 20 {
			r.Errors[msg]++
		}
	})
}

// runStreams runs opts.Clients copies of client until the run ends.
func runStreams(ctx context.Context, opts *StreamOptions, client func(ctx context.Context, id int, t *streamTally)) *StreamResult {
	if opts.Clients <= 0 {
		opts.Clients = 4
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = 1_000_000
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	t := &streamTally{res: StreamResult{Errors: make(map[string]int), Generations: make(map[string]bool)}}
	var wg sync.WaitGroup
	for id := range opts.Clients {
		wg.Go(func() { client(ctx, id, t) })
	}
	wg.Wait()
	return &t.res
}

// WebSockets runs websocket clients against an echo that answers each
// message with "gen=ID MESSAGE" (examples/hello's /ws): each sends a
// message, waits for its answer, and sends the next; when the connection
// ends it reconnects and sends the unanswered message again.
func WebSockets(ctx context.Context, opts StreamOptions) *StreamResult {
	return runStreams(ctx, &opts, func(ctx context.Context, id int, t *streamTally) {
		var c *websocket.Conn
		defer func() {
			if c != nil {
				c.CloseNow()
			}
		}()
		for i := 0; i < opts.MaxMessages && ctx.Err() == nil; {
			if c == nil {
				var err error
				if c, err = dialWS(ctx, opts); err != nil {
					retryPause(ctx, t, err)
					continue
				}
			}
			msg := fmt.Sprintf("client %d message %d", id, i)
			gen, err := askWS(ctx, c, opts.Timeout, msg)
			if err == nil {
				t.seen(opts, id, gen)
				t.add(func(r *StreamResult) { r.Messages++ })
				i++
				continue
			}
			c.CloseNow()
			c = nil
			if ctx.Err() != nil {
				return
			}
			switch websocket.CloseStatus(err) {
			case websocket.StatusGoingAway, websocket.StatusServiceRestart:
				t.add(func(r *StreamResult) { r.Reconnects++ })
			default:
				t.add(func(r *StreamResult) { r.Lost++ })
				t.fail(err)
			}
		}
	})
}

func dialWS(ctx context.Context, opts StreamOptions) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	c, _, err := websocket.Dial(dctx, opts.URL, &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.SetReadLimit(64 << 10)
	return c, nil
}

// askWS sends msg on c and returns the generation that echoed it.
func askWS(ctx context.Context, c *websocket.Conn, timeout time.Duration, msg string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return "", err
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return "", err
	}
	gen, echoed, ok := strings.Cut(string(b), " ")
	if !ok || !strings.HasPrefix(gen, "gen=") || echoed != msg {
		return "", fmt.Errorf("answer %.100q to %q", b, msg)
	}
	return gen, nil
}

// retryPause counts a failed attempt and waits a little before the next,
// so that a server refusing connections does not make a client spin.
func retryPause(ctx context.Context, t *streamTally, err error) {
	if ctx.Err() != nil {
		return
	}
	t.fail(err)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

// Events runs server-sent event clients against a stream whose events are
// numbered 0, 1, 2... across reconnections (examples/hello's /events):
// each reads the stream and, when it ends, reconnects with Last-Event-ID,
// counting gaps as lost events. It honours the stream's "retry:" up to
// one second.
func Events(ctx context.Context, opts StreamOptions) *StreamResult {
	return runStreams(ctx, &opts, func(ctx context.Context, id int, t *streamTally) {
		s := &eventStream{client: id, last: -1}
		client := &http.Client{}
		for ctx.Err() == nil {
			err := s.read(ctx, client, opts, t)
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				t.add(func(r *StreamResult) { r.Reconnects++ })
			default:
				retryPause(ctx, t, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(s.retry):
			}
		}
	})
}

// eventStream is what one event client remembers across reconnections.
type eventStream struct {
	client int
	last   int64 // the last event's id, -1 before the first
	retry  time.Duration
}

// read reads one response of the stream until it ends: nil if the server
// ended it cleanly.
func (s *eventStream) read(ctx context.Context, client *http.Client, opts StreamOptions, t *streamTally) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, opts.URL, nil)
	if err != nil {
		return err
	}
	if s.last >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	// Each line is read within Timeout, so a stalled stream fails.
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	watchdog := time.AfterFunc(opts.Timeout, func() { resp.Body.Close() })
	defer watchdog.Stop()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		watchdog.Reset(opts.Timeout)
		if err := s.line(sc.Text(), opts, t); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// line takes one line of the stream: "id: N", "data: N gen=ID", "retry: MS".
func (s *eventStream) line(line string, opts StreamOptions, t *streamTally) error {
	field, value, _ := strings.Cut(line, ": ")
	switch field {
	case "retry":
		ms, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("retry %q", value)
		}
		s.retry = min(time.Duration(ms)*time.Millisecond, time.Second)
	case "id":
		id, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("id %q", value)
		}
		t.add(func(r *StreamResult) {
			switch {
			case id <= s.last:
				r.Duplicates++
			default:
				r.Lost += id - s.last - 1
				r.Messages++
			}
		})
		s.last = max(s.last, id)
	case "data":
		if _, gen, ok := strings.Cut(value, " "); ok {
			t.seen(opts, s.client, gen)
		}
	}
	return nil
}
