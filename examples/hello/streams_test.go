package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestEventsParams(t *testing.T) {
	for _, tc := range []struct {
		query, lastID string
		every         time.Duration
		next          uint64
		err           string
	}{
		{"", "", time.Second, 0, ""},
		{"?every=10ms", "41", 10 * time.Millisecond, 42, ""},
		{"?every=1ms", "", 0, 0, "every: want a duration"},
		{"?every=2m", "", 0, 0, "every: want a duration"},
		{"?every=x", "", 0, 0, "every: want a duration"},
		{"", "-1", 0, 0, "Last-Event-ID"},
		{"", "x", 0, 0, "Last-Event-ID"},
		{"", "9223372036854775807", 0, 0, "Last-Event-ID"},
		{"", "9223372036854775806", time.Second, 1<<63 - 1, ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/events"+tc.query, nil)
		if tc.lastID != "" {
			r.Header.Set("Last-Event-ID", tc.lastID)
		}
		every, next, err := eventsParams(r)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s, Last-Event-ID %q: error %v, want %q", tc.query, tc.lastID, err, tc.err)
			}
			continue
		}
		if err != nil || every != tc.every || next != tc.next {
			t.Errorf("%s, Last-Event-ID %q = %s, %d, %v; want %s, %d", tc.query, tc.lastID, every, next, err, tc.every, tc.next)
		}
	}
}

// TestStreams checks /ws and /events outside restart.Serve, where the
// drain never comes.
func TestStreams(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != fmt.Sprintf("gen=%d hi", os.Getpid()) {
		t.Errorf("ws echo %q, %v", b, err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events?every=10ms", nil)
	req.Header.Set("Last-Event-ID", "6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	for sc := bufio.NewScanner(resp.Body); len(lines) < 6 && sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	want := []string{"retry: 250", "", "id: 7", fmt.Sprintf("data: 7 gen=%d", os.Getpid()), "", "id: 8"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("events %q, want %q", lines, want)
	}
}
