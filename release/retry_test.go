package release

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
)

// flakyProxy forwards to the real server but answers the first fail
// requests itself with status (a throttling or server error), as an
// overloaded S3 does.
func flakyProxy(t *testing.T, backend string, fail int64, status int, code string) *realparts.S3Proxy {
	t.Helper()
	p := testenv.StartS3Proxy(t, backend)
	p.SetFault(realparts.Fault{Status: status, Code: code, Times: int(fail)})
	return p
}

func TestRetriesAreBounded(t *testing.T) {
	srv := s3env.Server(t)
	seed := testClient(t, srv)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	publishVersions(t, seed, a, "1.0")
	tests := []struct {
		name         string
		fail         int64
		status       int
		code         string
		wantErr      bool
		wantRequests int64
	}{
		{"throttled twice, then fine", 2, 503, "SlowDown", false, 3},
		{"server error twice, then fine", 2, 500, "InternalError", false, 3},
		{"always throttled: gives up after 3 attempts", 100, 503, "SlowDown", true, 3},
		{"access denied is not retried", 100, 403, "AccessDenied", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := flakyProxy(t, srv.Endpoint, tt.fail, tt.status, tt.code)
			// A short backoff keeps the test fast; the bound is the attempt count.
			c, err := New(context.Background(), Options{Endpoint: proxy.URL, Region: srv.Region, Credentials: srv.Credentials(), MaxBackoff: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.History(testCtx(t), a, 0) // ListObjectVersions, then one HEAD
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			reqs := int64(len(proxy.Requests()))
			if !tt.wantErr {
				reqs-- // the HEAD after the listing
			}
			if reqs != tt.wantRequests {
				t.Errorf("%d requests for the listing, want %d", reqs, tt.wantRequests)
			}
			if tt.status == 403 && !errors.Is(err, ErrAccessDenied) {
				t.Errorf("got %v, want ErrAccessDenied", err)
			}
			if tt.wantErr && tt.status != 403 && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), tt.code)) {
				t.Errorf("transient failure reported as %v", err)
			}
		})
	}
}
