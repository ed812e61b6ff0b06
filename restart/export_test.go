package restart

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// Refusals are the texts of tableflip's "not yet" answers that the upgrade
// loop retries on, for the external tests to compare with tableflip's own.
var Refusals = []string{notReadyYet, parentRunning}

// NewHoldingReady is New with a hand-off that, when this process is Ready
// (PID file written, systemd told), creates dir/held and waits for dir/go
// before telling the previous generation: the window in which a stop used
// to make tableflip kill a new generation that was already Ready.
func NewHoldingReady(opts Options, dir string) (*Upgrader, error) {
	return newWrapped(opts, func(h handoff) handoff { return &holdingHandoff{handoff: h, dir: dir} })
}

type holdingHandoff struct {
	handoff
	dir string
}

func (h *holdingHandoff) Ready() error {
	if err := os.WriteFile(filepath.Join(h.dir, "held"), nil, 0o644); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(h.dir, "go")); err == nil {
			return h.handoff.Ready()
		}
		if time.Now().After(deadline) {
			return errors.New("held: no go within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
