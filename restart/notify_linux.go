//go:build linux

package restart

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// notify sends state to systemd's notification socket (sd_notify(3)) when
// the service runs under systemd with Type=notify, and does nothing
// otherwise. The variable is kept in the environment on purpose: the next
// generation inherits it and must be able to notify too (hence
// NotifyAccess=all in the unit).
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd %q: %w", state, err)
	}
	return nil
}

// monotonicUsec returns CLOCK_MONOTONIC in microseconds, which systemd
// 253 and later want with RELOADING=1 to order it against the reload
// request.
func monotonicUsec() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return ts.Nano() / 1000
}
