//go:build unix

package restart

import (
	"os"
	"syscall"
)

// upgradeSignals ask for an upgrade; stopSignals for a drain and exit.
var (
	upgradeSignals = []os.Signal{syscall.SIGHUP, syscall.SIGUSR2}
	stopSignals    = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
)

// signalUpgrade asks the process pid for an upgrade, as a SIGHUP does.
func signalUpgrade(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }

// signalStop asks the process pid to drain and exit, as systemctl stop does.
func signalStop(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
