package realparts

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startProxy starts an S3Proxy in front of handler, both stopped when t
// ends.
func startProxy(t *testing.T, handler http.HandlerFunc) *S3Proxy {
	t.Helper()
	backend := httptest.NewServer(handler)
	t.Cleanup(backend.Close)
	p, err := StartS3Proxy(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// do sends one request through p and returns the status, the body and
// the error reading it.
func do(t *testing.T, p *S3Proxy, method, path string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestS3ProxyReadsStatusPUTs: the proxy learns the state a status PUT
// reports and forwards the body unchanged.
func TestS3ProxyReadsStatusPUTs(t *testing.T) {
	var got []byte
	p := startProxy(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	})
	body := `{"host":"web-1","state":"installing","since":"2026-01-01T00:00:00Z"}`
	req, err := http.NewRequest(http.MethodPut, p.URL+"/bkt/app/production.deb.status/web-1.json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if string(got) != body {
		t.Errorf("backend got %q, want %q", got, body)
	}
	reqs := p.Between(time.Time{}, time.Now().Add(time.Second))
	if len(reqs) != 1 || reqs[0].Host != "web-1" || reqs[0].State != "installing" || reqs[0].Kind != KindStatus || reqs[0].Code != http.StatusOK {
		t.Errorf("recorded %+v", reqs)
	}
}

// TestS3ProxyStatusFault: the next Times requests get the status and an
// S3 error document (none for HEAD) and never reach the server; each is
// recorded, with what failed, by the time its answer is read.
func TestS3ProxyStatusFault(t *testing.T) {
	var reached atomic.Int32
	p := startProxy(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "fine")
	})
	p.SetFault(Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown", Times: 2})
	for i, want := range []struct {
		method string
		code   int
		body   string
	}{
		{http.MethodGet, 503, "<Code>SlowDown</Code>"},
		{http.MethodHead, 503, ""},
		{http.MethodGet, 200, "fine"},
	} {
		code, body, err := do(t, p, want.method, "/bkt/app/production.deb?versionId=1")
		if err != nil || code != want.code || !strings.Contains(body, want.body) || (want.body == "" && body != "") {
			t.Errorf("request %d: %d %q %v, want %d with %q", i+1, code, body, err, want.code, want.body)
		}
		if n := len(p.Requests()); n != i+1 {
			t.Errorf("after request %d: %d recorded", i+1, n)
		}
	}
	if n := reached.Load(); n != 1 {
		t.Errorf("%d requests reached the server, want 1", n)
	}
	reqs := p.Requests()
	if reqs[0].Code != 503 || reqs[0].Target != "/app/production.deb?versionId" || reqs[2].Code != 200 || reqs[2].Target != "" {
		t.Errorf("recorded %+v", reqs)
	}
	// SetFault again starts a new count; the zero Fault forwards.
	p.SetFault(Fault{Status: http.StatusForbidden})
	for range 2 {
		if code, _, _ := do(t, p, http.MethodGet, "/bkt/k"); code != http.StatusForbidden {
			t.Errorf("got %d, want 403 with no Times limit", code)
		}
	}
	p.SetFault(Fault{})
	if code, _, _ := do(t, p, http.MethodGet, "/bkt/k"); code != http.StatusOK {
		t.Errorf("got %d after the fault was cleared", code)
	}
}

// TestS3ProxyCutBodyAfter: a GET's answer stops after the given number of
// body bytes and the client sees it cut; a HEAD passes.
func TestS3ProxyCutBodyAfter(t *testing.T) {
	p := startProxy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		if r.Method == http.MethodGet {
			w.Write([]byte(strings.Repeat("x", 1000)))
		}
	})
	p.SetFault(Fault{CutBodyAfter: 100})
	code, body, err := do(t, p, http.MethodGet, "/bkt/k")
	if code != http.StatusOK || len(body) != 100 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("GET: %d, %d bytes, %v; want 200, 100 bytes, unexpected EOF", code, len(body), err)
	}
	if code, _, err := do(t, p, http.MethodHead, "/bkt/k"); code != http.StatusOK || err != nil {
		t.Errorf("HEAD: %d, %v", code, err)
	}
}

// TestS3ProxyResponse: Response changes each forwarded answer; its error
// answers 502.
func TestS3ProxyResponse(t *testing.T) {
	p := startProxy(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "abc")
	})
	p.SetFault(Fault{Response: func(r *http.Response) error {
		if r.Request.URL.Query().Has("fail") {
			return errors.New("refused")
		}
		r.Body = io.NopCloser(strings.NewReader("abd"))
		return nil
	}})
	if code, body, err := do(t, p, http.MethodGet, "/bkt/k"); code != http.StatusOK || body != "abd" || err != nil {
		t.Errorf("got %d %q %v, want the edited body", code, body, err)
	}
	if code, _, _ := do(t, p, http.MethodGet, "/bkt/k?fail"); code != http.StatusBadGateway {
		t.Errorf("got %d, want 502 when Response fails", code)
	}
}

// TestS3ProxyBefore: Before runs for the requests Match picks, Times
// counting, once each is recorded and before it reaches the server,
// outside the proxy's lock: it can send a request through the proxy.
func TestS3ProxyBefore(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	event := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	p := startProxy(t, func(w http.ResponseWriter, r *http.Request) { event("server " + r.URL.Path) })
	p.SetFault(Fault{Times: 1, Match: func(r *http.Request) bool { return r.Method == http.MethodGet }, Before: func(r *http.Request) {
		event("before " + r.URL.Path)
		resp, err := http.Head(p.URL + "/bkt/during")
		if err != nil {
			t.Errorf("a request from Before: %v", err)
			return
		}
		resp.Body.Close()
	}})
	do(t, p, http.MethodGet, "/bkt/first")
	do(t, p, http.MethodGet, "/bkt/second")
	do(t, p, http.MethodHead, "/bkt/head")
	want := []string{"before /bkt/first", "server /bkt/during", "server /bkt/first", "server /bkt/second", "server /bkt/head"}
	if !slices.Equal(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
	var methods []string
	for _, q := range p.Requests() {
		methods = append(methods, q.Method)
	}
	if want := []string{"GET", "HEAD", "GET", "HEAD"}; !slices.Equal(methods, want) {
		t.Errorf("recorded %q, want %q: the first GET on arrival, before Before's HEAD", methods, want)
	}
}

func TestErrorTarget(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://h/bkt/app/production.deb?versionId=1&x-id=GetObject", "/app/production.deb?versionId,x-id"},
		{"http://h/bkt/app/production.deb.status/web-1.json", "/app/production.deb.status/HOST?"},
		{"http://h/bkt?versioning", "/?versioning"},
		{"http://h/bkt/app/production.deb.leases/12.json?x-id=GetObject", "/app/production.deb.leases/SLOT?x-id"},
		{"http://h/bkt/app/production.deb.rollout/abc123/halt.json", "/app/production.deb.rollout/SHA256/halt.json?"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := errorTarget(u); got != tc.want {
			t.Errorf("errorTarget(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestRequestKind(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://h/bkt/app/production.deb", KindRelease},
		{"http://h/bkt/app/production.deb?partNumber=2&versionId=1", KindPart},
		{"http://h/bkt/app/production.deb.status/web-1.json", KindStatus},
		{"http://h/bkt/app/production.deb.leases/3.json", KindLease},
		{"http://h/bkt/app/production.deb.rollout/abc/halt.json", KindRollout},
		{"http://h/bkt/app/production.deb.rollout/abc/failed/web-1.json", KindRollout},
		{"http://h/bkt?list-type=2&prefix=app%2Fproduction.deb.rollout%2F", KindList},
		{"http://h/bkt", KindList},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := requestKind(u); got != tc.want {
			t.Errorf("requestKind(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}
