package hold

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

func TestHoldFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root's secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		make   func(path string)
		held   bool
		reason string // a part of it
	}{
		{"missing", func(string) {}, false, ""},
		{"reason", write("draining 3 jobs\nsecond line\n"), true, "draining 3 jobs"},
		{"empty", write(""), true, "gives no reason"},
		{"controls and bidi", write("a\x1b[31mb\u202ec\r\n"), true, "a?[31mb?c"},
		{"long", write(strings.Repeat("é", 500)), true, strings.Repeat("é", fleet.MaxHoldReason/2)},
		{"huge without newline", write(strings.Repeat("x", 10<<20)), true, strings.Repeat("x", fleet.MaxHoldReason)},
		{"symlink", func(p string) { must(t, os.Symlink(secret, p)) }, true, "symbolic link (not read)"},
		{"fifo", func(p string) { must(t, syscall.Mkfifo(p, 0o600)) }, true, "not a regular file"},
		{"directory", func(p string) { must(t, os.Mkdir(p, 0o700)) }, true, "not a regular file"},
		{"hard link", func(p string) { must(t, os.Link(secret, p)) }, true, "2 hard links (not read)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hold")
			tt.make(path)
			done := make(chan struct{})
			var reason string
			var held bool
			go func() {
				defer close(done)
				reason, held = (&Checker{File: path}).Check(t.Context())
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Check blocked")
			}
			if held != tt.held || !strings.Contains(reason, tt.reason) || len(reason) > fleet.MaxHoldReason+len(path)+60 {
				t.Fatalf("Check = %q, %v; want held %v with %q", reason, held, tt.held, tt.reason)
			}
			if strings.Contains(reason, "secret") {
				t.Fatalf("the reason shows a file it must not read: %q", reason)
			}
		})
	}
	// The directory missing is no hold either.
	if r, held := (&Checker{File: filepath.Join(secret, "hold")}).Check(t.Context()); held {
		t.Errorf("a hold file under a regular file: held (%q)", r)
	}
}

func write(s string) func(string) {
	return func(p string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			panic(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestHoldURL(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		held    bool
		reason  string
	}{
		{"200", func(w http.ResponseWriter, _ *http.Request) {}, false, ""},
		{"404", http.NotFound, false, ""},
		{"423", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusLocked)
			w.Write([]byte("migrating the database\x07\nmore"))
		}, true, "migrating the database?"},
		{"423 empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusLocked) }, true, "gives no reason"},
		{"423 endless body", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusLocked)
			for range 1 << 12 {
				if _, err := w.Write([]byte(strings.Repeat("y", 1<<10))); err != nil {
					return
				}
			}
		}, true, strings.Repeat("y", fleet.MaxHoldReason)},
		{"500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, true, "answered 500"},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}, true, "answered 302"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, true, "did not answer (timed out)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := &Checker{URL: srv.URL + "/hold", Timeout: 300 * time.Millisecond}
			reason, held := c.Check(t.Context())
			if held != tt.held || !strings.Contains(reason, tt.reason) || len(reason) > 200 {
				t.Fatalf("Check = %q, %v; want held %v with %q", reason, held, tt.held, tt.reason)
			}
		})
	}
	// Nothing listening: the service is not running, so no hold.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if r, held := (&Checker{URL: "http://" + addr + "/hold"}).Check(t.Context()); held {
		t.Errorf("nothing listening: held (%q)", r)
	}
}

// A file and a URL both hold: both reasons are given.
func TestHoldBoth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hold")
	write("from the file\n")(path)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusLocked)
		w.Write([]byte("from the URL"))
	}))
	defer srv.Close()
	reason, held := (&Checker{File: path, URL: srv.URL}).Check(t.Context())
	if !held || reason != "from the file; from the URL" {
		t.Fatalf("Check = %q, %v", reason, held)
	}
}
