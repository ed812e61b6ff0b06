package release

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// dropServer accepts connections on 127.0.0.1 and hangs up on each one
// after reading the start of the request: with reset, by an RST (as a
// crashing server does), else by a FIN (a proxy closing an idle
// connection). It stops when t ends.
func dropServer(t *testing.T, reset bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if reset {
				conn.Read(make([]byte, 64))
				conn.(*net.TCPConn).SetLinger(0)
			} else if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
				// Read it all, so that the close is a clean FIN and
				// the client sees EOF instead of a reset.
				io.Copy(io.Discard, req.Body)
			}
			conn.Close()
		}
	}()
	return l.Addr().String()
}

func TestConnectionDropsAreUnreachable(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()
	for _, tt := range []struct {
		name string
		addr string
	}{
		{"connection refused", refusedAddr},
		{"closed during send", dropServer(t, false)},
		{"reset during send", dropServer(t, true)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(context.Background(), Options{Endpoint: "http://" + tt.addr, Region: "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), MaxBackoff: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			a := Address{Bucket: "b", Key: "k.deb"}
			_, _, err = c.HeadIfNoneMatch(testCtx(t), a, "")
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("HEAD: got %v, want ErrUnreachable", err)
			}
			_, err = c.Records().Put(testCtx(t), a, map[string]string{"host": "web-1"})
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("PUT: got %v, want ErrUnreachable", err)
			}
		})
	}
}
