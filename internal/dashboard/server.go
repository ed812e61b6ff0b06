package dashboard

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

//go:embed assets
var assets embed.FS

// Defaults for Options' zero values.
const (
	DefaultInterval    = 2 * time.Second
	DefaultStale       = 30 * time.Minute
	DefaultMaxChannels = 20
	DefaultMaxHosts    = 1000
	DefaultHistory     = 20
)

// Options configures a Server. Bucket and Client are required.
type Options struct {
	// Client reads the bucket.
	Client *release.Client
	// Bucket and Prefix say where to look for channels: every key under
	// Prefix (which may be "") that is a release.
	Bucket, Prefix string
	// Status reads one channel's summary, as `pkgdeb status` does,
	// keeping up to MaxHosts hosts and failing with
	// fleet.ErrTooManyHosts past MaxHosts status objects
	// (fleet.SummaryOptions.Limit), so that a refresh's memory is
	// bounded, and reading through cache, the channel's own (holding
	// up to MaxHosts hosts), so that a refresh GETs only the hosts that
	// reported since the last; nil reads the channel's current version
	// and fleet.Client.StreamSummary so.
	Status func(ctx context.Context, ch release.Address, cache *fleet.StatusCache) (*fleet.Summary, error)
	// WriteJSON writes a summary as `pkgdeb status --json` does, for the
	// JSON endpoint; nil uses encoding/json, indented.
	WriteJSON func(w io.Writer, v any) error
	// Interval is the time between two reads of each channel (default
	// DefaultInterval); Stale is passed to Status's default.
	Interval, Stale time.Duration
	// MaxChannels bounds the channels shown, MaxHosts the status objects
	// read per channel (a channel with more is shown as an error),
	// History the versions of a channel's history shown.
	MaxChannels, MaxHosts, History int
	// Hosts are the names the server may be reached by (the Host header,
	// without port) besides loopback ones: a request naming another host
	// is refused, so that a web page whose name resolves to this machine
	// (DNS rebinding) cannot read the dashboard.
	Hosts []string
	// Log receives the errors of reads; nil discards them.
	Log *slog.Logger
}

// Server is the dashboard: Run reads the channels, Handler serves them.
type Server struct {
	o    Options
	fc   *fleet.Client
	tmpl *template.Template

	// probed is owned by the refresh loop (see probe).
	probed map[listedKey]bool

	mu       sync.Mutex
	page     pageState
	channels map[string]*channel // by id
	changed  chan struct{}       // closed, and replaced, when anything changes
	gen      uint64              // counts the changes

	// wanted is when a page, event stream or JSON request last came
	// (Unix nanoseconds); streams counts the open event streams. The loop
	// reads S3 only while someone looks.
	wanted  atomic.Int64
	streams atomic.Int32
}

// New returns a Server for o; call Run to start reading.
func New(o Options) (*Server, error) {
	if o.Client == nil || o.Bucket == "" {
		return nil, errors.New("dashboard: a client and a bucket are required")
	}
	o.Interval = positive(o.Interval, DefaultInterval)
	o.Stale = positive(o.Stale, DefaultStale)
	o.MaxChannels = positive(o.MaxChannels, DefaultMaxChannels)
	o.MaxHosts = positive(o.MaxHosts, DefaultMaxHosts)
	o.History = positive(o.History, DefaultHistory)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, fc: fleet.New(o.Client.Records(), nil), channels: map[string]*channel{}, changed: make(chan struct{})}
	if s.o.Status == nil {
		s.o.Status = s.readSummary
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, err
	}
	s.tmpl = tmpl
	return s, nil
}

func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// readSummary is Options.Status's default: the channel's current version
// and its fleet summary.
func (s *Server) readSummary(ctx context.Context, ch release.Address, cache *fleet.StatusCache) (*fleet.Summary, error) {
	cur, err := s.o.Client.Head(ctx, ch, "")
	if err != nil {
		return nil, err
	}
	return s.fc.StreamSummary(ctx, ch, cur, time.Now(), fleet.SummaryOptions{Stale: s.o.Stale, MaxHosts: s.o.MaxHosts, Limit: s.o.MaxHosts, Cache: cache})
}

// securityHeaders are set on every answer. The policy allows scripts,
// styles and images from the server's own files only: no inline script,
// no inline style, no plug-ins, no framing, no form posts; the page reads
// its events from its own origin.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// Handler serves the page, its assets, the event stream and the JSON
// endpoint; it answers GET and HEAD only, and only to a Host it knows.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", noCache(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /api/status", s.serveStatus)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
			return
		}
		if !s.knownHost(r.Host) {
			http.Error(w, "unknown host name: reach the dashboard by its address", http.StatusMisdirectedRequest)
			return
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Second))
		mux.ServeHTTP(w, r)
	})
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// knownHost reports whether the Host header hostport names this server:
// a loopback address, localhost, or one of Options.Hosts.
func (s *Server) knownHost(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport // no port
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, ok := range s.o.Hosts {
		if strings.EqualFold(h, ok) {
			return true
		}
	}
	return false
}
