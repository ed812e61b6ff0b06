package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxRecords bounds the request log: 200 agents polling every second for
// an hour stay well below it.
const maxRecords = 2_000_000

// request is one S3 request seen by the proxy.
type request struct {
	at     time.Time
	method string
	status bool // the key is a status object, not the release
	code   int
	// target is, for errors only, the path past the bucket and the
	// query's parameter names: what failed, not for whom.
	target string
	// kind is what the request touches: kindRelease, kindStatus,
	// kindLease, kindRollout (halt and failure records) or kindList.
	kind string
	// host and state are, for a status PUT, the host and the state it
	// reported: the proxy sees every state change of every agent.
	host, state string
}

// Kinds of request, by the object they touch.
const (
	kindRelease = "release"
	kindStatus  = "status"
	kindLease   = "lease"
	kindRollout = "rollout"
	kindList    = "list"
)

// maxStatusBody bounds what the proxy buffers of a status PUT.
const maxStatusBody = 64 << 10

// stateField finds the state in a status object's JSON, also inside an
// aws-chunked body.
var stateField = regexp.MustCompile(`"state":"([a-z-]+)"`)

// countingProxy forwards every request to the S3 server unchanged and
// records it, so requests are counted where S3 sees them (retries
// included), not where the agent thinks it sent them.
type countingProxy struct {
	rp        *httputil.ReverseProxy
	transport *http.Transport

	mu      sync.Mutex
	reqs    []request
	dropped int
}

func newCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	// 200 agents keep connections open to the proxy; without a large idle
	// pool every request would open a new connection to versitygw and the
	// proxy would measure its own churn.
	p := &countingProxy{transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// The agent signed the Host it dialled (the proxy's);
			// versitygw checks the signature against the Host it
			// receives, so it must arrive unchanged.
			r.Out.Host = r.In.Host
		},
		Transport: p.transport,
		// A failed forward is answered 502 and counted as an error;
		// the ones logged would only be agents cut off by their stop.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return p, nil
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := request{method: r.Method, kind: requestKind(r.URL)}
	q.status = q.kind == kindStatus
	if q.status && r.Method == http.MethodPut && r.ContentLength > 0 && r.ContentLength <= maxStatusBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxStatusBody))
		r.Body.Close()
		if err == nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			if m := stateField.FindSubmatch(body); m != nil {
				q.state = string(m[1])
				q.host = statusHost(r.URL.Path)
			}
		}
	}
	rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
	p.rp.ServeHTTP(rec, r)
	q.at, q.code = time.Now(), rec.code
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) >= maxRecords {
		p.dropped++
		return
	}
	if rec.code >= 400 {
		q.target = errorTarget(r.URL)
	}
	p.reqs = append(p.reqs, q)
}

// closeIdle closes the proxy's pooled connections to versitygw, which
// would otherwise hold up its graceful shutdown.
func (p *countingProxy) closeIdle() { p.transport.CloseIdleConnections() }

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
		return kindList
	case strings.Contains(key, ".status/"):
		return kindStatus
	case strings.Contains(key, ".leases/"):
		return kindLease
	case strings.Contains(key, ".rollout/"):
		return kindRollout
	default:
		return kindRelease
	}
}

// statusHost is the host of a status object's path ".../<key>.status/<host>.json".
func statusHost(path string) string {
	_, h, _ := strings.Cut(path, ".status/")
	return strings.TrimSuffix(h, ".json")
}

// between returns the requests recorded in [from, to).
func (p *countingProxy) between(from, to time.Time) []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []request
	for _, q := range p.reqs {
		if !q.at.Before(from) && q.at.Before(to) {
			out = append(out, q)
		}
	}
	return out
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// breakdown summarises requests as "N HEAD (N 304), N GET, N PUT status".
type breakdown struct {
	total, head, notModified, get, putStatus, other, errors int
	// errorKinds counts the errors by "METHOD status".
	errorKinds map[string]int
}

// errorText is e.g. "200 errors (200 GET 403)", or "0 errors".
func (b breakdown) errorText() string {
	if b.errors == 0 {
		return "0 errors"
	}
	var kinds []string
	for k, n := range b.errorKinds {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	slices.Sort(kinds)
	return fmt.Sprintf("%d errors (%s)", b.errors, strings.Join(kinds, ", "))
}

func summarise(reqs []request) breakdown {
	b := breakdown{errorKinds: map[string]int{}}
	for _, q := range reqs {
		b.total++
		switch {
		case q.method == http.MethodHead:
			b.head++
			if q.code == http.StatusNotModified {
				b.notModified++
			}
		case q.method == http.MethodGet && !q.status:
			b.get++
		case q.method == http.MethodPut && q.status:
			b.putStatus++
		default:
			b.other++
		}
		if q.code >= 400 && q.code != http.StatusNotModified && q.code != http.StatusPreconditionFailed {
			b.errors++
			b.errorKinds[fmt.Sprintf("%s %d %s", q.method, q.code, q.target)]++
		}
	}
	return b
}

// peakPerSecond is the largest number of requests in one whole second.
func peakPerSecond(reqs []request) int {
	per := map[int64]int{}
	peak := 0
	for _, q := range reqs {
		s := q.at.Unix()
		per[s]++
		peak = max(peak, per[s])
	}
	return peak
}
