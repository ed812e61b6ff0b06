package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testenv"
)

type msg struct {
	Event string `json:"event"`
	Text  string `json:"text"`
}

// syncBuffer is a log sink the sender's goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSender(t *testing.T, o Options) (*Sender, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

func TestSenderDelivers(t *testing.T) {
	a, b := testenv.Webhook(t), testenv.Webhook(t)
	s, _ := newSender(t, Options{URLs: []string{a.URL, b.URL}})
	for _, e := range []string{"started", "completed"} {
		s.Send(msg{Event: e, Text: "rollout " + e})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s.Close(ctx)
	for _, w := range []*testenv.WebhookReceiver{a, b} {
		got := w.Messages(t)
		if len(got) != 2 || got[0]["event"] != "started" || got[1]["text"] != "rollout completed" {
			t.Errorf("received %v, want started then completed", got)
		}
	}
}

// TestSenderRetriesBounded: a receiver that fails gets Attempts tries per
// message, each bounded by Timeout; Close returns within its context, and
// the URL's secret path is never logged.
func TestSenderRetriesBounded(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		hang         time.Duration
		wantAttempts int
	}{
		{"5xx is retried", 500, 0, 3},
		{"429 is retried", 429, 0, 3},
		{"4xx is not retried", 404, 0, 1},
		{"a hanging receiver is cut at the timeout and retried", 200, time.Minute, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testenv.Webhook(t)
			w.Fail(tt.status, tt.hang)
			s, logs := newSender(t, Options{URLs: []string{w.URL}, Timeout: 200 * time.Millisecond, Backoff: 10 * time.Millisecond})
			s.Send(msg{Event: "halted", Text: "halted"})
			start := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s.Close(ctx)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Close took %v", d)
			}
			if n := w.Attempts(); n != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", n, tt.wantAttempts)
			}
			if !strings.Contains(logs.String(), "notification not delivered") {
				t.Errorf("the failure is not logged:\n%s", logs)
			}
			if strings.Contains(logs.String(), "secret-part") {
				t.Errorf("the log shows the webhook's secret path:\n%s", logs)
			}
		})
	}
}

// TestSenderCloseBounded: Close gives up when its context ends, even with
// messages queued behind a receiver that hangs.
func TestSenderCloseBounded(t *testing.T) {
	w := testenv.Webhook(t)
	w.Fail(200, time.Minute)
	s, _ := newSender(t, Options{URLs: []string{w.URL}, Timeout: time.Minute})
	for range 5 {
		s.Send(msg{Event: "host-failed"})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.Close(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v after its context ended", d)
	}
}

// TestSenderQueueBounded: Send never blocks; past the queue's size,
// messages are dropped and logged.
func TestSenderQueueBounded(t *testing.T) {
	w := testenv.Webhook(t)
	w.Fail(200, time.Minute)
	s, logs := newSender(t, Options{URLs: []string{w.URL}, Queue: 2, Timeout: time.Minute})
	start := time.Now()
	for range 10 {
		s.Send(msg{Event: "host-failed"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send blocked for %v", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	if !strings.Contains(logs.String(), "notification dropped") {
		t.Errorf("dropped messages not logged:\n%s", logs)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		want     error // nil, ErrInsecureURL, or errBad for any other
	}{
		{"https://hooks.slack.com/services/T/B/x", false, nil},
		{"http://127.0.0.1:8065/hooks/x", false, nil},
		{"http://localhost/hooks/x", false, nil},
		{"http://[::1]:80/x", false, nil},
		{"http://mattermost.lan/hooks/x", false, ErrInsecureURL},
		{"http://10.0.0.5/hooks/x", false, ErrInsecureURL},
		{"http://10.0.0.5/hooks/x", true, nil},
		{"ftp://example.com/x", false, errBad},
		{"hooks.slack.com/services/x", false, errBad},
	}
	for _, tt := range tests {
		err := CheckURL(tt.url, tt.insecure)
		switch {
		case tt.want == nil && err != nil, tt.want != nil && err == nil:
			t.Errorf("CheckURL(%q, %v) = %v, want %v", tt.url, tt.insecure, err, tt.want)
		case tt.want == ErrInsecureURL && !errors.Is(err, ErrInsecureURL):
			t.Errorf("CheckURL(%q) = %v, want ErrInsecureURL", tt.url, err)
		case err != nil && strings.Contains(err.Error(), "/hooks/"):
			t.Errorf("CheckURL(%q) = %v: the error shows the URL's path", tt.url, err)
		}
	}
}

var errBad = errors.New("bad URL")

// TestQuote: what agents wrote cannot make a link, a mention, formatting
// or a second line in a Slack or Mattermost message.
func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1", "`web-1`"},
		{"", "``"},
		{"<https://evil.example|click me> <!channel> @here", "`&lt;https://evil.example|click me&gt; &lt;!channel&gt; @here`"},
		{"a & b", "`a &amp; b`"},
		{"`code` *bold* _it_", "`'code' *bold* _it_`"},
		{"line one\nline two\r\n\tend", "`line one line two end`"},
		{"\x1b[31mred\u202egnp.exe", "`\\x1b[31mred\\u202egnp.exe`"},
		{`say "hi" \o/`, "`say \"hi\" \\\\o/`"},
		{strings.Repeat("x", 1200), "`" + strings.Repeat("x", maxQuoted-3) + "...`"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
