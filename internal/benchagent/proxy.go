package main

import (
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
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
}

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
	rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
	p.rp.ServeHTTP(rec, r)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) >= maxRecords {
		p.dropped++
		return
	}
	q := request{at: time.Now(), method: r.Method, status: strings.Contains(r.URL.Path, ".status/"), code: rec.code}
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
	if strings.Contains(key, ".status/") {
		key = key[:strings.Index(key, ".status/")] + ".status/HOST"
	}
	params := slices.Sorted(maps.Keys(u.Query()))
	return "/" + key + "?" + strings.Join(params, ",")
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
