package fleet

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

// denyingDoer plays the part of S3 under an IAM policy: it answers 403
// AccessDenied to the requests deny matches, as S3 does for a GET of a
// missing object when the caller may not list the bucket, and sends every
// other request to the real server.
type denyingDoer struct {
	deny   func(r *http.Request) bool
	denied atomic.Int64
}

func (d *denyingDoer) Do(r *http.Request) (*http.Response, error) {
	if d.deny(r) {
		d.denied.Add(1)
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`
		return &http.Response{
			StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/xml"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r,
		}, nil
	}
	return http.DefaultClient.Do(r)
}

func isList(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Has("list-type")
}

// TestMissingRecordsUnderIAM: agents may list only their channel's lease
// and rollout prefixes, so S3 answers their GET of a missing halt record
// or update slot 403; a listing must settle it as missing, and a 403 that
// a listing cannot settle must stay an error (never a guess that nothing
// is there).
func TestMissingRecordsUnderIAM(t *testing.T) {
	srv := s3env.Server(t)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	sha := strings.Repeat("ab", 32)
	admin := testClient(t, srv)
	client := func(t *testing.T, deny func(r *http.Request) bool) (clients, *denyingDoer) {
		d := &denyingDoer{deny: deny}
		return newClients(t, release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials(), HTTPClient: d, MaxAttempts: 1}), d
	}
	// S3 without s3:ListBucket on the bucket: every GET of a record
	// that does not exist is a 403.
	missingIs403 := func(r *http.Request) bool {
		return r.Method == http.MethodGet && !isList(r) && (strings.HasSuffix(r.URL.Path, "/halt.json") || strings.Contains(r.URL.Path, ".leases/"))
	}

	t.Run("missing halt record", func(t *testing.T) {
		c, d := client(t, missingIs403)
		rec, err := c.ReadHalt(testCtx(t), ch, sha)
		if err != nil || rec != nil {
			t.Fatalf("ReadHalt = %v, %v; want no record", rec, err)
		}
		st, err := c.ReadRolloutState(testCtx(t), ch, sha, 2)
		if err != nil || st.Halted || st.Record != nil {
			t.Fatalf("ReadRolloutState = %+v, %v; want not halted", st, err)
		}
		if d.denied.Load() != 2 {
			t.Errorf("%d requests denied, want the 2 halt GETs", d.denied.Load())
		}
	})
	t.Run("missing update slot", func(t *testing.T) {
		c, _ := client(t, missingIs403)
		l, err := c.AcquireLease(testCtx(t), ch, LeaseRequest{Slots: 1, Holder: "web-1", SHA256: sha, TTL: time.Minute})
		if err != nil {
			t.Fatalf("AcquireLease on a slot never taken: %v", err)
		}
		if err := l.Release(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("existing record denied", func(t *testing.T) {
		if _, _, err := admin.Halt(testCtx(t), ch, sha, "2.0", "ops", "test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Resume(testCtx(t), ch, sha, "2.0", "ops", "cleanup") })
		c, _ := client(t, func(r *http.Request) bool {
			return r.Method == http.MethodGet && !isList(r) && strings.HasSuffix(r.URL.Path, "/halt.json")
		})
		if rec, err := c.ReadHalt(testCtx(t), ch, sha); !errors.Is(err, release.ErrAccessDenied) || errors.Is(err, release.ErrNotFound) {
			t.Fatalf("ReadHalt of a denied, existing record = %v, %v; want access denied", rec, err)
		}
	})
	t.Run("no listing either", func(t *testing.T) {
		c, _ := client(t, func(r *http.Request) bool { return missingIs403(r) || isList(r) })
		other := strings.Repeat("cd", 32)
		if rec, err := c.ReadHalt(testCtx(t), ch, other); !errors.Is(err, release.ErrAccessDenied) || errors.Is(err, release.ErrNotFound) {
			t.Fatalf("ReadHalt without any listing = %v, %v; want access denied", rec, err)
		}
	})
	t.Run("auto-halt write denied", func(t *testing.T) {
		// Agents may not write halt records: the failure count still
		// halts the release for every reader.
		other := strings.Repeat("ef", 32)
		c, _ := client(t, func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/halt.json")
		})
		for _, h := range []string{"web-1", "web-2"} {
			if err := c.RecordFailure(testCtx(t), ch, FailureRecord{Host: h, Version: "2.0", SHA256: other, Outcome: "rolled-back", Time: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.HaltIfFailed(testCtx(t), ch, other, "2.0", 2, "web-2"); !errors.Is(err, release.ErrAccessDenied) {
			t.Errorf("HaltIfFailed with the halt write denied: %v, want access denied", err)
		}
		st, err := c.ReadRolloutState(testCtx(t), ch, other, 2)
		if err != nil || !st.Halted || st.Record != nil {
			t.Errorf("rollout state = %+v, %v; want halted by the failure count, without a record", st, err)
		}
	})
}
