package restart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// racyHandoff reproduces, on demand, the moment after WaitForParent has
// returned when tableflip's own loop has not yet seen the previous
// generation exit: Upgrade refuses with tableflip's text until the test
// closes loopSawExit.
type racyHandoff struct {
	*soloHandoff
	parentExited chan struct{} // closed by the test: WaitForParent returns
	loopSawExit  chan struct{} // closed by the test: Upgrade succeeds
	refused      chan struct{} // a value per refusal, dropped when full
	upgraded     chan struct{} // a value per successful Upgrade
}

func newRacyHandoff() *racyHandoff {
	return &racyHandoff{
		soloHandoff:  newSoloHandoff(),
		parentExited: make(chan struct{}),
		loopSawExit:  make(chan struct{}),
		refused:      make(chan struct{}, 1),
		upgraded:     make(chan struct{}, 4),
	}
}

func (*racyHandoff) HasParent() bool { return true }

func (f *racyHandoff) WaitForParent(ctx context.Context) error {
	select {
	case <-f.parentExited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *racyHandoff) Upgrade() error {
	select {
	case <-f.loopSawExit:
		f.upgraded <- struct{}{}
		f.soloHandoff.Stop() // Exit closes after a successful Upgrade
		return nil
	default:
	}
	select {
	case f.refused <- struct{}{}:
	default:
	}
	return errors.New(parentRunning)
}

// syncBuffer collects an Upgrader's log while the test reads it. It is
// not realparts.SyncBuffer because realparts uses restart's process
// helpers, so the tests inside package restart cannot import it (an import
// cycle).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testUpgrader(t *testing.T, h handoff, upgradeTimeout time.Duration) (*Upgrader, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	u := newUpgrader(Options{
		UpgradeTimeout: upgradeTimeout,
		DrainTimeout:   time.Second,
		CloseWindow:    100 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	}, h)
	t.Cleanup(u.Stop)
	if err := u.Ready(); err != nil {
		t.Fatal(err)
	}
	return u, logs
}

// wait fails the test if c yields nothing within a bound far above what
// the step takes.
func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

// TestUpgradeOutlivesTableflipsLateParentExit: an upgrade requested while
// the previous generation drains is carried out, not dropped, when
// tableflip refuses it right after WaitForParent has returned.
func TestUpgradeOutlivesTableflipsLateParentExit(t *testing.T) {
	f := newRacyHandoff()
	u, logs := testUpgrader(t, f, time.Minute)
	if err := u.Upgrade(); err != nil {
		t.Fatal(err)
	}
	close(f.parentExited)
	wait(t, f.refused, "first refusal")
	wait(t, f.refused, "second refusal") // the loop retried
	close(f.loopSawExit)
	wait(t, f.upgraded, "upgrade after the refusals")
	if strings.Contains(logs.String(), "upgrade failed") {
		t.Errorf("a refusal was logged as a failed upgrade:\n%s", logs)
	}
}

// TestPersistentRefusalFails: a refusal that outlasts UpgradeTimeout is a
// failed upgrade, logged, and the loop takes the next request.
func TestPersistentRefusalFails(t *testing.T) {
	f := newRacyHandoff()
	u, logs := testUpgrader(t, f, 50*time.Millisecond)
	close(f.parentExited)
	if err := u.Upgrade(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "upgrade failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed upgrade logged:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(f.loopSawExit)
	if err := u.Upgrade(); err != nil {
		t.Fatal(err)
	}
	wait(t, f.upgraded, "the next request's upgrade")
}

// TestSoloHandoff: where tableflip does not work, a service still listens,
// serves, refuses upgrades with errors.ErrUnsupported, and drains on Stop.
func TestSoloHandoff(t *testing.T) {
	u, _ := testUpgrader(t, newSoloHandoff(), time.Second)
	ln, err := u.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	})}
	served := make(chan error, 1)
	go func() { served <- u.Serve(context.Background(), srv, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("served %q, want hello", body)
	}
	if err := u.Upgrade(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Upgrade: %v, want errors.ErrUnsupported", err)
	}
	u.Stop()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Stop")
	}
}
