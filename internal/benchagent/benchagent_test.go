package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
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
	reqs := []request{
		{at: at, method: http.MethodHead, code: http.StatusNotModified},
		{at: at, method: http.MethodHead, code: http.StatusOK},
		{at: at.Add(time.Second), method: http.MethodGet, code: http.StatusOK},
		{at: at.Add(time.Second), method: http.MethodPut, status: true, code: http.StatusOK},
		{at: at.Add(time.Second), method: http.MethodPut, code: http.StatusForbidden, target: "/k?"},
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
	if m.rss <= 0 || m.peak < m.rss {
		t.Errorf("memory = %+v, want 0 < VmRSS <= VmHWM", m)
	}
}

// TestTestenvHelpers runs the testenv helpers through driverTB, and a
// failure inside one as an error rather than a crash.
func TestTestenvHelpers(t *testing.T) {
	dir := t.TempDir()
	root, err := dpkgRoot(t.Context(), dir)
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

func TestErrorTarget(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://h/bkt/app/production.deb?versionId=1&x-id=GetObject", "/app/production.deb?versionId,x-id"},
		{"http://h/bkt/app/production.deb.status/web-1.json", "/app/production.deb.status/HOST?"},
		{"http://h/bkt?versioning", "/?versioning"},
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
