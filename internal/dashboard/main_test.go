package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

var s3env = testenv.NewS3Env()

func TestMain(m *testing.M) {
	code := m.Run()
	s3env.Close()
	os.Exit(code)
}

// newClient returns a release client for srv, through endpoint when not
// "" (a proxy in front of it).
func newClient(t testing.TB, srv *testenv.S3Server, endpoint string) *release.Client {
	t.Helper()
	if endpoint == "" {
		endpoint = srv.Endpoint
	}
	c, err := release.New(t.Context(), release.Options{Endpoint: endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// publish builds package hello at version and publishes it, unsigned,
// with policy p (nil: the default), to ch; it returns the manifest.
func publish(t testing.TB, c *release.Client, ch release.Address, version string, p *fleet.Policy) *release.Manifest {
	t.Helper()
	path := testenv.BuildAgentDeb(t, testenv.AgentDeb{Package: "hello", Version: version})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := deb.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	m := &release.Manifest{Package: pkg.Control.Package, Version: pkg.Control.Version, Architecture: pkg.Control.Architecture,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), PublishedAt: time.Now().UTC().Truncate(time.Second), Publisher: "ci@test"}
	if p != nil {
		if err := p.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Publish(t.Context(), ch, release.PublishInput{Body: bytes.NewReader(b), Manifest: m}); err != nil {
		t.Fatal(err)
	}
	return m
}

// startDashboard runs a Server over bucket (prefix "") on 127.0.0.1 for
// the rest of t, and returns its URL.
func startDashboard(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	hs.Start()
	t.Cleanup(func() {
		cancel()
		hs.Close()
		<-done
	})
	return s, hs.URL
}

// get fetches url and returns the answer's code, headers and body (at
// most 4 MiB).
func get(t testing.TB, method, url, host string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// waitPage fetches the page until it contains want, for at most limit.
func waitPage(t testing.TB, url, want string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, _, body := get(t, http.MethodGet, url, "")
		if strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %q within %v:\n%s", want, limit, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
