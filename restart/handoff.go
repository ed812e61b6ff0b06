package restart

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/debfleet/debfleet/third_party/tableflip"
)

// handoff is what an Upgrader needs from the socket hand-off between
// generations. *tableflip.Upgrader (third_party/tableflip: v1.2.3 and
// Release) satisfies it; soloHandoff stands in where tableflip does not
// work.
//
// The contract is tableflip's: Listen and Listener before Ready; Ready
// tells the previous generation to exit; WaitForParent returns once the
// previous generation has exited or released this one (at once if there is
// none), and Upgrade is refused until then; Upgrade starts the next
// generation and returns once it is Ready, or with why it is not (a Stop
// during an Upgrade kills the new process); Exit is closed after a
// successful Upgrade or after Stop; Release, after a successful Upgrade
// (it waits for Exit, which closes a moment after Upgrade returns),
// lets the new generation upgrade in turn while this one drains.
type handoff interface {
	Listen(network, addr string) (net.Listener, error)
	Listener(network, addr string) (net.Listener, error)
	HasParent() bool
	Ready() error
	Exit() <-chan struct{}
	Stop()
	WaitForParent(ctx context.Context) error
	Upgrade() error
	Release()
}

// newHandoff returns tableflip's hand-off, or a soloHandoff where tableflip
// does not support this platform.
func newHandoff(upgradeTimeout time.Duration) (handoff, error) {
	tf, err := tableflip.New(tableflip.Options{UpgradeTimeout: upgradeTimeout})
	if errors.Is(err, tableflip.ErrNotSupported) {
		return newSoloHandoff(), nil
	}
	if err != nil {
		return nil, err
	}
	return tf, nil
}

// Texts of the errors tableflip v1.2.3 returns from Upgrade when an upgrade
// is not allowed yet. Its own loop learns that this process is Ready, and
// that the previous generation has exited or released it, from channels
// that Ready and WaitForParent have already seen, but a moment later: an
// Upgrade right after them can still get these answers.
// TestTableflipRefusals pins them.
const (
	notReadyYet   = "process is not ready yet"
	parentRunning = "parent hasn't exited"
)

// upgradeWhenAllowed runs h.Upgrade once this process is Ready and the
// previous generation has exited, retrying while tableflip has not yet
// noticed either. It gives up after limit (such an answer would then mean
// something else than that delay) or when ctx ends.
func upgradeWhenAllowed(ctx context.Context, h handoff, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	wait := 100 * time.Microsecond
	for {
		err := h.Upgrade()
		if err == nil || !notYet(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// notYet reports whether err is one of tableflip's "not yet" answers.
func notYet(err error) bool {
	return err.Error() == notReadyYet || err.Error() == parentRunning
}

// errUnsupported is what Upgrade returns where sockets cannot be handed to
// a new process.
var errUnsupported = fmt.Errorf("restart: zero-downtime upgrades on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// soloHandoff is a hand-off with no other generation: it listens, serves
// and stops like tableflip, and refuses upgrades. It is what a service runs
// on where tableflip does not work (Windows), so that the same code builds,
// serves and drains there during development.
type soloHandoff struct {
	stopOnce sync.Once
	exit     chan struct{}
}

func newSoloHandoff() *soloHandoff { return &soloHandoff{exit: make(chan struct{})} }

func (*soloHandoff) Listen(network, addr string) (net.Listener, error) {
	return net.Listen(network, addr)
}

// Listener reports that nothing is inherited: there is no previous
// generation.
func (*soloHandoff) Listener(string, string) (net.Listener, error) { return nil, nil }

func (*soloHandoff) HasParent() bool                     { return false }
func (*soloHandoff) Ready() error                        { return nil }
func (s *soloHandoff) Exit() <-chan struct{}             { return s.exit }
func (s *soloHandoff) Stop()                             { s.stopOnce.Do(func() { close(s.exit) }) }
func (*soloHandoff) WaitForParent(context.Context) error { return nil }
func (*soloHandoff) Upgrade() error                      { return errUnsupported }
func (*soloHandoff) Release()                            {}
