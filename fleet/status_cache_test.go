package fleet

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

// statusGets counts the status GETs and LISTs p saw from the request
// numbered from on.
func statusGets(p *realparts.S3Proxy, from int) (gets, lists int) {
	for _, q := range p.Requests()[from:] {
		switch {
		case q.Kind == realparts.KindStatus && q.Method == http.MethodGet:
			gets++
		case q.Kind == realparts.KindList:
			lists++
		}
	}
	return gets, lists
}

// TestStatusCache: with a cache, a reading after the first GETs only the
// status objects whose ETag changed, sees every change (a new report, a
// new host, a deleted one, an object turned to garbage), and reads
// unreadable objects each time; a cache full at its bound reads the
// hosts it cannot hold each time, as with no cache.
func TestStatusCache(t *testing.T) {
	srv := s3env.Server(t)
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	c := newClients(t, release.Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials()})
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "app/cached.deb"}
	now := time.Now().UTC()
	report := func(host, version string) {
		t.Helper()
		st := &HostStatus{Host: host, Package: "app", Version: version, State: StateOK, Since: now, Time: time.Now().UTC()}
		if err := c.PutStatus(testCtx(t), ch, st); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		report(fmt.Sprintf("h-%02d", i), "1.0")
	}
	garbage := StatusAddress(ch, "h-broken")
	if _, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &garbage.Bucket, Key: &garbage.Key, Body: strings.NewReader("{not json")}); err != nil {
		t.Fatal(err)
	}
	// read reads the channel through cache and returns each host's
	// version ("!" for an unreadable object) and the GETs and LISTs it
	// cost.
	read := func(cache *StatusCache) (versions map[string]string, gets, lists int) {
		t.Helper()
		from := len(proxy.Requests())
		versions = map[string]string{}
		err := c.EachStatus(testCtx(t), ch, ReadOptions{Readers: 4, Cache: cache}, func(r *StatusRead) error {
			versions[r.Object.Host] = r.Status.Version
			if r.Err != nil {
				versions[r.Object.Host] = "!"
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		gets, lists = statusGets(proxy, from)
		return versions, gets, lists
	}
	cache := NewStatusCache(100)
	if v, gets, lists := read(cache); len(v) != 31 || gets != 31 || lists != 1 || cache.Len() != 30 {
		t.Fatalf("first reading: %d hosts, %d GETs, %d LISTs, %d cached; want 31, 31, 1, 30", len(v), gets, lists, cache.Len())
	}
	if _, gets, _ := read(cache); gets != 1 {
		t.Errorf("unchanged fleet: %d GETs, want 1 (the unreadable object)", gets)
	}

	report("h-03", "2.0")
	report("h-31", "2.0")
	deleted := StatusAddress(ch, "h-04")
	if _, err := c.S3().DeleteObject(testCtx(t), &s3.DeleteObjectInput{Bucket: &deleted.Bucket, Key: &deleted.Key}); err != nil {
		t.Fatal(err)
	}
	turned := StatusAddress(ch, "h-05")
	if _, err := c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &turned.Bucket, Key: &turned.Key, Body: strings.NewReader("[]")}); err != nil {
		t.Fatal(err)
	}
	v, gets, _ := read(cache)
	if gets != 4 {
		t.Errorf("after 2 reports, a deletion and a broken write: %d GETs, want 4 (h-03, h-31, h-05, h-broken)", gets)
	}
	if v["h-03"] != "2.0" || v["h-31"] != "2.0" || v["h-05"] != "!" || v["h-00"] != "1.0" || len(v) != 31 {
		t.Errorf("after the changes: %v", v)
	}
	if _, ok := v["h-04"]; ok || cache.Len() != 29 {
		t.Errorf("deleted h-04 still read, or cached (%d cached, want 29)", cache.Len())
	}
	if _, gets, _ := read(cache); gets != 2 {
		t.Errorf("unchanged again: %d GETs, want 2 (the unreadable objects)", gets)
	}

	small := NewStatusCache(10)
	read(small)
	if _, gets, _ := read(small); gets != 31-10 {
		t.Errorf("cache of 10: second reading %d GETs, want 21", gets)
	}
	if _, gets, _ := read(nil); gets != 31 {
		t.Errorf("no cache: %d GETs, want 31", gets)
	}
}
