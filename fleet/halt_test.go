package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/release"
)

var testSHA = strings.Repeat("5e", 32)

func failure(host string) FailureRecord {
	return FailureRecord{Host: host, Version: "2.0", SHA256: testSHA, Outcome: "rolled-back", Error: "health check failed on " + host, Time: time.Now().UTC()}
}

func TestFailureRecords(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	first := failure("web-b")
	first.Time = time.Now().Add(-time.Minute).UTC()
	for _, f := range []FailureRecord{first, failure("web-a")} {
		if err := c.RecordFailure(ctx, ch, f); err != nil {
			t.Fatal(err)
		}
	}
	// A second failure of the same host is not a new one; the first
	// record is kept.
	again := failure("web-b")
	again.Error = "later"
	if err := c.RecordFailure(ctx, ch, again); err != nil {
		t.Fatalf("second record of web-b: %v", err)
	}
	got, err := c.ReadFailures(ctx, ch, testSHA)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Host != "web-b" || got[1].Host != "web-a" || got[0].Error != first.Error {
		t.Fatalf("ReadFailures = %+v", got)
	}
	for _, tt := range []struct {
		haltAfter int
		halted    bool
	}{{0, false}, {3, false}, {2, true}, {1, true}} {
		st, err := c.ReadRolloutState(ctx, ch, testSHA, tt.haltAfter)
		if err != nil {
			t.Fatal(err)
		}
		if st.Halted != tt.halted || !slices.Equal(st.FailedHosts, []string{"web-a", "web-b"}) {
			t.Errorf("halt-after %d: %+v, want halted %v", tt.haltAfter, st, tt.halted)
		}
	}
	// Other releases are untouched; bad input is refused.
	if st, err := c.ReadRolloutState(ctx, ch, strings.Repeat("00", 32), 1); err != nil || st.Halted || len(st.FailedHosts) != 0 {
		t.Errorf("another release: %+v, %v", st, err)
	}
	if err := c.RecordFailure(ctx, ch, FailureRecord{Host: "x", SHA256: "../../etc"}); err == nil {
		t.Error("a bad SHA-256 was accepted")
	}
}

// TestHaltAfterFailures follows a release through an automatic halt, a
// resume, and a second automatic halt.
func TestHaltAfterFailures(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	step := func(host string, wantHalted bool) *RolloutState {
		t.Helper()
		if err := c.RecordFailure(ctx, ch, failure(host)); err != nil {
			t.Fatal(err)
		}
		st, err := c.HaltIfFailed(ctx, ch, testSHA, "2.0", 2, host)
		if err != nil {
			t.Fatal(err)
		}
		if st.Halted != wantHalted {
			t.Fatalf("after %s failed: halted %v, want %v (%+v)", host, st.Halted, wantHalted, st)
		}
		return st
	}
	step("web-1", false)
	var rec HaltRecord
	if err := c.getJSON(ctx, HaltAddress(ch, testSHA), &rec); !errors.Is(err, release.ErrNotFound) {
		t.Fatalf("a halt record after one failure: %+v, %v", rec, err)
	}
	step("web-2", true)
	st, err := c.ReadRolloutState(ctx, ch, testSHA, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Record; r == nil || !r.Halted || !r.Auto || r.By != "web-2" || !strings.Contains(r.Reason, "2 hosts failed") ||
		!strings.Contains(st.Reason, "web-1, web-2") {
		t.Fatalf("after the second failure: %+v, record %+v", st, st.Record)
	}
	// A third host failing at the same time leaves the first record.
	step("web-3", true)
	if st, _ := c.ReadRolloutState(ctx, ch, testSHA, 2); st.Record.By != "web-2" {
		t.Errorf("the halt record was rewritten by %s", st.Record.By)
	}

	rec2, err := c.Resume(ctx, ch, testSHA, "2.0", "ops@laptop", "fixed the config")
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Halted || rec2.Forgiven != 3 {
		t.Fatalf("resume record %+v, want not halted, 3 forgiven", rec2)
	}
	if st, _ := c.ReadRolloutState(ctx, ch, testSHA, 2); st.Halted {
		t.Fatalf("halted after resume: %+v", st)
	}
	step("web-4", false)
	st = step("web-5", true)
	if !strings.Contains(st.Reason, "since the last resume") {
		t.Errorf("reason %q does not say the count restarted", st.Reason)
	}
}

func TestHaltResumeByHand(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	rec, already, err := c.Halt(ctx, ch, testSHA, "2.0", "alice@laptop", "error rate up")
	if err != nil || already {
		t.Fatal(err)
	}
	st, err := c.ReadRolloutState(ctx, ch, testSHA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Halted || !strings.Contains(st.Reason, "alice@laptop") || !strings.Contains(st.Reason, "error rate up") || rec.Auto {
		t.Fatalf("after halt: %+v", st)
	}
	// Halting again keeps who halted first and why.
	if rec, already, err := c.Halt(ctx, ch, testSHA, "2.0", "bob@laptop", "me too"); err != nil || !already || rec.By != "alice@laptop" {
		t.Fatalf("second halt: %+v, %v, %v", rec, already, err)
	}
	if _, err := c.Resume(ctx, ch, testSHA, "2.0", "alice@laptop", ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.ReadRolloutState(ctx, ch, testSHA, 0); st.Halted {
		t.Fatalf("halted after resume: %+v", st)
	}
}

// TestHaltRace: people halting and resuming while agents record failures,
// all at once. Every call succeeds (conditional writes, re-read on a lost
// race), and every version the halt record ever had is a whole, valid
// record: nothing is corrupted or mixed.
func TestHaltRace(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 6 {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, _, err = c.Halt(ctx, ch, testSHA, "2.0", fmt.Sprintf("op-%d", i), "racing")
			case 1:
				_, err = c.Resume(ctx, ch, testSHA, "2.0", fmt.Sprintf("op-%d", i), "racing")
			default:
				host := fmt.Sprintf("web-%d", i)
				if err = c.RecordFailure(ctx, ch, failure(host)); err == nil {
					_, err = c.HaltIfFailed(ctx, ch, testSHA, "2.0", 1, host)
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	a := HaltAddress(ch, testSHA)
	s3c := c.S3()
	out, err := s3c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &a.Bucket, Prefix: &a.Key})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) < 2 {
		t.Fatalf("%d versions of the halt record; the writers did not race", len(out.Versions))
	}
	for _, v := range out.Versions {
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: &a.Key, VersionId: v.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		var rec HaltRecord
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil || rec.SHA256 != testSHA || rec.By == "" || rec.Nonce == "" {
			t.Errorf("version %s is not a whole record: %s (%v)", aws.ToString(v.VersionId), body, err)
		}
	}
	t.Logf("%d writes to the halt record", len(out.Versions))
}

// TestPublishersRace: two publishers with different policies racing on one
// channel. Publish writes conditionally, so each either wins or gets
// release.ErrPreconditionFailed; the channel ends with one of the two manifests,
// whole: its policy is one of the two, and its signature verifies.
func TestPublishersRace(t *testing.T) {
	c, ch := leaseChannel(t)
	key, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	policies := []Policy{
		{Waves: []float64{10, 50, 100}, WaveInterval: time.Minute, MaxUpdating: 2, HaltAfter: 2},
		{Waves: []float64{25, 100}, WaveInterval: time.Hour, MaxUpdating: 5, HaltAfter: 1},
	}
	publishBytes(t, c, ch, randomBytes(t, 100), "1.0")
	for round := range 4 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, p := range policies {
			body := randomBytes(t, 2000)
			m := testManifest(body, fmt.Sprintf("2.%d.%d", round, i))
			if err := p.Apply(m); err != nil {
				t.Fatal(err)
			}
			key.Sign(m)
			wg.Go(func() {
				_, errs[i] = c.Publish(testCtx(t), ch, release.PublishInput{Body: bytes.NewReader(body), Manifest: m})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, release.ErrPreconditionFailed):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won == 0 {
			t.Fatalf("round %d: neither publisher won", round)
		}
		obj, err := c.Head(testCtx(t), ch, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := obj.Manifest.Verify(key.Public()); err != nil {
			t.Fatalf("round %d: the current manifest does not verify: %v", round, err)
		}
		p, err := PolicyOf(obj.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		i := int(obj.Manifest.Version[len(obj.Manifest.Version)-1] - '0')
		if p.String() != policies[i].String() {
			t.Errorf("round %d: release %s carries %q, it was published with %q", round, obj.Manifest.Version, p, policies[i])
		}
	}
}
