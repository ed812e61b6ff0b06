package restart

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/testcert"
)

// TestDrainHTTP2OverTLS drains a server whose clients speak HTTP/2 over TLS
// (Go's client) while a second server, on a duplicate of the same socket as
// the next generation gets it, takes over: no request may fail.
func TestDrainHTTP2OverTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Each answer takes a moment, so that streams are in flight
			// whenever the drain acts.
			time.Sleep(2 * time.Millisecond)
			fmt.Fprint(w, name)
		})
	}
	old := &http.Server{Handler: named("old")}
	d := newDrainer(old)
	served := make(chan error, 1)
	go func() { served <- old.Serve(tls.NewListener(ln, cfg)) }()
	defer old.Close()

	var p http.Protocols
	p.SetHTTP2(true)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	l := startH2Load(client, "https://"+ln.Addr().String()+"/")
	defer l.stop()
	l.waitFor(t, "old")
	// The next generation starts once the clients' connection is the old one's.
	next := &http.Server{Handler: named("new")}
	go func() { _ = next.Serve(tls.NewListener(ln2, cfg)) }()
	defer next.Close()
	if err := d.drain(ln, served, 100*time.Millisecond, 5*time.Second, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "new")
	l.stop()
	if n := l.failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed: %v", n, l.requests.Load(), l.firstErr())
	}
}

// h2Load sends GETs from 8 goroutines until stopped, counting what failed
// or did not come over HTTP/2, and remembering who answered.
type h2Load struct {
	requests, failures atomic.Int64
	mu                 sync.Mutex
	answered           map[string]bool
	err                error
	done               chan struct{}
	wg                 sync.WaitGroup
	once               sync.Once
}

func startH2Load(client *http.Client, url string) *h2Load {
	l := &h2Load{answered: make(map[string]bool), done: make(chan struct{})}
	for range 8 {
		l.wg.Go(func() {
			for i := 0; i < 1_000_000; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				l.requests.Add(1)
				if err := l.get(client, url); err != nil {
					l.failures.Add(1)
					l.mu.Lock()
					l.err = err
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *h2Load) get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 100))
	if err != nil {
		return err
	}
	if resp.ProtoMajor != 2 {
		return fmt.Errorf("answered over %s", resp.Proto)
	}
	l.mu.Lock()
	l.answered[string(b)] = true
	l.mu.Unlock()
	return nil
}

// waitFor waits until the server named name has answered.
func (l *h2Load) waitFor(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		ok := l.answered[name]
		l.mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatalf("no answer from %s within 10s: %v", name, l.firstErr())
}

func (l *h2Load) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}

func (l *h2Load) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// selfSigned returns a server TLS configuration offering HTTP/2 with a
// certificate for 127.0.0.1, and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := testcert.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}, pool
}
