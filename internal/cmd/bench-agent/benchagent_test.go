package main

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
)

func TestPercentile(t *testing.T) {
	xs := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {95, 10}, {100, 10}, {10, 1}, {0, 1}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]int64(nil), 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestInstalledVersion(t *testing.T) {
	for _, tc := range []struct {
		name, status, want string
	}{
		{"none", "", ""},
		{"installed", "Package: other\nStatus: install ok installed\nVersion: 9\n\nPackage: p\nStatus: install ok installed\nVersion: 2\n", "2"},
		{"half-installed", "Package: p\nStatus: install reinstreq half-installed\nVersion: 2\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.status != "" {
				if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(tc.status), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := installedVersion(root, "p")
			if err != nil || got != tc.want {
				t.Errorf("installedVersion = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	at := time.Unix(100, 0)
	reqs := []realparts.S3Request{
		{At: at, Method: http.MethodHead, Code: http.StatusNotModified},
		{At: at, Method: http.MethodHead, Code: http.StatusOK},
		{At: at.Add(time.Second), Method: http.MethodGet, Code: http.StatusOK},
		{At: at.Add(time.Second), Method: http.MethodPut, Kind: realparts.KindStatus, Code: http.StatusOK},
		{At: at.Add(time.Second), Method: http.MethodPut, Code: http.StatusForbidden, Target: "/k?"},
	}
	got := summarise(reqs)
	want := breakdown{total: 5, head: 2, notModified: 1, get: 1, putStatus: 1, other: 1, errors: 1}
	if got.errorText() != "1 errors (1 PUT 403 /k?)" {
		t.Errorf("errorText = %q", got.errorText())
	}
	got.errorKinds = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summarise = %+v, want %+v", got, want)
	}
	if p := peakPerSecond(reqs); p != 3 {
		t.Errorf("peakPerSecond = %d, want 3", p)
	}
}

// TestProcReaders reads this test's own process: the figures must be
// there and plausible.
func TestProcReaders(t *testing.T) {
	c, err := readCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c.self <= 0 {
		t.Errorf("time on CPU = %v, want > 0", c.self)
	}
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.anon <= 0 || m.rss < m.anon || m.peak < m.rss {
		t.Errorf("memory = %+v, want 0 < RssAnon <= VmRSS <= VmHWM", m)
	}
}

// TestTestenvHelpers runs the testenv helpers through driverTB, and a
// failure inside one as an error rather than a crash.
func TestTestenvHelpers(t *testing.T) {
	dir := t.TempDir()
	root, err := dpkgRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/dpkg/status")); err != nil {
		t.Errorf("dpkg root: %v", err)
	}
	deb, err := agentDeb(t.Context(), dir, "benchpkg", "1")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(deb); err != nil || fi.Size() == 0 {
		t.Errorf("package %s: %v", deb, err)
	}
	if _, err := agentDeb(t.Context(), dir, "Not A Name", "1"); err == nil {
		t.Error("building a package with an invalid name succeeded")
	}
}

// TestInstallingOverTime replays status PUTs: hosts enter and leave the
// installing state, a failed PUT counts for nothing.
func TestInstallingOverTime(t *testing.T) {
	at := time.Unix(100, 0)
	put := func(s int, host, state string, code int) realparts.S3Request {
		return realparts.S3Request{At: at.Add(time.Duration(s) * time.Second), Method: http.MethodPut, Kind: realparts.KindStatus, Host: host, State: state, Code: code}
	}
	tl := installingOverTime([]realparts.S3Request{
		put(1, "a", "installing", 200),
		put(2, "b", "installing", 200),
		put(2, "c", "installing", 503),
		put(3, "a", "installing", 200), // a heartbeat: still one host
		put(4, "a", "ok", 200),
		{At: at.Add(5 * time.Second), Method: http.MethodHead, Kind: realparts.KindRelease, Code: 200},
		put(6, "b", "rolled-back", 200),
	})
	if tl.peak != 2 {
		t.Errorf("peak = %d, want 2", tl.peak)
	}
	for _, tc := range []struct {
		s    int
		want int
	}{{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 1}, {5, 1}, {6, 0}, {9, 0}} {
		if got := tl.at(at.Add(time.Duration(tc.s) * time.Second)); got != tc.want {
			t.Errorf("installing at +%ds = %d, want %d", tc.s, got, tc.want)
		}
	}
	c := countKinds([]realparts.S3Request{put(1, "a", "ok", 200), {Method: http.MethodGet, Kind: realparts.KindRollout, Code: 404}, {Method: http.MethodPut, Kind: realparts.KindLease, Code: 412}})
	if c[realparts.KindStatus].put != 1 || c[realparts.KindRollout].notFound != 1 || c[realparts.KindLease].preconditionFailed != 1 {
		t.Errorf("countKinds = status %+v rollout %+v lease %+v", *c[realparts.KindStatus], *c[realparts.KindRollout], *c[realparts.KindLease])
	}
}

// TestSplitLatency: each host's time is split at its first accepted
// "installing" PUT; a refused PUT, another state, another host's PUT and
// a host without one are left out. The rollout's window ends at the last
// accepted "ok" PUT.
func TestSplitLatency(t *testing.T) {
	at := time.Unix(100, 0)
	sec := func(s int) time.Time { return at.Add(time.Duration(s) * time.Second) }
	put := func(s int, host, state string, code int) realparts.S3Request {
		return realparts.S3Request{At: sec(s), Method: http.MethodPut, Kind: realparts.KindStatus, Host: host, State: state, Code: code}
	}
	hosts := []string{"a", "b", "c"}
	got := installingAt([]realparts.S3Request{
		put(1, "a", "installing", 503),
		put(2, "a", "installing", 200),
		put(3, "a", "installing", 200), // a retry of the same state
		put(4, "b", "ok", 200),
		put(5, "x", "installing", 200),
		{At: sec(6), Method: http.MethodHead, Kind: realparts.KindRelease, Code: 200},
		put(7, "b", "installing", 200),
	}, hosts)
	want := []time.Time{sec(2), sec(7), {}}
	for i := range hosts {
		if !got[i].Equal(want[i]) {
			t.Errorf("installingAt %s = %v, want %v", hosts[i], got[i], want[i])
		}
	}
	reqs := []realparts.S3Request{put(2, "a", "installing", 200), put(8, "b", "ok", 200), put(9, "a", "ok", 503), put(11, "c", "failed", 200)}
	for _, tc := range []struct{ after, want time.Time }{{sec(5), sec(8)}, {sec(10), sec(10)}} {
		if got := lastStatus(reqs, "ok", tc.after); !got.Equal(tc.want) {
			t.Errorf("lastStatus(ok, after %v) = %v, want %v", tc.after, got, tc.want)
		}
	}
	noticed, installs := splitLatency(got, []time.Time{sec(0), sec(5), sec(0)}, []time.Time{sec(10), sec(8), sec(9)})
	if !reflect.DeepEqual(noticed, []time.Duration{2 * time.Second, 2 * time.Second}) || !reflect.DeepEqual(installs, []time.Duration{8 * time.Second, time.Second}) {
		t.Errorf("splitLatency = %v, %v; want [2s 2s], [8s 1s]", noticed, installs)
	}
}
