package fleet

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// TestWatchReadErrors: readings that fail are reported once per kind of
// failure and tried again; the wait goes on to its outcome.
func TestWatchReadErrors(t *testing.T) {
	srv := s3env.Server(t)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	admin := testClient(t, srv)
	res := publishBytes(t, admin, ch, randomBytes(t, 1000), "1.0")
	obj, err := admin.Head(testCtx(t), ch, res.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	sha := obj.Manifest.SHA256
	if err := admin.PutStatus(testCtx(t), ch, &HostStatus{Host: "web-1", Package: "hello", State: StateInstalling,
		Target: &HostRelease{Version: "1.0", SHA256: sha}, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := testenv.StartS3Proxy(t, srv.Endpoint)
	c := newClients(t, release.Options{Endpoint: p.URL, Region: srv.Region, Credentials: srv.Credentials(), MaxAttempts: 1})

	// Watch's first HEAD passes; the next three (three readings) fail
	// the same way.
	var heads atomic.Int32
	p.SetFault(realparts.Fault{Status: http.StatusServiceUnavailable, Code: "SlowDown", Match: func(r *http.Request) bool {
		if r.Method != http.MethodHead {
			return false
		}
		n := heads.Add(1)
		return n >= 2 && n <= 4
	}})
	var mu sync.Mutex
	var kinds []string
	emit := func(e WaitEvent) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, e.Event)
	}
	w, err := c.Watch(testCtx(t), WatchInput{Channel: ch, Releases: c, Interval: 20 * time.Millisecond, Stale: time.Hour, Timeout: time.Minute,
		OnReading: func(*Progress) {
			if err := admin.PutStatus(testCtx(t), ch, &HostStatus{Host: "web-1", Package: "hello", State: StateOK, Version: "1.0", SHA256: sha, Time: time.Now()}); err != nil {
				t.Error(err)
			}
		}}, emit)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if w.Outcome != Deployed {
		t.Errorf("outcome %q, want deployed; events %v", w.Outcome, kinds)
	}
	if want := []string{EventReadError, EventStarted, EventHost, EventCompleted}; !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v (one read error for three readings failing the same way)", kinds, want)
	}
	if n := heads.Load(); n < 6 {
		t.Errorf("%d HEADs, want the 3 failed readings tried again", n)
	}
}
