package realparts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions describe a bounded HTTP load: Workers clients, each sending
// one GET at a time, until Duration has passed, MaxRequests have been sent
// or the context ends, whichever comes first.
type LoadOptions struct {
	// Network is "tcp" (default) or "unix".
	Network string
	// Addr is host:port, or the socket path for "unix".
	Addr string
	// Path is the request path, default "/".
	Path string
	// Workers is the number of concurrent clients, default 8.
	Workers int
	// KeepAlive reuses each client's connection until the server closes it;
	// otherwise every request opens a new connection.
	KeepAlive bool
	// Duration bounds the run; default 10 s.
	Duration time.Duration
	// MaxRequests bounds the number of requests; default 1,000,000.
	MaxRequests int64
	// Timeout bounds each request; default 10 s.
	Timeout time.Duration
	// HTTPClient, if set, sends each request as a GET of URL, instead of
	// the built-in HTTP/1.1 client (Network, Addr, Path and KeepAlive are
	// then unused): an HTTP/2 client, say. Its transport's own retries
	// (HTTP/2 streams refused by a GOAWAY) are not failures.
	HTTPClient *http.Client
	URL        string
}

// Sample is one request: when it started, how long it took, whether it got
// a 2xx answer.
type Sample struct {
	Start   time.Time
	Latency time.Duration
	OK      bool
}

// LoadResult counts what happened.
type LoadResult struct {
	Requests int64 // requests sent, answered or not
	Failures int64 // requests without a 2xx answer: refused, reset, closed without answer, timed out, or a non-2xx status
	// Errors holds up to 20 distinct failure messages with their counts.
	Errors map[string]int
	// Samples holds every request, in no particular order.
	Samples []Sample
}

// Load sends requests as opts says and returns the counts. Unlike
// net/http's client it never retries: like wrk, a request lost because a
// server closed a connection under it counts as a failure, which is what a
// zero-downtime restart must avoid. It speaks plain HTTP/1.1.
func Load(ctx context.Context, opts LoadOptions) *LoadResult {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()

	host := opts.Addr
	if opts.Network == "unix" {
		host = "localhost"
	}
	req := "GET " + opts.Path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: debfleet-load\r\n"
	if !opts.KeepAlive {
		req += "Connection: close\r\n"
	}
	reqBytes := []byte(req + "\r\n")

	var (
		sent atomic.Int64
		mu   sync.Mutex
		res  = &LoadResult{Errors: make(map[string]int)}
		wg   sync.WaitGroup
	)
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w loadDoer = &loadWorker{opts: opts, req: reqBytes}
			if opts.HTTPClient != nil {
				w = &clientWorker{opts: opts}
			}
			defer w.close()
			var samples []Sample
			failures := make(map[string]int)
			for ctx.Err() == nil && sent.Add(1) <= opts.MaxRequests {
				start := time.Now()
				// A request started before the end of the run finishes (within
				// Timeout): cutting it short would count a failure that is
				// not the server's.
				err := w.do()
				samples = append(samples, Sample{Start: start, Latency: time.Since(start), OK: err == nil})
				if err != nil {
					failures[err.Error()]++
					time.Sleep(time.Millisecond) // a refusing server must not spin us
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.add(samples, failures)
		}()
	}
	wg.Wait()
	res.Requests = int64(len(res.Samples))
	return res
}

// withDefaults returns opts with its zero values replaced by the defaults.
func (opts LoadOptions) withDefaults() LoadOptions {
	if opts.Network == "" {
		opts.Network = "tcp"
	}
	if opts.Path == "" {
		opts.Path = "/"
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = 1_000_000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return opts
}

// add merges one worker's samples and failures into r.
func (r *LoadResult) add(samples []Sample, failures map[string]int) {
	r.Samples = append(r.Samples, samples...)
	for msg, n := range failures {
		r.Failures += int64(n)
		if _, ok := r.Errors[msg]; ok || len(r.Errors) < 20 {
			r.Errors[msg] += n
		}
	}
}

// loadDoer sends one request per call to do.
type loadDoer interface {
	do() error
	close()
}

type loadWorker struct {
	opts LoadOptions
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func (w *loadWorker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

func (w *loadWorker) do() error {
	if w.conn == nil {
		conn, err := net.DialTimeout(w.opts.Network, w.opts.Addr, w.opts.Timeout)
		if err != nil {
			return fmt.Errorf("connect: %w", unwrapOp(err))
		}
		w.conn, w.br = conn, bufio.NewReader(conn)
	}
	if err := w.conn.SetDeadline(time.Now().Add(w.opts.Timeout)); err != nil {
		w.close()
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := w.conn.Write(w.req); err != nil {
		w.close()
		return fmt.Errorf("write: %w", unwrapOp(err))
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.close()
		return fmt.Errorf("read: %w", unwrapOp(err))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		w.close()
		return fmt.Errorf("read body: %w", unwrapOp(err))
	}
	if !w.opts.KeepAlive || resp.Close {
		w.close()
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// clientWorker sends requests through LoadOptions.HTTPClient.
type clientWorker struct{ opts LoadOptions }

func (w *clientWorker) close() {}

func (w *clientWorker) do() error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.opts.URL, nil)
	if err != nil {
		return err
	}
	resp, err := w.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("request: %w", unwrapOp(err))
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read body: %w", unwrapOp(err))
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// unwrapOp drops the addresses from a *net.OpError so that the same failure
// on different connections counts as one kind.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return fmt.Errorf("%s: %w", op.Op, op.Err)
	}
	return err
}

// Percentile returns the p-th percentile (0-100) of the latencies of the
// answered samples for which keep returns true (nil keeps all), or 0 if
// there are none.
func Percentile(samples []Sample, p float64, keep func(Sample) bool) time.Duration {
	var lat []time.Duration
	for _, s := range samples {
		if s.OK && (keep == nil || keep(s)) {
			lat = append(lat, s.Latency)
		}
	}
	if len(lat) == 0 {
		return 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	i := int(float64(len(lat)-1) * p / 100)
	return lat[i]
}
