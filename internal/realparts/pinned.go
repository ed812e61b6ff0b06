package realparts

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// PinnedConn is a plain HTTP/1.1 connection that one chosen process of a
// service (one generation of a restart-enabled service) has answered, so
// that the next request on it is that process's to serve or drain.
type PinnedConn struct {
	net.Conn
	br *bufio.Reader
}

// DialServedBy opens connections to addr until one whose answer to GET /
// contains marker (a version, "(pid N)") and keeps the connection open: a
// generation that drains says "Connection: close". Each connection's
// deadline is now plus life. It gives up when ctx ends.
func DialServedBy(ctx context.Context, addr, marker string, life time.Duration) (*PinnedConn, error) {
	var last string
	for ctx.Err() == nil {
		conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		_ = conn.SetDeadline(time.Now().Add(life))
		c := &PinnedConn{Conn: conn, br: bufio.NewReader(conn)}
		body, closing, err := c.Get("/")
		if err == nil && !closing && strings.Contains(body, marker) {
			return c, nil
		}
		last = body
		conn.Close()
	}
	return nil, fmt.Errorf("no connection to %s answered by %q (last answer %q): %w", addr, marker, last, ctx.Err())
}

// Get sends GET path and reads the answer: its body (at most 4 KiB), and
// whether the server closes the connection after it. A status other than
// 200 is an error.
func (c *PinnedConn) Get(path string) (body string, closing bool, err error) {
	if _, err := fmt.Fprintf(c.Conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		return "", false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), resp.Close, err
}

// Send sends GET path without reading the answer: the request stays in
// flight, as a long one does while the test or benchmark goes on.
func (c *PinnedConn) Send(path string) error {
	_, err := fmt.Fprintf(c.Conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	return err
}
