package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/debfleet/debfleet/release"
)

// fakeClock is a settable clock for lease expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func leaseChannel(t *testing.T) (clients, release.Address) {
	t.Helper()
	srv := s3env.Server(t)
	return testClient(t, srv), release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
}

func TestLeaseLifecycle(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	clock := &fakeClock{t: time.Now()}
	req := func(host string) LeaseRequest {
		return LeaseRequest{Slots: 2, Holder: host, Version: "2.0", SHA256: strings.Repeat("ab", 32), TTL: time.Minute, Now: clock.Now}
	}
	a, err := c.AcquireLease(ctx, ch, req("web-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.AcquireLease(ctx, ch, req("web-b"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Slot() == b.Slot() {
		t.Fatalf("both hosts got slot %d", a.Slot())
	}
	if _, err := c.AcquireLease(ctx, ch, req("web-c")); !errors.Is(err, ErrNoLease) {
		t.Fatalf("third host: %v, want ErrNoLease", err)
	} else if !strings.Contains(err.Error(), "web-a") || !strings.Contains(err.Error(), "web-b") {
		t.Errorf("ErrNoLease does not name the holders: %v", err)
	}

	// A host that restarted takes its own slot back at once.
	again, err := c.AcquireLease(ctx, ch, req("web-a"))
	if err != nil || again.Slot() != a.Slot() {
		t.Fatalf("re-acquire by the holder: slot %v, %v; want slot %d", again, err, a.Slot())
	}
	// The old handle's ETag is stale now: it lost the lease to its own
	// new handle, and says so instead of overwriting it.
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renew through a stale handle: %v, want ErrLeaseLost", err)
	}
	a = again

	clock.Add(30 * time.Second)
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	slots, err := c.ReadLeases(ctx, ch, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r := slots[a.Slot()].Record; r.Holder != "web-a" || r.Version != "2.0" || !r.Expires.Equal(clock.Now().UTC().Add(time.Minute)) {
		t.Errorf("slot %d after renew: %+v", a.Slot(), r)
	}
	if slots[2].Record.Holder != "" {
		t.Errorf("slot 2 (beyond the cap) is held: %+v", slots[2])
	}

	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	cl, err := c.AcquireLease(ctx, ch, req("web-c"))
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if cl.Slot() != a.Slot() {
		t.Errorf("web-c got slot %d, the free one is %d", cl.Slot(), a.Slot())
	}
}

// TestLeaseExpiry: a holder that stops renewing loses its slot after the
// TTL, to a conditional takeover; its late renewal and release fail with
// ErrLeaseLost instead of overwriting the new holder.
func TestLeaseExpiry(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	clock := &fakeClock{t: time.Now()}
	req := func(host string) LeaseRequest {
		return LeaseRequest{Slots: 1, Holder: host, TTL: time.Minute, Now: clock.Now}
	}
	dead, err := c.AcquireLease(ctx, ch, req("web-dead"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(59 * time.Second)
	if _, err := c.AcquireLease(ctx, ch, req("web-next")); !errors.Is(err, ErrNoLease) {
		t.Fatalf("before expiry: %v, want ErrNoLease", err)
	}
	clock.Add(2 * time.Second)
	next, err := c.AcquireLease(ctx, ch, req("web-next"))
	if err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := dead.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("late renew: %v, want ErrLeaseLost", err)
	}
	if err := dead.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("late release: %v, want ErrLeaseLost", err)
	}
	slots, err := c.ReadLeases(ctx, ch, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h := slots[0].Record.Holder; h != "web-next" || next.Record().Holder != "web-next" {
		t.Errorf("slot holder %q after takeover, want web-next", h)
	}
}

// TestLeaseKeep: Keep renews in the background, so the slot stays taken
// past its TTL; after stop, it expires.
func TestLeaseKeep(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	const ttl = 600 * time.Millisecond
	l, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: 1, Holder: "web-a", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	stop := l.Keep(ctx, ttl/4)
	time.Sleep(2 * ttl)
	if _, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: 1, Holder: "web-b", TTL: ttl}); !errors.Is(err, ErrNoLease) {
		t.Fatalf("while kept: %v, want ErrNoLease", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if _, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: 1, Holder: "web-b", TTL: ttl}); err != nil {
		t.Fatalf("after the kept lease expired: %v", err)
	}
}

// TestLeaseRace: many hosts racing for a few slots; exactly as many win
// as there are slots, in every round.
func TestLeaseRace(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	const hosts, slots = 16, 2
	for round := range 4 {
		var wg sync.WaitGroup
		leases := make([]*Lease, hosts)
		errs := make([]error, hosts)
		for i := range hosts {
			wg.Go(func() {
				leases[i], errs[i] = c.AcquireLease(ctx, ch, LeaseRequest{Slots: slots, Holder: fmt.Sprintf("web-%02d", i), TTL: time.Minute})
			})
		}
		wg.Wait()
		bySlot := map[int]string{}
		for i, err := range errs {
			switch {
			case err == nil:
				if other, ok := bySlot[leases[i].Slot()]; ok {
					t.Fatalf("round %d: slot %d granted to web-%02d and %s", round, leases[i].Slot(), i, other)
				}
				bySlot[leases[i].Slot()] = leases[i].Record().Holder
			case !errors.Is(err, ErrNoLease):
				t.Fatalf("round %d: web-%02d: %v", round, i, err)
			}
		}
		if len(bySlot) != slots {
			t.Fatalf("round %d: %d winners, want %d", round, len(bySlot), slots)
		}
		got, err := c.ReadLeases(ctx, ch, slots)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if s.Record.Holder != bySlot[s.Slot] {
				t.Errorf("round %d: slot %d stored holder %q, granted to %q", round, s.Slot, s.Record.Holder, bySlot[s.Slot])
			}
		}
		for _, l := range leases {
			if l != nil {
				if err := l.Release(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestLeaseManySlots: with more slots than one attempt looks at, a host
// still finds the one free slot within a few attempts, and never takes a
// held one.
func TestLeaseManySlots(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	const slots = 20
	held := map[int]bool{}
	for i := 0; len(held) < slots-1; i++ {
		if i > 1000 {
			t.Fatalf("only %d slots taken after %d attempts", len(held), i)
		}
		l, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: slots, Holder: fmt.Sprintf("web-%02d", i), TTL: time.Minute})
		if err != nil {
			continue // the probes met held slots only; try again
		}
		if held[l.Slot()] {
			t.Fatalf("slot %d granted twice", l.Slot())
		}
		held[l.Slot()] = true
	}
	for attempt := range 60 {
		l, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: slots, Holder: "web-last", TTL: time.Minute})
		if errors.Is(err, ErrNoLease) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if held[l.Slot()] {
			t.Fatalf("got held slot %d", l.Slot())
		}
		t.Logf("free slot %d found at attempt %d", l.Slot(), attempt+1)
		if _, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: slots, Holder: "web-more", TTL: time.Minute}); !errors.Is(err, ErrNoLease) {
			t.Fatalf("every slot is held, yet: %v", err)
		}
		return
	}
	t.Fatal("the free slot was not found in 60 attempts of 8 probes among 20 slots")
}

const leaseHelperEnv = "RELEASE_TEST_LEASE_HELPER"

// TestLeaseHelperProcess is not a test: run by TestLeaseRaceProcesses
// as a separate process, it tries once to take the one slot and prints
// "won" or "busy".
func TestLeaseHelperProcess(t *testing.T) {
	if os.Getenv(leaseHelperEnv) == "" {
		t.Skip("helper process for TestLeaseRaceProcesses")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClients(t, release.Options{Endpoint: os.Getenv("HELPER_ENDPOINT"), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("HELPER_AK"), os.Getenv("HELPER_SK"), "")})
	// Start together: each process waits for the same wall-clock instant.
	at, _ := strconv.ParseInt(os.Getenv("HELPER_AT"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, at)))
	ch := release.Address{Bucket: os.Getenv("HELPER_BUCKET"), Key: "hello/production.deb"}
	_, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: 1, Holder: os.Getenv(leaseHelperEnv), TTL: time.Minute})
	switch {
	case err == nil:
		fmt.Println("won")
	case errors.Is(err, ErrNoLease):
		fmt.Println("busy")
	default:
		t.Fatal(err)
	}
}

// TestLeaseRaceProcesses: separate processes racing for one slot; exactly
// one wins.
func TestLeaseRaceProcesses(t *testing.T) {
	srv := s3env.Server(t)
	c := testClient(t, srv)
	ch := release.Address{Bucket: srv.Bucket(t, true), Key: "hello/production.deb"}
	const procs = 6
	at := time.Now().Add(1500 * time.Millisecond).UnixNano()
	outs := make([]string, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.CommandContext(testCtx(t), os.Args[0], "-test.run=^TestLeaseHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), leaseHelperEnv+"="+fmt.Sprintf("proc-%d", i), "HELPER_ENDPOINT="+srv.Endpoint,
				"HELPER_AK="+srv.AccessKey, "HELPER_SK="+srv.SecretKey, "HELPER_BUCKET="+ch.Bucket, "HELPER_AT="+strconv.FormatInt(at, 10))
			out, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	won := 0
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
		switch {
		case strings.HasPrefix(outs[i], "won"):
			won++
		case !strings.HasPrefix(outs[i], "busy"):
			t.Fatalf("process %d said %q", i, outs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d processes won the one slot, want 1", won)
	}
	slots, err := c.ReadLeases(testCtx(t), ch, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(slots[0].Record.Holder, "proc-") {
		t.Errorf("slot holder %q", slots[0].Record.Holder)
	}
}

// TestRogueLease: a writer of a slot (one stolen agent credential) cannot
// hold it past MaxLeaseTTL after its last write, whatever its record
// claims, and a record acquired after it was written holds nothing.
func TestRogueLease(t *testing.T) {
	c, ch := leaseChannel(t)
	ctx := testCtx(t)
	forever := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	rogue := func(slot int, acquired time.Time) {
		t.Helper()
		if err := c.putJSON(ctx, LeaseAddress(ch, slot), LeaseRecord{Holder: "rogue", Acquired: acquired, Expires: forever}); err != nil {
			t.Fatal(err)
		}
	}
	req := func(at time.Time) LeaseRequest {
		return LeaseRequest{Slots: 1, Holder: "web-1", TTL: time.Minute, Now: func() time.Time { return at }}
	}
	rogue(0, time.Now())
	if _, err := c.AcquireLease(ctx, ch, req(time.Now())); !errors.Is(err, ErrNoLease) {
		t.Fatalf("a fresh rogue record: %v, want ErrNoLease (it counts while it may be a real holder)", err)
	}
	l, err := c.AcquireLease(ctx, ch, req(time.Now().Add(MaxLeaseTTL+time.Minute)))
	if err != nil {
		t.Fatalf("an hour after the rogue write: %v, want the slot", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	rogue(0, forever)
	if _, err := c.AcquireLease(ctx, ch, req(time.Now())); err != nil {
		t.Errorf("a record acquired in the year 9999: %v, want the slot", err)
	}
	if _, err := c.AcquireLease(ctx, ch, LeaseRequest{Slots: 1, Holder: "web-2", TTL: 2 * MaxLeaseTTL}); err == nil {
		t.Error("a TTL over MaxLeaseTTL was accepted")
	}
}

func TestLeaseHeld(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rec := func(holder string, acquired, expires time.Time) LeaseRecord {
		return LeaseRecord{Holder: holder, Acquired: acquired, Expires: expires}
	}
	tests := []struct {
		name string
		slot LeaseSlot
		want bool
	}{
		{"held", LeaseSlot{Record: rec("a", now, now.Add(time.Minute)), Modified: now}, true},
		{"released", LeaseSlot{Record: rec("", now, now.Add(time.Minute)), Modified: now}, false},
		{"expired", LeaseSlot{Record: rec("a", now.Add(-2*time.Minute), now.Add(-time.Minute)), Modified: now.Add(-2 * time.Minute)}, false},
		{"claims forever, written long ago", LeaseSlot{Record: rec("a", now.Add(-2*time.Hour), now.Add(1000*time.Hour)), Modified: now.Add(-MaxLeaseTTL)}, false},
		{"claims forever, written just now", LeaseSlot{Record: rec("a", now, now.Add(1000*time.Hour)), Modified: now}, true},
		{"acquired after it was written", LeaseSlot{Record: rec("a", now.Add(time.Hour), now.Add(2*time.Hour)), Modified: now}, false},
		{"holder's clock a little ahead", LeaseSlot{Record: rec("a", now.Add(30*time.Second), now.Add(time.Minute)), Modified: now}, true},
		{"store time unknown", LeaseSlot{Record: rec("a", now, now.Add(time.Minute))}, true},
	}
	for _, tt := range tests {
		if got := tt.slot.Held(now); got != tt.want {
			t.Errorf("%s: Held = %v, want %v", tt.name, got, tt.want)
		}
	}
}
