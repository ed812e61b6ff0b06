//go:build linux

package restart_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testcert"
)

// streamUpgrades is how many upgrades the long-lived clients live through.
const streamUpgrades = 10

// outcome is what a real client saw across the upgrades.
type outcome struct {
	done       int64 // messages answered, events read, calls or requests made
	failures   int64
	lost       int64
	reconnects int64
	gens       int // distinct generations that answered, where the client can tell
	errors     map[string]int
}

func fromStreams(r *realparts.StreamResult) outcome {
	return outcome{r.Messages, r.Failures, r.Lost + r.Duplicates, r.Reconnects, len(r.Generations), r.Errors}
}

func fromLoad(r *realparts.LoadResult) outcome {
	return outcome{done: r.Requests, failures: r.Failures, errors: r.Errors}
}

// h2cClient speaks HTTP/2 without TLS from the first byte (prior
// knowledge), as gRPC clients and h2load do.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// tlsFiles writes a self-signed certificate for 127.0.0.1 and its key
// into a temporary directory, and returns the files' flags for hello and
// a client that trusts the certificate and speaks HTTP/2 over TLS.
func tlsFiles(t *testing.T) ([]string, *http.Client) {
	t.Helper()
	certPEM, keyPEM, err := testcert.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	var p http.Protocols
	p.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return []string{"--tls-cert", cert, "--tls-key", key}, client
}

// streamClients is how many websocket or event clients run at once.
const streamClients = 4

// gens follows which generation each stream client heard from last.
type gens struct {
	mu   sync.Mutex
	last map[int]string // by client
}

func (g *gens) seen(client int, gen string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last[client] = gen
}

// wait waits until every client has heard from the generation pid.
func (g *gens) wait(t *testing.T, s *service, pid int) {
	t.Helper()
	want := fmt.Sprintf("gen=%d", pid)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := realparts.WaitFor(ctx, "every client to hear from "+want, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for c := range streamClients {
			if g.last[c] != want {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, s.log)
	}
}

// TestStreamsAcrossUpgrades runs real clients of long-lived connections
// (coder/websocket, server-sent events with Last-Event-ID, grpc-go, Go's
// HTTP/2 client over h2c) against a service upgraded streamUpgrades times,
// and wants no failure, nothing lost, and the websocket and event clients
// moved to every new generation.
func TestStreamsAcrossUpgrades(t *testing.T) {
	const run = 90 * time.Second // an upper bound: the clients stop after the last upgrade
	tlsArgs, tlsClient := tlsFiles(t)
	for _, tc := range []struct {
		name     string
		bin      func() string
		args     []string // more flags for the service
		load     func(ctx context.Context, addr string, g *gens) outcome
		followed bool // every client follows the upgrades: it reconnects, and sees every generation
	}{
		{"websocket", func() string { return bins.hello }, nil, func(ctx context.Context, addr string, g *gens) outcome {
			return fromStreams(realparts.WebSockets(ctx, realparts.StreamOptions{URL: "ws://" + addr + "/ws", Clients: streamClients, Duration: run, Seen: g.seen}))
		}, true},
		{"events", func() string { return bins.hello }, nil, func(ctx context.Context, addr string, g *gens) outcome {
			return fromStreams(realparts.Events(ctx, realparts.StreamOptions{URL: "http://" + addr + "/events?every=10ms", Clients: streamClients, Duration: run, Seen: g.seen}))
		}, true},
		{"grpc", func() string { return bins.grpc }, nil, func(ctx context.Context, addr string, g *gens) outcome {
			r, err := realparts.GRPCLoad(ctx, realparts.LoadOptions{Addr: addr, Workers: 8, Duration: run, MaxRequests: 2_000_000})
			if err != nil {
				return outcome{failures: 1, errors: map[string]int{err.Error(): 1}}
			}
			return fromLoad(r)
		}, false},
		{"h2c", func() string { return bins.hello }, nil, func(ctx context.Context, addr string, g *gens) outcome {
			return fromLoad(realparts.Load(ctx, realparts.LoadOptions{HTTPClient: h2cClient(), URL: "http://" + addr + "/", Workers: 8, Duration: run, MaxRequests: 2_000_000}))
		}, false},
		{"h2 over TLS", func() string { return bins.hello }, tlsArgs, func(ctx context.Context, addr string, g *gens) outcome {
			if err := wantHTTP2(ctx, tlsClient, "https://"+addr+"/"); err != nil {
				return outcome{failures: 1, errors: map[string]int{err.Error(): 1}}
			}
			return fromLoad(realparts.Load(ctx, realparts.LoadOptions{HTTPClient: tlsClient, URL: "https://" + addr + "/", Workers: 8, Duration: run, MaxRequests: 2_000_000}))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startService(t, startOptions{bin: tc.bin(), args: tc.args})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g := &gens{last: make(map[int]string)}
			done := make(chan outcome, 1)
			go func() { done <- tc.load(ctx, s.addr, g) }()
			pid := s.pid()
			for i := range streamUpgrades + 1 {
				if tc.followed {
					g.wait(t, s, pid)
				} else {
					time.Sleep(150 * time.Millisecond) // calls and requests go on meanwhile
				}
				if i < streamUpgrades {
					pid = s.upgrade(0)
				}
			}
			cancel()
			o := <-done
			t.Logf("%+v", o)
			if o.failures != 0 || o.lost != 0 {
				t.Errorf("%d failures, %d lost or repeated: %v", o.failures, o.lost, o.errors)
			}
			if o.done < 100 {
				t.Errorf("only %d done: the clients did not run", o.done)
			}
			if tc.followed && (o.gens != streamUpgrades+1 || o.reconnects < streamUpgrades) {
				t.Errorf("%d generations answered after %d reconnects, want %d after at least %d", o.gens, o.reconnects, streamUpgrades+1, streamUpgrades)
			}
			if n := s.count(`upgrade failed|drain timed out`); n != 0 {
				t.Errorf("%d upgrades failed or drains timed out", n)
			}
		})
	}
}

// wantHTTP2 makes one request and fails unless it went over HTTP/2.
func wantHTTP2(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		return fmt.Errorf("%s answered over %s, want HTTP/2", url, resp.Proto)
	}
	return nil
}
