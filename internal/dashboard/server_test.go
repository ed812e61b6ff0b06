package dashboard

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestPageEscapesWhatAgentsWrite: a status object's host name, version,
// state and error, which any agent can write, reach the page as text;
// and every answer carries the headers that would stop a script anyway.
func TestPageEscapesWhatAgentsWrite(t *testing.T) {
	srv := s3env.Server(t)
	c := newClient(t, srv, "")
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	publish(t, c, ch, "1.0", nil)
	hostile := `<img src=x onerror=alert(1)>`
	st := &fleet.HostStatus{Host: hostile, Version: `"><script>alert(2)</script>`, State: `ok' onmouseover='alert(3)`,
		Error: "</td></tr></table><script>alert(4)</script>", Since: time.Now(), Time: time.Now()}
	if err := fleet.New(c.Records(), nil).PutStatus(t.Context(), ch, st); err != nil {
		t.Fatal(err)
	}
	_, url := startDashboard(t, Options{Client: c, Bucket: ch.Bucket})
	body := waitPage(t, url+"/", "&lt;img src=x onerror=alert(1)&gt;", 20*time.Second)
	for _, raw := range []string{"<img", "<script>alert", `onmouseover='`, "</td></tr></table><script>"} {
		if strings.Contains(body, raw) {
			t.Errorf("the page holds %q as markup", raw)
		}
	}
	for _, escaped := range []string{"&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(4)&lt;/script&gt;", "&#34;&gt;&lt;script&gt;alert(2)"} {
		if !strings.Contains(body, escaped) {
			t.Errorf("the page does not show %q as text", escaped)
		}
	}
}

// TestHeadersAndMethods: every answer carries the security headers; the
// server answers GET and HEAD only, and only to a Host it knows.
func TestHeadersAndMethods(t *testing.T) {
	srv := s3env.Server(t)
	c := newClient(t, srv, "")
	bucket := srv.Bucket(t, true)
	_, url := startDashboard(t, Options{Client: c, Bucket: bucket, Hosts: []string{"dash.example"}})
	tests := []struct {
		method, path, host string
		want               int
	}{
		{"GET", "/", "", http.StatusOK},
		{"HEAD", "/", "", http.StatusOK},
		{"GET", "/static/app.js", "", http.StatusOK},
		{"GET", "/static/style.css", "", http.StatusOK},
		{"GET", "/api/status?channel=s3://" + bucket + "/nothing", "", http.StatusNotFound},
		{"GET", "/nothing", "", http.StatusNotFound},
		{"POST", "/", "", http.StatusMethodNotAllowed},
		{"PUT", "/api/status", "", http.StatusMethodNotAllowed},
		{"DELETE", "/", "", http.StatusMethodNotAllowed},
		{"GET", "/", "localhost:8080", http.StatusOK},
		{"GET", "/", "[::1]:8080", http.StatusOK},
		{"GET", "/", "dash.example", http.StatusOK},
		{"GET", "/", "attacker.example:8080", http.StatusMisdirectedRequest},
		{"GET", "/", "127.0.0.1.attacker.example", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		code, h, _ := get(t, tt.method, url+tt.path, tt.host)
		if code != tt.want {
			t.Errorf("%s %s (Host %q): %d, want %d", tt.method, tt.path, tt.host, code, tt.want)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s: CSP %q lacks %q", tt.method, tt.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("CSP %q allows unsafe sources", csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no X-Content-Type-Options: nosniff", tt.method, tt.path)
		}
	}
}

// TestTabsCostS3Nothing: pages, JSON and event streams are served from
// memory; only the refresh loop reads S3, once per channel per interval
// however many tabs ask.
func TestTabsCostS3Nothing(t *testing.T) {
	srv := s3env.Server(t)
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	c := newClient(t, srv, proxy.URL)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	publish(t, c, ch, "1.0", nil)
	// An interval longer than the test: the loop reads once, at start.
	_, url := startDashboard(t, Options{Client: c, Bucket: ch.Bucket, Interval: time.Hour})
	waitPage(t, url+"/", "hello 1.0", 20*time.Second)
	before := len(proxy.Requests())
	for range 20 {
		for _, path := range []string{"/", "/api/status?channel=" + ch.String()} {
			if code, _, body := get(t, "GET", url+path, ""); code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
		}
	}
	if after := proxy.Requests(); len(after) != before {
		t.Errorf("40 requests to the dashboard made %d requests to S3: %+v", len(after)-before, after[before:])
	}
}

// TestRefreshReadsOnlyChanged: a refresh GETs only the status objects
// that changed since the last one (a dashboard left open on 1000 hosts
// would otherwise GET 500 objects a second), and shows the change.
func TestRefreshReadsOnlyChanged(t *testing.T) {
	srv := s3env.Server(t)
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	c := newClient(t, srv, proxy.URL)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	publish(t, c, ch, "1.0", nil)
	fc := fleet.New(c.Records(), nil)
	report := func(host, state string) {
		t.Helper()
		if err := fc.PutStatus(t.Context(), ch, &fleet.HostStatus{Host: host, State: state, Time: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		report(fmt.Sprintf("web-%d", i), fleet.StateNone)
	}
	s, err := New(Options{Client: c, Bucket: ch.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	s.rediscover(t.Context())
	// refresh refreshes every channel and returns the status GETs it
	// made and the channel's summary.
	refresh := func() (int, *fleet.Summary) {
		t.Helper()
		before := len(proxy.Requests())
		s.refreshAll(t.Context())
		gets := 0
		for _, q := range proxy.Requests()[before:] {
			if q.Kind == realparts.KindStatus && q.Method == http.MethodGet {
				gets++
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.channels[channelID(ch)]
		if c == nil || c.err != nil || c.sum == nil {
			t.Fatalf("channel not read: %+v", c)
		}
		return gets, c.sum
	}
	if gets, sum := refresh(); gets != 5 || sum.Counts.Hosts != 5 {
		t.Fatalf("first refresh: %d GETs, %d hosts; want 5, 5", gets, sum.Counts.Hosts)
	}
	if gets, _ := refresh(); gets != 0 {
		t.Errorf("nothing changed: %d GETs, want 0", gets)
	}
	report("web-3", fleet.StateFailed)
	if gets, sum := refresh(); gets != 1 || sum.Counts.Failed != 1 {
		t.Errorf("one host failed: %d GETs, %d failed; want 1, 1", gets, sum.Counts.Failed)
	}
}

// TestCandidates: which keys under a prefix may be channels.
func TestCandidates(t *testing.T) {
	keys := func(names ...string) []listedKey {
		var out []listedKey
		for _, n := range names {
			out = append(out, listedKey{Key: n, ETag: "e"})
		}
		return out
	}
	names := func(ks []listedKey) []string {
		out := []string{}
		for _, k := range ks {
			out = append(out, k.Key)
		}
		return out
	}
	tests := []struct {
		name             string
		keys             []listedKey
		reported, others []string
	}{
		{"empty", nil, []string{}, []string{}},
		{"a channel with hosts, its records, another key", keys(
			"a/prod.deb", "a/prod.deb.leases/0.json", "a/prod.deb.rollout/abc/halt.json", "a/prod.deb.status/web-1.json",
			"a/staging.deb", "notes.txt"),
			[]string{"a/prod.deb"}, []string{"a/staging.deb", "notes.txt"}},
		{"status objects of a deleted channel", keys("gone.deb.status/web-1.json", "x.deb"), []string{}, []string{"x.deb"}},
		{"a host named like a marker", keys("k.deb", "k.deb.status/.status/.json"), []string{"k.deb"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, o := candidates(tt.keys)
			if !slices.Equal(names(r), tt.reported) || !slices.Equal(names(o), tt.others) {
				t.Errorf("reported %q others %q; want %q %q", names(r), names(o), tt.reported, tt.others)
			}
		})
	}
}

// TestDiscover: the channels under a prefix are the keys with status
// objects and the releases; other objects and records are not.
func TestDiscover(t *testing.T) {
	srv := s3env.Server(t)
	c := newClient(t, srv, "")
	bucket := srv.Bucket(t, true)
	reported := release.Address{Bucket: bucket, Key: "svc/a.deb"}
	quiet := release.Address{Bucket: bucket, Key: "svc/b.deb"}
	publish(t, c, reported, "1.0", nil)
	publish(t, c, quiet, "1.0", nil)
	if err := fleet.New(c.Records(), nil).PutStatus(t.Context(), reported, &fleet.HostStatus{Host: "web-1", State: fleet.StateNone}); err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(t.TempDir(), "readme.txt")
	if err := os.WriteFile(readme, []byte("not a release"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.AWS(t, "s3api", "put-object", "--bucket", bucket, "--key", "svc/readme.txt", "--body", readme)
	publish(t, c, release.Address{Bucket: bucket, Key: "other/c.deb"}, "1.0", nil)
	s, err := New(Options{Client: c, Bucket: bucket, Prefix: "svc/"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []release.Address{reported, quiet}; !slices.Equal(d.channels, want) || len(d.notes) != 0 {
		t.Errorf("channels %v notes %q; want %v", d.channels, d.notes, want)
	}
	s.o.MaxChannels = 1
	if d, err = s.discover(t.Context()); err != nil || len(d.channels) != 1 || len(d.notes) != 1 {
		t.Errorf("with at most 1 channel: %v %q %v", d.channels, d.notes, err)
	}
}
