package fleettest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debfleet/debfleet/fleet"
	"github.com/debfleet/debfleet/release"
)

// doc is the document the suite writes; it carries a nonce as lease and
// halt records do.
type doc struct {
	Value string `json:"value"`
	Nonce string `json:"nonce,omitempty"`
}

func (d *doc) SetNonce(n string) { d.Nonce = n }

// plain is a document without a nonce, as status objects are.
type plain struct {
	Value string `json:"value"`
}

// TestStore is the conformance suite of fleet.Store: every Store the
// fleet runs on (S3 servers through release.Records, the memory Store)
// must pass it. It writes only under a fresh prefix of bucket, so it can
// run against a shared bucket.
func TestStore(t *testing.T, s fleet.Store, bucket string) {
	prefix := "conformance/" + rand.Text() + "/"
	at := func(name string) release.Address { return release.Address{Bucket: bucket, Key: prefix + name} }
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		return ctx
	}
	t.Run("missing", func(t *testing.T) {
		var d doc
		if _, err := s.Get(ctx(t), at("missing.json"), 1024, &d); !errors.Is(err, release.ErrNotFound) {
			t.Errorf("Get of a missing document: %v, want ErrNotFound", err)
		}
	})
	t.Run("put and get", func(t *testing.T) { putAndGet(t, ctx(t), s, at("put.json")) })
	t.Run("create only", func(t *testing.T) { createOnly(t, ctx(t), s, at("create.json")) })
	t.Run("compare and swap", func(t *testing.T) { compareAndSwap(t, ctx(t), s, at("cas.json")) })
	t.Run("size cap", func(t *testing.T) {
		a := at("big.json")
		if _, err := s.Put(ctx(t), a, plain{strings.Repeat("x", 2000)}); err != nil {
			t.Fatal(err)
		}
		var d plain
		_, err := s.Get(ctx(t), a, 1000, &d)
		if err == nil || errors.Is(err, release.ErrNotFound) {
			t.Errorf("Get of 2 KB with a 1000-byte cap: %v, want a size error", err)
		}
		if _, err := s.Get(ctx(t), a, 4000, &d); err != nil || len(d.Value) != 2000 {
			t.Errorf("Get under the cap: %v", err)
		}
	})
	t.Run("list", func(t *testing.T) { list(t, ctx(t), s, bucket, prefix+"list/") })
	t.Run("race to create", func(t *testing.T) { raceToCreate(t, ctx(t), s, at("race.json")) })
}

func putAndGet(t *testing.T, ctx context.Context, s fleet.Store, a release.Address) {
	for _, v := range []string{"one", "two"} {
		tag, err := s.Put(ctx, a, plain{v})
		if err != nil || tag == "" {
			t.Fatalf("Put %s: etag %q, %v", v, tag, err)
		}
		var got plain
		info, err := s.Get(ctx, a, 1024, &got)
		if err != nil || got.Value != v || info.ETag != tag || info.Addr != a || info.LastModified.IsZero() || info.Size == 0 {
			t.Fatalf("Get after Put %s: %+v %+v, %v; want etag %q", v, got, info, err, tag)
		}
	}
}

func createOnly(t *testing.T, ctx context.Context, s fleet.Store, a release.Address) {
	tag, err := s.PutIf(ctx, a, &doc{Value: "first"}, "")
	if err != nil {
		t.Fatalf("PutIf \"\" on a missing document: %v", err)
	}
	if _, err := s.PutIf(ctx, a, &doc{Value: "second"}, ""); !errors.Is(err, release.ErrPreconditionFailed) {
		t.Fatalf("PutIf \"\" on an existing document: %v, want ErrPreconditionFailed", err)
	}
	var got doc
	if info, err := s.Get(ctx, a, 1024, &got); err != nil || got.Value != "first" || info.ETag != tag {
		t.Errorf("after a refused create: %+v %+v, %v", got, info, err)
	}
	if _, err := s.PutIf(ctx, at(a, "absent.json"), &doc{Value: "x"}, tag); !errors.Is(err, release.ErrPreconditionFailed) && !errors.Is(err, release.ErrNotFound) {
		t.Errorf("PutIf with an ETag on a missing document: %v, want ErrPreconditionFailed or ErrNotFound", err)
	}
}

// at is a sibling of a.
func at(a release.Address, name string) release.Address {
	a.Key = a.Key[:strings.LastIndex(a.Key, "/")+1] + name
	return a
}

// compareAndSwap: a write conditional on the current ETag wins once; the
// same content written again gets a new ETag (the nonce), so a stale
// ETag never matches (A-B-A).
func compareAndSwap(t *testing.T, ctx context.Context, s fleet.Store, a release.Address) {
	d := &doc{Value: "a"}
	t0, err := s.PutIf(ctx, a, d, "")
	if err != nil {
		t.Fatal(err)
	}
	t1, err := s.PutIf(ctx, a, &doc{Value: "b"}, t0)
	if err != nil {
		t.Fatalf("PutIf on the current ETag: %v", err)
	}
	t2, err := s.PutIf(ctx, a, &doc{Value: "a"}, t1)
	if err != nil {
		t.Fatalf("PutIf on the current ETag: %v", err)
	}
	if t2 == t0 {
		t.Fatalf("the same content written twice kept its ETag %s: a stale If-Match would match", t0)
	}
	for _, stale := range []string{t0, t1} {
		if _, err := s.PutIf(ctx, a, &doc{Value: "c"}, stale); !errors.Is(err, release.ErrPreconditionFailed) {
			t.Errorf("PutIf on stale ETag %s: %v, want ErrPreconditionFailed", stale, err)
		}
	}
	var got doc
	if info, err := s.Get(ctx, a, 1024, &got); err != nil || got.Value != "a" || info.ETag != t2 {
		t.Errorf("after the swaps: %+v %+v, %v; want a at %q", got, info, err, t2)
	}
}

// list: only the names directly under the prefix with the suffix, sorted,
// past S3's 1000 keys a page.
func list(t *testing.T, ctx context.Context, s fleet.Store, bucket, prefix string) {
	const n = 1003
	var want []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var errs []error
	for i := range n {
		name := fmt.Sprintf("h%04d", i)
		want = append(want, name)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := s.Put(ctx, release.Address{Bucket: bucket, Key: prefix + name + ".json"}, plain{name}); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d puts failed: %v", len(errs), errs[0])
	}
	for _, other := range []string{"nested/x.json", "h9999.txt", ".json"} {
		if _, err := s.Put(ctx, release.Address{Bucket: bucket, Key: prefix + other}, plain{other}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx, bucket, prefix, ".json")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("listed %d documents, want %d", len(got), n)
	}
	for i, r := range got {
		if r.Name != want[i] || r.Addr.Key != prefix+want[i]+".json" || r.Size == 0 || r.LastModified.IsZero() {
			t.Fatalf("entry %d: %+v, want %s", i, r, want[i])
		}
	}
}

// raceToCreate: of writers racing to create one document, exactly one
// wins.
func raceToCreate(t *testing.T, ctx context.Context, s fleet.Store, a release.Address) {
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() { _, errs[i] = s.PutIf(ctx, a, &doc{Value: fmt.Sprint(i)}, "") })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, release.ErrPreconditionFailed):
			t.Fatalf("racing create: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d racing creates won, want 1", won, writers)
	}
}
