//go:build linux

package restart_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifyMsg is one datagram sent to the fake systemd, with the sender's PID
// as the kernel reports it (SO_PASSCRED), as systemd itself reads it.
type notifyMsg struct {
	pid   int
	state string
}

// fakeSystemd listens on a real unixgram socket, as systemd's
// NOTIFY_SOCKET, and returns its path and the messages it receives.
func fakeSystemd(t *testing.T) (string, <-chan notifyMsg) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED: %v %v", err, serr)
	}
	msgs := make(chan notifyMsg, 100)
	go func() {
		buf := make([]byte, 4096)
		oob := make([]byte, 1024)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				close(msgs)
				return
			}
			m := notifyMsg{state: string(buf[:n])}
			if cmsgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, c := range cmsgs {
					if cred, err := syscall.ParseUnixCredentials(&c); err == nil {
						m.pid = int(cred.Pid)
					}
				}
			}
			msgs <- m
		}
	}()
	return path, msgs
}

// next returns the next message, failing after a generous timeout.
func next(t *testing.T, msgs <-chan notifyMsg) notifyMsg {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message from the service")
	}
	return notifyMsg{}
}

// TestSystemdNotify plays systemd for Type=notify, NotifyAccess=all: each
// generation announces itself as MAINPID and READY from its own PID, and
// an upgrade, good or bad, is framed by RELOADING=1 and READY=1.
func TestSystemdNotify(t *testing.T) {
	path, msgs := fakeSystemd(t)
	s := startService(t, startOptions{env: []string{"NOTIFY_SOCKET=" + path}})
	ready := func(pid int) {
		t.Helper()
		m := next(t, msgs)
		want := fmt.Sprintf("MAINPID=%d", pid)
		if !strings.Contains(m.state, "READY=1") || !strings.Contains(m.state, want) || m.pid != pid {
			t.Errorf("got %q from %d, want READY=1 and %s from %d", m.state, m.pid, want, pid)
		}
	}
	reloading := func(pid int) {
		t.Helper()
		m := next(t, msgs)
		if !strings.Contains(m.state, "RELOADING=1") || !regexp.MustCompile(`(?m)^MONOTONIC_USEC=[1-9][0-9]*$`).MatchString(m.state) || m.pid != pid {
			t.Errorf("got %q from %d, want RELOADING=1 with MONOTONIC_USEC from %d", m.state, m.pid, pid)
		}
	}

	p0 := s.pid()
	ready(p0)
	p1 := s.upgrade(0)
	reloading(p0)
	ready(p1)

	s.install(bins.faulty["exit"])
	s.signal(p1, syscall.SIGHUP)
	reloading(p1)
	ready(p1) // failed upgrade: p1 is still the one serving
	s.install(bins.hello)

	s.signal(p1, syscall.SIGTERM)
	m := next(t, msgs)
	if m.state != "STOPPING=1" || m.pid != p1 {
		t.Errorf("got %q from %d, want STOPPING=1 from %d", m.state, m.pid, p1)
	}
	s.waitGone([]int{p0, p1}, testDrainTimeout+5*time.Second)
}
