package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/debfleet/debfleet/internal/loopback"
)

// Defaults of Options.
const (
	// DefaultAttempts: a webhook that fails three times in a row, a few
	// seconds apart, is down; more tries only delay the caller's exit.
	DefaultAttempts = 3
	// DefaultTimeout bounds one attempt: Slack and Mattermost answer in
	// well under a second.
	DefaultTimeout = 5 * time.Second
	// DefaultQueue bounds the messages waiting per URL; more are dropped
	// (and logged), so that a dead webhook costs bounded memory.
	DefaultQueue = 32
	// DefaultBackoff is the wait before the second attempt, doubled for
	// each further one.
	DefaultBackoff = time.Second
)

// maxAnswer bounds how much of a webhook's answer is read: enough for an
// error message in the log.
const maxAnswer = 4 << 10

// ErrInsecureURL: a plain http:// URL whose host is not a loopback
// address, without Options.AllowInsecure. A webhook URL is a credential
// (whoever has a Slack incoming webhook's URL may post to its channel).
var ErrInsecureURL = errors.New("plain http:// notification URL off loopback")

// Options configure a Sender.
type Options struct {
	// URLs receive every message, each in the order sent.
	URLs []string
	// AllowInsecure accepts plain http:// URLs off loopback.
	AllowInsecure bool
	// Attempts, Timeout, Queue and Backoff default to DefaultAttempts,
	// DefaultTimeout, DefaultQueue and DefaultBackoff.
	Attempts int
	Timeout  time.Duration
	Queue    int
	Backoff  time.Duration
	// Logger receives one line per message that could not be delivered
	// (and per retry, at debug level); default slog.Default(). A URL is
	// logged as its scheme and host only: its path is the secret.
	Logger *slog.Logger
	// Client sends the requests; default a client that follows no
	// redirect (one could lead to plain http://).
	Client *http.Client
}

// Sender posts JSON messages to webhooks in the background: Send never
// blocks, each URL has its own queue and goroutine, failures are retried
// a bounded number of times and then logged. Close waits for the queues
// to drain.
type Sender struct {
	o      Options
	queues []*queue
	wg     sync.WaitGroup
	stop   context.CancelFunc
}

// queue is one URL's pending messages.
type queue struct {
	url, shown string
	ch         chan []byte
}

// CheckURL checks that u is an http:// or https:// URL, and refuses a
// plain http:// one whose host is not a loopback address unless
// allowInsecure, with ErrInsecureURL.
func CheckURL(u string, allowInsecure bool) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("notification URL %s: want an http:// or https:// URL", Shown(u))
	}
	if p.Scheme == "http" && !allowInsecure && !loopback.Host(p.Hostname()) {
		return fmt.Errorf("notification URL %s: %w: the URL, which gives whoever has it the right to post, would travel unencrypted", Shown(u), ErrInsecureURL)
	}
	return nil
}

// Shown is how a notification URL appears in logs and errors: its scheme
// and host, never its path or query, which carry the webhook's secret.
func Shown(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + "/..."
}

// New checks o's URLs (see CheckURL) and starts a Sender.
func New(o Options) (*Sender, error) {
	for _, u := range o.URLs {
		if err := CheckURL(u, o.AllowInsecure); err != nil {
			return nil, err
		}
	}
	o.Attempts = max(o.Attempts, 0)
	if o.Attempts == 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Sender{o: o, stop: stop}
	for _, u := range o.URLs {
		q := &queue{url: u, shown: Shown(u), ch: make(chan []byte, o.Queue)}
		s.queues = append(s.queues, q)
		s.wg.Go(func() { s.drain(ctx, q) })
	}
	return s, nil
}

// Send queues msg, encoded as JSON, for every URL. It never blocks: a
// full queue drops the message (and logs it). A nil Sender sends nothing.
func (s *Sender) Send(msg any) {
	if s == nil || len(s.queues) == 0 {
		return
	}
	body, err := json.Marshal(msg)
	if err != nil {
		s.o.Logger.Error("notification not sent: cannot encode it", "err", err)
		return
	}
	for _, q := range s.queues {
		select {
		case q.ch <- body:
		default:
			s.o.Logger.Warn("notification dropped: too many waiting", "url", q.shown, "queue", cap(q.ch))
		}
	}
}

// Close stops accepting messages and waits until every queued one is
// delivered or given up, or ctx ends (then the rest are dropped, and the
// attempts in flight cut short). A nil Sender has nothing to close.
func (s *Sender) Close(ctx context.Context) {
	if s == nil {
		return
	}
	for _, q := range s.queues {
		close(q.ch)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.stop()
		<-done
	}
	s.stop()
}

// drain posts q's messages in order until q is closed and empty, or ctx
// ends.
func (s *Sender) drain(ctx context.Context, q *queue) {
	for body := range q.ch {
		if ctx.Err() != nil {
			continue // dropped: Close gave up waiting
		}
		if err := s.deliver(ctx, q, body); err != nil {
			s.o.Logger.Warn("notification not delivered", "url", q.shown, "attempts", s.o.Attempts, "err", err)
		}
	}
}

// deliver posts body to q's URL, retrying failures worth retrying (no
// answer, 429, 5xx) up to Attempts in all, with backoff.
func (s *Sender) deliver(ctx context.Context, q *queue, body []byte) error {
	wait := s.o.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		if retry, err = s.post(ctx, q.url, body); err == nil || !retry || attempt >= s.o.Attempts {
			return err
		}
		s.o.Logger.Debug("notification failed; retrying", "url", q.shown, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then cut short: %w)", err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// post makes one attempt, bounded by Timeout, and says whether a failure
// is worth retrying. Errors never quote the URL (the transport's do: they
// are replaced).
func (s *Sender) post(ctx context.Context, u string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("cannot make the request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return retry, fmt.Errorf("answered %s: %q", resp.Status, oneLine(string(answer), 200))
}

// oneLine shortens s to one line of at most n bytes, for logs.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
