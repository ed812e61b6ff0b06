package fleet

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/internal/realparts"
	"github.com/debfleet/debfleet/internal/testenv"
	"github.com/debfleet/debfleet/release"
)

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
	// client plays S3 under an IAM policy: the proxy answers 403
	// AccessDenied to the requests deny matches, as S3 does for a GET of
	// a missing object when the caller may not list the bucket.
	client := func(t *testing.T, deny func(r *http.Request) bool) (clients, *realparts.S3Proxy) {
		p := testenv.StartS3Proxy(t, srv.Endpoint)
		p.SetFault(realparts.Fault{Status: http.StatusForbidden, Code: "AccessDenied", Match: deny})
		return newClients(t, release.Options{Endpoint: p.URL, Region: srv.Region, Credentials: srv.Credentials(), MaxAttempts: 1}), p
	}
	denied := func(p *realparts.S3Proxy) (n int) {
		for _, q := range p.Requests() {
			if q.Code == http.StatusForbidden {
				n++
			}
		}
		return n
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
		if n := denied(d); n != 2 {
			t.Errorf("%d requests denied, want the 2 halt GETs", n)
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
