//go:build !unix

package restart

import (
	"os"
	"syscall"
)

// No signal asks for an upgrade where upgrades are unsupported; Ctrl-C (and
// a SIGTERM, should the runtime deliver one) drain and exit.
var (
	upgradeSignals []os.Signal
	stopSignals    = []os.Signal{os.Interrupt, syscall.SIGTERM}
)

// signalUpgrade is never reached here: Upgrade refuses before any upgrade
// could succeed and forward a request.
func signalUpgrade(int) error { return errUnsupported }

// signalStop is never reached either: no upgrade succeeds here.
func signalStop(int) error { return errUnsupported }
