package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// A toy format stands in for a package, since release knows none: a
// header "need=NNNNNNNNNN\n" saying how many first bytes describe the
// object, then its version on one line, then anything.
const toyHeader = len("need=0000000000\n")

// toyObject is an object of size bytes whose first need bytes describe
// it as version.
func toyObject(need, size int, version string) []byte {
	b := fmt.Appendf(nil, "need=%010d\n%s\n", need, version)
	return append(b, bytes.Repeat([]byte{'.'}, size-len(b))...)
}

// readToy is the PrefixReader of the toy format. It fails the test when
// called while another call runs: ReadPlain runs one read at a time.
func readToy(t *testing.T) PrefixReader {
	var running atomic.Int32
	return func(prefix []byte) (PlainPackage, int64, error) {
		if running.Add(1) > 1 {
			t.Error("two reads at once")
		}
		defer running.Add(-1)
		if len(prefix) < toyHeader {
			return PlainPackage{}, int64(toyHeader), nil
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(string(prefix[:toyHeader-1]), "need="), 10, 64)
		if !bytes.HasPrefix(prefix, []byte("need=")) || err != nil {
			return PlainPackage{}, 0, errors.New("not a toy")
		}
		if n > int64(len(prefix)) {
			return PlainPackage{}, n, nil
		}
		version, _, _ := strings.Cut(string(prefix[toyHeader:n]), "\n")
		return PlainPackage{Package: "toy", Version: version, Architecture: "all"}, 0, nil
	}
}

// putPlain uploads body to a with a plain PutObject, as aws s3 cp does,
// and returns its VersionId.
func putPlain(t *testing.T, srv *testenv.S3Server, a Address, body []byte) string {
	t.Helper()
	out, err := srv.Client().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// rangeLog records the ranged GETs a proxy sees, by VersionId.
type rangeLog struct {
	mu     sync.Mutex
	ranges map[string][]string // VersionId -> Range headers, in order
	heads  int
}

func (l *rangeLog) before(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Has("versions") {
			return
		}
		vid := r.URL.Query().Get("versionId")
		l.ranges[vid] = append(l.ranges[vid], r.Header.Get("Range"))
	case http.MethodHead:
		l.heads++
	}
}

// Versions without a manifest get their package read from their first
// bytes: one ranged GET of 64 KiB pinned to the VersionId, a second one
// when the reader asks for more, never past 1 MiB; every failure is that
// version's PlainErr; versions with a manifest and delete markers cost
// nothing.
func TestReadPlain(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	garbage := randomBytes(t, 3000)
	garbage[0] = 'x'
	tests := []struct {
		name       string
		body       []byte // nil: a published release
		wantRanges []string
		want       string // the version read, or (prefixed with "error: ") PlainErr
	}{
		{"small", toyObject(30, 100, "1.0"), []string{"bytes=0-99"}, "1.0"},
		{"within 64 KiB", toyObject(1000, 200<<10, "1.1"), []string{"bytes=0-65535"}, "1.1"},
		{"needs 100 KiB", toyObject(100<<10, 300<<10, "1.2"), []string{"bytes=0-65535", "bytes=65536-102399"}, "1.2"},
		{"needs 1 MiB", toyObject(1<<20, 1<<20+10, "1.3"), []string{"bytes=0-65535", "bytes=65536-1048575"}, "1.3"},
		{"needs past 1 MiB", toyObject(1<<20+1, 2<<20, "1.4"), []string{"bytes=0-65535"},
			"error: reading it takes its first 1048577 bytes, more than the 1048576 read of a version without a manifest"},
		{"truncated", toyObject(5000, 1000, "1.5"), []string{"bytes=0-999"}, "error: truncated: reading it takes its first 5000 bytes, the object has 1000"},
		{"garbage", garbage, []string{"bytes=0-2999"}, "error: not a toy"},
		{"long version", toyObject(400, 400, strings.Repeat("9", 300)), []string{"bytes=0-399"}, "error: its version is 300 bytes long, more than the 256 kept"},
		{"empty", []byte{}, nil, "error: the object is empty"},
		{"published", nil, nil, ""},
	}
	ids := map[string]string{} // VersionId -> test name
	for _, tt := range tests {
		if tt.body == nil {
			ids[publishBytes(t, c, a, randomBytes(t, 100), "2.0").VersionID] = tt.name
			continue
		}
		ids[putPlain(t, srv, a, tt.body)] = tt.name
	}
	if _, err := srv.Client().DeleteObject(testCtx(t), &s3.DeleteObjectInput{Bucket: &a.Bucket, Key: &a.Key}); err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	log := &rangeLog{ranges: map[string][]string{}}
	proxy.SetFault(realparts.Fault{Before: log.before})
	pc, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := pc.History(testCtx(t), a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.ReadPlain(testCtx(t), a, hist, readToy(t)); err != nil {
		t.Fatal(err)
	}
	byName := map[string]Version{}
	for _, v := range hist {
		if v.DeleteMarker {
			if v.Plain != nil || v.PlainErr != nil || len(log.ranges[v.VersionID]) != 0 {
				t.Errorf("delete marker: %+v, %v, ranges %q", v.Plain, v.PlainErr, log.ranges[v.VersionID])
			}
			continue
		}
		byName[ids[v.VersionID]] = v
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := byName[tt.name]
			got := ""
			switch {
			case v.PlainErr != nil:
				got = "error: " + v.PlainErr.Error()
			case v.Plain != nil:
				got = v.Plain.Version
			}
			if got != tt.want || v.Plain != nil && v.PlainErr != nil {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if r := log.ranges[v.VersionID]; strings.Join(r, " ") != strings.Join(tt.wantRanges, " ") {
				t.Errorf("ranged GETs %q, want %q", r, tt.wantRanges)
			}
		})
	}
}

// A reader that asks for more after the second GET gets no third: the
// version's PlainErr says so.
func TestReadPlainTwoGetsAtMost(t *testing.T) {
	srv := s3env.Server(t)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	vid := putPlain(t, srv, a, toyObject(10, 200<<10, "1.0"))
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	log := &rangeLog{ranges: map[string][]string{}}
	proxy.SetFault(realparts.Fault{Before: log.before})
	c, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := c.History(testCtx(t), a, 0)
	if err != nil {
		t.Fatal(err)
	}
	greedy := func(prefix []byte) (PlainPackage, int64, error) {
		return PlainPackage{}, int64(len(prefix)) + 1000, nil
	}
	if err := c.ReadPlain(testCtx(t), a, hist, greedy); err != nil {
		t.Fatal(err)
	}
	want := "it asks for its first 67536 bytes after reading 66536 it had asked for"
	if hist[0].PlainErr == nil || hist[0].PlainErr.Error() != want {
		t.Errorf("PlainErr %v, want %q", hist[0].PlainErr, want)
	}
	if r := log.ranges[vid]; len(r) != 2 {
		t.Errorf("ranged GETs %q, want 2", r)
	}
}

// On a bucket without versioning the current object's VersionId is
// "null", which versitygw does not take: the GETs go without one, and the
// second must come from the object the first came from. An upload between
// the two makes that version's PlainErr ErrPreconditionFailed, instead of
// a package read from the start of one object and the rest of another.
func TestReadPlainUnversioned(t *testing.T) {
	srv := s3env.Server(t)
	a := Address{Bucket: srv.Bucket(t, false), Key: "app/production.deb"}
	putPlain(t, srv, a, toyObject(100<<10, 200<<10, "1.0"))
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	c, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	for _, overwrite := range []bool{false, true} {
		hist, err := c.History(testCtx(t), a, 0)
		if err != nil {
			t.Fatal(err)
		}
		proxy.SetFault(realparts.Fault{Before: func(r *http.Request) {
			if overwrite && strings.HasPrefix(r.Header.Get("Range"), "bytes=65536-") {
				putPlain(t, srv, a, toyObject(100<<10, 200<<10, "6.6"))
			}
		}})
		if err := c.ReadPlain(testCtx(t), a, hist, readToy(t)); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(hist) != 1:
			t.Fatalf("history %+v", hist)
		case !overwrite && (hist[0].Plain == nil || hist[0].Plain.Version != "1.0"):
			t.Errorf("read %+v, %v", hist[0].Plain, hist[0].PlainErr)
		case overwrite && !errors.Is(hist[0].PlainErr, ErrPreconditionFailed):
			t.Errorf("overwritten between the GETs: read %+v, %v", hist[0].Plain, hist[0].PlainErr)
		}
	}
}

// An endpoint that lists a negative size gets the version called empty,
// not a panic: the listing is the server's word, not a bound to trust.
func TestReadPlainNegativeSize(t *testing.T) {
	srv := s3env.Server(t)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	putPlain(t, srv, a, toyObject(30, 100, "1.0"))
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	proxy.SetFault(realparts.Fault{Response: func(resp *http.Response) error {
		if !resp.Request.URL.Query().Has("versions") {
			return nil
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		body = regexp.MustCompile(`<Size>\d+</Size>`).ReplaceAll(body, []byte("<Size>-5</Size>"))
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return err
	}})
	c, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := c.History(testCtx(t), a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Size != -5 {
		t.Fatalf("history %+v: the listing was not rewritten", hist)
	}
	if err := c.ReadPlain(testCtx(t), a, hist, readToy(t)); err != nil {
		t.Fatal(err)
	}
	if hist[0].Plain != nil || hist[0].PlainErr == nil || hist[0].PlainErr.Error() != "the object is empty" {
		t.Errorf("read %+v, %v", hist[0].Plain, hist[0].PlainErr)
	}
}

// A server that answers the second ranged GET with some other range (here
// none: the object from its start) gets the version a PlainErr, instead
// of the reader seeing the object's start twice.
func TestReadPlainWrongRange(t *testing.T) {
	srv := s3env.Server(t)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	putPlain(t, srv, a, toyObject(100<<10, 200<<10, "1.0"))
	proxy := testenv.StartS3Proxy(t, srv.Endpoint)
	proxy.SetFault(realparts.Fault{Response: func(resp *http.Response) error {
		if strings.HasPrefix(resp.Request.Header.Get("Range"), "bytes=65536-") {
			resp.Header.Del("Content-Range")
		}
		return nil
	}})
	c, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := c.History(testCtx(t), a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReadPlain(testCtx(t), a, hist, readToy(t)); err != nil {
		t.Fatal(err)
	}
	if hist[0].Plain != nil || hist[0].PlainErr == nil || !strings.Contains(hist[0].PlainErr.Error(), `asked for bytes 65536-102399, got the range ""`) {
		t.Errorf("read %+v, %v", hist[0].Plain, hist[0].PlainErr)
	}
}
