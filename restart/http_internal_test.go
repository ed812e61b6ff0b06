//go:build linux

package restart

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDrainMarksResponses checks that once draining, every kind of
// response (written, flushed, empty) closes its connection, and that drain
// waits for a request in flight.
func TestDrainMarksResponses(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "x") })
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "x")
		w.(http.Flusher).Flush()
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "held")
	})
	srv := &http.Server{Handler: mux}
	d := newDrainer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// One keep-alive connection per path, opened before the drain.
	paths := []string{"/write", "/flush", "/empty"}
	conns := make(map[string]net.Conn)
	for _, p := range append(paths, "/hold") {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[p] = c
	}
	get := func(p string) *http.Response {
		t.Helper()
		c := conns[p]
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		resp.Body.Close()
		return resp
	}
	for _, p := range paths {
		if resp := get(p); resp.Close {
			t.Errorf("GET %s before the drain closes the connection", p)
		}
	}
	fmt.Fprint(conns["/hold"], "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)

	drained := make(chan error, 1)
	go func() {
		drained <- d.drain(ln, served, 5*time.Second, 10*time.Second, slog.New(slog.DiscardHandler))
	}()
	time.Sleep(50 * time.Millisecond)
	for _, p := range paths {
		if resp := get(p); !resp.Close {
			t.Errorf("GET %s while draining keeps the connection open", p)
		}
	}
	select {
	case err := <-drained:
		t.Fatalf("drain returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(conns["/hold"]), nil)
	if err != nil || !resp.Close {
		t.Fatalf("request in flight: %v, %v; want an answer that closes the connection", resp, err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}

func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pid")
	for _, tc := range []struct {
		content string
		ok      bool
	}{
		{"123\n", true}, {"123", true}, {"  77 ", true}, {"", false}, {"0\n", false}, {"-1\n", false}, {"12a\n", false},
	} {
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPIDFile(path); (err == nil) != tc.ok {
			t.Errorf("ReadPIDFile(%q) error %v, want ok=%v", tc.content, err, tc.ok)
		}
	}
	if _, err := ReadPIDFile(filepath.Join(dir, "missing.pid")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadPIDFile of a missing file: %v, want fs.ErrNotExist", err)
	}
	if err := writePIDFile(path, 42); err != nil {
		t.Fatal(err)
	}
	if pid, err := ReadPIDFile(path); err != nil || pid != 42 {
		t.Fatalf("read back %d, %v", pid, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	// Only the process named may remove it.
	if err := removePIDFile(path, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("removed by another PID: %v", err)
	}
	if err := removePIDFile(path, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("not removed: %v", err)
	}
	if err := removePIDFile(path, 42); err != nil {
		t.Errorf("removing a missing PID file: %v", err)
	}
}
