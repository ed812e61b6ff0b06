package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// WebhookReceiver is a local HTTP server that records what is posted to
// it, as a Slack or Mattermost incoming webhook would receive it.
type WebhookReceiver struct {
	// URL is where to post, with a path standing for the webhook's secret.
	URL string

	mu       sync.Mutex
	bodies   [][]byte
	attempts int
	status   int           // answered to every request; 0 means 200
	hang     time.Duration // wait this long before answering
	arrived  chan struct{}
}

// Webhook starts a WebhookReceiver for t, closed when t ends.
func Webhook(t testing.TB) *WebhookReceiver {
	t.Helper()
	w := &WebhookReceiver{arrived: make(chan struct{}, 1024)}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL + "/services/T000/B000/secret-part-of-the-url"
	return w
}

func (w *WebhookReceiver) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.mu.Lock()
	w.attempts++
	status, hang := w.status, w.hang
	if status == 0 && r.Method == http.MethodPost {
		w.bodies = append(w.bodies, body)
	}
	w.mu.Unlock()
	if hang > 0 {
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
		}
	}
	select {
	case w.arrived <- struct{}{}:
	default:
	}
	if status != 0 {
		http.Error(rw, "receiver failing on purpose", status)
		return
	}
	io.WriteString(rw, "ok")
}

// Fail makes the receiver answer status (e.g. 500) to every request from
// now on, after hanging for hang; Fail(0, 0) makes it work again.
func (w *WebhookReceiver) Fail(status int, hang time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status, w.hang = status, hang
}

// Attempts is the number of requests received, failed ones included.
func (w *WebhookReceiver) Attempts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attempts
}

// Messages decodes every message received (and answered 200), in order
// of arrival; a body that is not a JSON object fails t.
func (w *WebhookReceiver) Messages(t testing.TB) []map[string]any {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, b := range w.bodies {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("webhook received %q, not a JSON object: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

// WaitMessages waits until at least n messages arrived (and were answered
// 200), or timeout; it returns those received.
func (w *WebhookReceiver) WaitMessages(t testing.TB, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := w.Messages(t); len(m) >= n {
			return m
		}
		select {
		case <-w.arrived:
		case <-deadline.C:
			m := w.Messages(t)
			t.Fatalf("webhook: %d messages after %s, want %d: %v", len(m), timeout, n, m)
			return m
		}
	}
}
