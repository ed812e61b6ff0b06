package realparts

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// S3Request is one request an S3Proxy saw.
type S3Request struct {
	// At is when it arrived.
	At     time.Time
	Method string
	// Kind is what it touches: KindRelease, KindPart, KindStatus,
	// KindLease, KindRollout or KindList.
	Kind string
	// Code is the status it was answered with; 0 while the answer is
	// under way, or when the connection broke before one.
	Code int
	// Target is, for errors (Code >= 400) only, the path past the bucket
	// and the query's parameter names: what failed, not for whom.
	Target string
	// Host and State are, for a status PUT, the host and the state it
	// reported: the proxy sees every state change of every agent.
	Host, State string
}

// Kinds of request, by the object they touch in a release channel's
// layout (<key>, <key>.status/, <key>.leases/, <key>.rollout/).
const (
	KindRelease = "release"
	KindPart    = "part" // one part of a release (?partNumber): its upload, or a HEAD for its size
	KindStatus  = "status"
	KindLease   = "lease"
	KindRollout = "rollout" // halt and failure records
	KindList    = "list"
)

// Fault is what an S3Proxy does to requests instead of forwarding them
// unchanged; the zero Fault does nothing. Faults at the TCP level
// (resets, latency, bandwidth) are not here: internal/testenv puts
// toxiproxy in front of the proxy for those.
type Fault struct {
	// Status, when not 0, answers each request with this status without
	// forwarding it. Code, when also set, goes in an S3 error document in
	// the body (none for a HEAD), which the client reads as S3's error
	// code.
	Status int
	Code   string
	// CutBodyAfter, when above 0, forwards each GET and cuts its answer
	// after this many body bytes: the client gets the headers and the
	// start of the body, then the connection closes.
	CutBodyAfter int
	// Response, when set, is called with each forwarded answer before it
	// goes back and may change it (a header, the body), as a corrupting
	// middlebox would. An error answers 502.
	Response func(*http.Response) error
	// Match, when set, limits the fault to the requests it reports true
	// for (an IAM policy denying some calls); the others are forwarded
	// unchanged and not counted in Times. It runs with the proxy's lock
	// held and must not read the body.
	Match func(*http.Request) bool
	// Before, when set, is called with each request once it is recorded,
	// before it is forwarded or answered, outside the proxy's lock (it may
	// send requests through the proxy); the request waits for it. A test
	// makes something happen at an exact point of a client's sequence: a
	// publish between an agent's HEAD and its GET. It must not read the
	// body.
	Before func(*http.Request)
	// Times, when above 0, applies the fault to the next Times requests
	// only; the ones after them are forwarded unchanged.
	Times int
}

// maxRecords bounds the request log: 200 agents polling every second for
// an hour stay well below it.
const maxRecords = 2_000_000

// maxStatusBody bounds what the proxy buffers of a status PUT.
const maxStatusBody = 64 << 10

// stateField finds the state in a status object's JSON, also inside an
// aws-chunked body.
var stateField = regexp.MustCompile(`"state":"([a-z-]+)"`)

// S3Proxy is an HTTP reverse proxy (on 127.0.0.1 unless started with
// StartS3ProxyOn) in front of an S3 endpoint. It records every request where S3 sees it (SDK retries
// included), not where the client thinks it sent it, and injects the
// HTTP-level faults set with SetFault. Clients signed requests for the
// proxy's address, and the proxy keeps that Host, which S3 checks the
// signature against.
type S3Proxy struct {
	// URL is where clients connect, e.g. http://127.0.0.1:41234.
	URL string

	rp        *httputil.ReverseProxy
	transport *http.Transport
	srv       *http.Server

	mu        sync.Mutex
	reqs      []S3Request
	fault     Fault
	faultLeft int // of fault.Times
}

// faultKey carries the fault chosen for a request to ModifyResponse.
type faultKey struct{}

// StartS3Proxy starts a proxy on 127.0.0.1 in front of the S3 endpoint at
// target (a base URL). The caller must Close it.
func StartS3Proxy(target string) (*S3Proxy, error) {
	return StartS3ProxyOn(target, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
}

// StartS3ProxyOn is StartS3Proxy listening on a free port of ip, such as
// NonLoopbackIP, where release.New calls a plain http:// URL insecure.
func StartS3ProxyOn(target string, ip netip.Addr) (*S3Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	// Many agents keep connections open to the proxy; without a large
	// idle pool every request would open a new connection to the server
	// and the proxy would measure its own churn.
	p := &S3Proxy{transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the client signed this Host; keep it
		},
		ModifyResponse: func(resp *http.Response) error {
			if f, _ := resp.Request.Context().Value(faultKey{}).(Fault); f.Response != nil {
				return f.Response(resp)
			}
			return nil
		},
		Transport: p.transport,
		// A failed forward is answered 502 and recorded as such; the
		// ones logged would only be clients cut off by their stop.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return nil, fmt.Errorf("S3 proxy: %w", err)
	}
	p.URL = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// NonLoopbackIP returns an address of this machine that is not a loopback
// one (IPv4 first): what a test listens on to be reached at a URL that
// release.New calls insecure when it is plain http://.
func NonLoopbackIP() (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface addresses: %w", err)
	}
	var found []netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if ip = ip.Unmap(); ok && ip.IsGlobalUnicast() {
			found = append(found, ip)
		}
	}
	slices.SortStableFunc(found, func(a, b netip.Addr) int { return cmp.Compare(a.BitLen(), b.BitLen()) })
	if len(found) == 0 {
		return netip.Addr{}, errors.New("no address but loopback and link-local ones")
	}
	return found[0], nil
}

// Close stops the proxy, cutting the connections still open, and closes
// its pooled connections to the server, which would otherwise hold up the
// server's graceful shutdown.
func (p *S3Proxy) Close() error {
	err := p.srv.Close()
	p.transport.CloseIdleConnections()
	return err
}

// SetFault sets what the proxy does to the requests from now on; the zero
// Fault forwards them unchanged.
func (p *S3Proxy) SetFault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.faultLeft = f, f.Times
}

// Requests returns every request recorded so far, in order of arrival.
func (p *S3Proxy) Requests() []S3Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// Between returns the requests that arrived in [from, to).
func (p *S3Proxy) Between(from, to time.Time) []S3Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []S3Request
	for _, q := range p.reqs {
		if !q.At.Before(from) && q.At.Before(to) {
			out = append(out, q)
		}
	}
	return out
}

func (p *S3Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := S3Request{At: time.Now(), Method: r.Method, Kind: requestKind(r.URL)}
	if q.Kind == KindStatus && r.Method == http.MethodPut && r.ContentLength > 0 && r.ContentLength <= maxStatusBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxStatusBody))
		r.Body.Close()
		if err == nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			if m := stateField.FindSubmatch(body); m != nil {
				q.State = string(m[1])
				q.Host = statusHost(r.URL.Path)
			}
		}
	}
	i, f := p.arrived(q, r)
	rec := &codeRecorder{ResponseWriter: w}
	// Deferred, so that an answer cut short (a panic) is recorded too.
	defer func() { p.answered(i, rec.code, r.URL) }()
	if f.Before != nil {
		f.Before(r)
	}
	switch {
	case f.Status != 0:
		if f.Code != "" {
			w.Header().Set("Content-Type", "application/xml")
		}
		rec.WriteHeader(f.Status)
		if f.Code != "" && r.Method != http.MethodHead {
			fmt.Fprintf(rec, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, f.Code)
		}
	case f.CutBodyAfter > 0 && r.Method == http.MethodGet:
		p.rp.ServeHTTP(&cuttingWriter{ResponseWriter: rec, left: f.CutBodyAfter}, r)
	case f.Response != nil:
		p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), faultKey{}, f)))
	default:
		p.rp.ServeHTTP(rec, r)
	}
}

// arrived records q, made by r, and returns its index in the log (-1 when
// the log is full) and the fault to apply to it.
func (p *S3Proxy) arrived(q S3Request, r *http.Request) (int, Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	switch {
	case f.Match != nil && !f.Match(r):
		f = Fault{}
	case f.Times > 0:
		if p.faultLeft == 0 {
			f = Fault{}
		} else {
			p.faultLeft--
		}
	}
	if len(p.reqs) >= maxRecords {
		return -1, f
	}
	p.reqs = append(p.reqs, q)
	return len(p.reqs) - 1, f
}

// answered records the status request i was answered with.
func (p *S3Proxy) answered(i, code int, u *url.URL) {
	if i < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs[i].Code = code
	if code >= 400 {
		p.reqs[i].Target = errorTarget(u)
	}
}

// codeRecorder remembers the status of an answer.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	// The first final status counts: a 100 Continue goes by first, and
	// net/http ignores a second final one.
	if c.code == 0 && code >= 200 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// cuttingWriter aborts the answer after left body bytes, so the client
// sees the connection close mid-body.
type cuttingWriter struct {
	http.ResponseWriter
	left int
}

func (w *cuttingWriter) Write(b []byte) (int, error) {
	if len(b) > w.left {
		w.ResponseWriter.Write(b[:w.left])
		http.NewResponseController(w.ResponseWriter).Flush()
		panic(http.ErrAbortHandler)
	}
	w.left -= len(b)
	return w.ResponseWriter.Write(b)
}

func (w *cuttingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorTarget is "/key?param,param" for a path-style URL /bucket/key.
func errorTarget(u *url.URL) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	// Name what failed, not which host, slot or release: one line per
	// kind of failure.
	if i := strings.Index(key, ".status/"); i >= 0 {
		key = key[:i] + ".status/HOST"
	}
	if i := strings.Index(key, ".leases/"); i >= 0 {
		key = key[:i] + ".leases/SLOT"
	}
	if i := strings.Index(key, ".rollout/"); i >= 0 {
		rest := key[i+len(".rollout/"):]
		if j := strings.Index(rest, "/"); j >= 0 {
			rest = rest[j:]
		}
		key = key[:i] + ".rollout/SHA256" + rest
	}
	params := slices.Sorted(maps.Keys(u.Query()))
	return "/" + key + "?" + strings.Join(params, ",")
}

// requestKind classifies a path-style request /bucket/key?query.
func requestKind(u *url.URL) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	switch {
	case key == "" || u.Query().Has("list-type") || u.Query().Has("prefix"):
		return KindList
	case strings.Contains(key, ".status/"):
		return KindStatus
	case strings.Contains(key, ".leases/"):
		return KindLease
	case strings.Contains(key, ".rollout/"):
		return KindRollout
	case u.Query().Has("partNumber"):
		return KindPart
	default:
		return KindRelease
	}
}

// statusHost is the host of a status object's path ".../<key>.status/<host>.json".
func statusHost(path string) string {
	_, h, _ := strings.Cut(path, ".status/")
	return strings.TrimSuffix(h, ".json")
}
