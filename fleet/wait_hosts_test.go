package fleet

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/release"
)

func TestWaitHosts(t *testing.T) {
	srv := s3env.Server(t)
	channel := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	c, err := release.New(t.Context(), release.Options{Endpoint: srv.Endpoint, Region: srv.Region, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	put := func(host, version, state string) {
		t.Helper()
		if err := New(c.Records(), nil).PutStatus(t.Context(), channel, &HostStatus{Host: host, Package: "hello", Version: version, State: state}); err != nil {
			t.Fatal(err)
		}
	}
	ok := func(st HostStatus) bool { return st.State == StateOK && st.Version == "1.1.0" }

	put("a", "1.1.0", StateOK)
	put("b", "1.0.0", StateInstalling)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err = New(c.Records(), nil).WaitHosts(ctx, channel, []string{"a", "b"}, 100*time.Millisecond, ok, nil)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "b=1.0.0/installing") {
		t.Fatalf("WaitHosts with host b not done: err = %v, want a timeout naming b's state", err)
	}

	var seen []string
	// The put may still be waiting for its answer when WaitHosts has
	// seen its effect: the test waits for it before it ends (and its
	// context with it).
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond)
		if err := New(c.Records(), nil).PutStatus(t.Context(), channel, &HostStatus{Host: "b", Package: "hello", Version: "1.1.0", State: StateOK}); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	fs, err := New(c.Records(), nil).WaitHosts(ctx, channel, []string{"a", "b"}, 100*time.Millisecond, ok, func(st HostStatus) { seen = append(seen, st.Host) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Errorf("onDone saw %v, want [a b] once each", seen)
	}
	if len(fs.Hosts) != 2 {
		t.Errorf("last status has %d hosts, want 2", len(fs.Hosts))
	}
}
