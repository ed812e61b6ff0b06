package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/debfleet/debfleet/release"
)

// streamFleet is a channel on versitygw with a current release (2.0,
// published after 1.0) and hosts status objects in a mix of states.
type streamFleet struct {
	c        clients
	ch       release.Address
	cur      *release.Object
	problems []string // hosts failed, rolled back, refused, unreadable or stale
}

// newStreamFleet writes n status objects: every 25th host failed, every
// 40th rolled back, every 60th refused (unsigned), every 70th stale,
// every 90th garbage, one over maxStatusSize, hosts "h-0042" and
// "h-0042-b" both (S3 lists the second first); the others on the
// current release.
func newStreamFleet(t *testing.T, n int) *streamFleet {
	srv := s3env.Server(t)
	f := &streamFleet{c: testClient(t, srv)}
	f.ch = release.Address{Bucket: srv.Bucket(t, true), Key: "app/stream.deb"}
	oldBody := randomBytes(t, 64)
	publishBytes(t, f.c, f.ch, oldBody, "1.0")
	old := testManifest(oldBody, "1.0")
	publishBytes(t, f.c, f.ch, randomBytes(t, 64), "2.0")
	cur, err := f.c.Head(testCtx(t), f.ch, "")
	if err != nil {
		t.Fatal(err)
	}
	f.cur = cur
	now := time.Now().UTC()
	names := []string{"h-0042-b"}
	for i := range n - 1 {
		names = append(names, fmt.Sprintf("h-%04d", i))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	for i, name := range names {
		st := &HostStatus{Host: name, Package: "hello", Version: "2.0", SHA256: cur.Manifest.SHA256, State: StateOK, Since: now, Time: now}
		var body string
		switch {
		case i == 1:
			body = `{"host":"x","error":"` + strings.Repeat("e", maxStatusSize) + `"}`
		case i%90 == 0:
			body = "{not json"
		case i%25 == 0:
			st.Version, st.SHA256, st.State, st.Error = "1.0", old.SHA256, StateFailed, "dpkg: postinst exited 1"
		case i%40 == 0:
			st.Version, st.SHA256, st.State, st.Error = "1.0", old.SHA256, StateRolledBack, "health: 500"
		case i%60 == 0:
			st.Version, st.SHA256, st.State, st.Refusal = "1.0", old.SHA256, StateRefused, RefusedUnsigned
		case i%70 == 0:
			st.Time = now.Add(-2 * time.Hour)
		}
		if body != "" || st.State != StateOK || st.Time != now {
			f.problems = append(f.problems, name)
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			if body != "" {
				a := StatusAddress(f.ch, name)
				_, err = f.c.S3().PutObject(testCtx(t), &s3.PutObjectInput{Bucket: &a.Bucket, Key: &a.Key, Body: strings.NewReader(body)})
			} else {
				err = f.c.PutStatus(testCtx(t), f.ch, st)
			}
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(f.problems)
	return f
}

// TestEachStatus: every status object once, in the order S3 lists
// them, with broken ones as errors rather than failures, whatever the
// number of readers; an error from the callback stops the reading.
func TestEachStatus(t *testing.T) {
	f := newStreamFleet(t, 260)
	var keys []string
	p := s3.NewListObjectsV2Paginator(f.c.S3(), &s3.ListObjectsV2Input{Bucket: &f.ch.Bucket, Prefix: aws.String(f.ch.Key + ".status/")})
	for p.HasMorePages() {
		page, err := p.NextPage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	if keys[42] != StatusAddress(f.ch, "h-0042-b").Key {
		t.Fatalf("S3 lists %s at 42, want h-0042-b before h-0042", keys[42])
	}
	for _, readers := range []int{1, 3, 0} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) {
			var got []string
			broken := map[string]string{}
			err := f.c.EachStatus(testCtx(t), f.ch, ReadOptions{Readers: readers}, func(r *StatusRead) error {
				got = append(got, r.Object.Addr.Key)
				if r.Status.Host != r.Object.Host {
					t.Errorf("%s: host %q, want the key's", r.Object.Addr.Key, r.Status.Host)
				}
				if r.Err != nil {
					broken[r.Object.Host] = r.Err.Error()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, keys) {
				t.Errorf("read %d objects, not in the %d keys' listing order:\n%v", len(got), len(keys), got)
			}
			if len(broken) != 4 || !strings.Contains(broken["h-0000"], "larger than") || !strings.Contains(broken["h-0089"], "invalid character") {
				t.Errorf("broken objects: %v", broken)
			}
		})
	}
	stop := errors.New("enough")
	n := 0
	err := f.c.EachStatus(testCtx(t), f.ch, ReadOptions{Readers: 4}, func(*StatusRead) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("callback error: %v after %d calls, want it after 10", err, n)
	}
}

// TestStreamSummary: the streamed summary counts, groups and judges as
// the summary of every host does, keeps the most relevant hosts, and
// shows every host to Each in listing order.
func TestStreamSummary(t *testing.T) {
	f := newStreamFleet(t, 300)
	now := time.Now()
	full, err := f.c.Summary(testCtx(t), f.ch, f.cur, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var each []string
	s, err := f.c.StreamSummary(testCtx(t), f.ch, f.cur, now, SummaryOptions{Stale: time.Hour, MaxHosts: len(f.problems), Readers: 5,
		Each: func(h *HostSummary) error { each = append(each, h.Host); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Counts != full.Counts || !slices.Equal(s.Versions, full.Versions) || s.Verdict != full.Verdict || s.Converged != full.Converged {
		t.Errorf("streamed %+v %v\n  %q\nfull %+v %v\n  %q", s.Counts, s.Versions, s.Verdict, full.Counts, full.Versions, full.Verdict)
	}
	if s.Advice.Refused[RefusedUnsigned] != full.Advice.Refused[RefusedUnsigned] || s.Advice.Refused[RefusedUnsigned] == 0 {
		t.Errorf("advice %+v, full %+v", s.Advice, full.Advice)
	}
	if !strings.Contains(s.Verdict, "... and ") {
		t.Errorf("verdict names every host: %q", s.Verdict)
	}
	var kept []string
	for _, h := range s.Hosts {
		kept = append(kept, h.Host)
	}
	if !slices.Equal(kept, f.problems) || s.HostsOmitted != 300-len(f.problems) {
		t.Errorf("kept %v (%d omitted), want the %d hosts with problems %v", kept, s.HostsOmitted, len(f.problems), f.problems)
	}
	if len(each) != 300 || each[42] != "h-0042-b" || !slices.IsSorted(each[43:]) {
		t.Errorf("Each saw %d hosts, not in listing order: %v", len(each), each)
	}

	few, err := f.c.StreamSummary(testCtx(t), f.ch, f.cur, now, SummaryOptions{Stale: time.Hour, MaxHosts: 3})
	if err != nil || len(few.Hosts) != 3 || few.Hosts[0].Host != "h-0000" || few.HostsOmitted != 297 {
		t.Errorf("3 hosts kept: %+v, %v", few, err)
	}
	if _, err := f.c.StreamSummary(testCtx(t), f.ch, f.cur, now, SummaryOptions{Stale: time.Hour, Limit: 299}); !errors.Is(err, ErrTooManyHosts) {
		t.Errorf("300 hosts past a limit of 299: %v", err)
	}
}

// TestRelevance: what a summary that cannot list every host keeps first.
func TestRelevance(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    HostSummary
		want int
	}{
		{"rolled back", HostSummary{HostStatus: HostStatus{State: StateRolledBack, Error: "health check"}}, 0},
		{"behind, with no room for the release", HostSummary{HostStatus: HostStatus{State: StateOK, Version: "1.0", Error: "not enough disk space"}}, 0},
		{"installing", HostSummary{HostStatus: HostStatus{State: StateInstalling}}, 1},
		{"held", HostSummary{HostStatus: HostStatus{State: StateHeld}}, 1},
		{"behind", HostSummary{HostStatus: HostStatus{State: StateOK, Version: "1.0"}}, 2},
		{"stale, with an error", HostSummary{HostStatus: HostStatus{State: StateOK, Error: "not enough disk space"}, Stale: true}, 3},
		{"on the current release", HostSummary{HostStatus: HostStatus{State: StateOK, Version: "2.0"}, OnCurrent: true}, 4},
	} {
		if got := Relevance(&tc.h); got != tc.want {
			t.Errorf("%s: relevance %d, want %d", tc.name, got, tc.want)
		}
	}
}
