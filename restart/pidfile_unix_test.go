//go:build unix

package restart

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// secret stands for the content of a file only root may read: it must not
// appear in any error about a PID file that leads to it.
const secret = "s3cr3t-d0-n0t-l34k"

// TestReadPIDFileRefuses: whoever can write the PID file's directory (the
// service's user) cannot make a reader running as root follow a link,
// block, read without bound or echo bytes it does not own.
func TestReadPIDFileRefuses(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(private, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name      string
		make      func(path string) error
		notPIDish bool // refused as not a PID file (ErrNotPIDFile), not for its content
	}{
		{"symlink to a secret", func(p string) error { return os.Symlink(write("token", secret), p) }, true},
		{"symlink to a PID", func(p string) error { return os.Symlink(write("other.pid", "1\n"), p) }, true},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) }, true},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, true},
		{"socket", func(p string) error {
			ln, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { ln.Close() })
			}
			return err
		}, true},
		{"huge", func(p string) error {
			return os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+strings.Repeat(" ", 1<<20)), 0o644)
		}, true},
		{"hard link", func(p string) error { return os.Link(write("linked.pid", strconv.Itoa(os.Getpid())), p) }, true},
		{"garbage", func(p string) error { return os.WriteFile(p, []byte(secret+"\x1b[2J"), 0o644) }, false},
		{"empty", func(p string) error { return os.WriteFile(p, nil, 0o644) }, false},
		{"zero", func(p string) error { return os.WriteFile(p, []byte("0\n"), 0o644) }, false},
		{"negative", func(p string) error { return os.WriteFile(p, []byte("-5\n"), 0o644) }, false},
		{"sign", func(p string) error { return os.WriteFile(p, []byte("+5\n"), 0o644) }, false},
		{"two numbers", func(p string) error { return os.WriteFile(p, []byte("5 6\n"), 0o644) }, false},
		{"overflow", func(p string) error { return os.WriteFile(p, []byte("99999999999999999999\n"), 0o644) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := tt.make(path); err != nil {
				t.Fatal(err)
			}
			pid, err := readWithin(t, path, 10*time.Second)
			if err == nil {
				t.Fatalf("ReadPIDFile = %d, want an error", pid)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadPIDFile: %v: reads as a missing file", err)
			}
			if got := errors.Is(err, ErrNotPIDFile); got != tt.notPIDish {
				t.Errorf("ReadPIDFile: %v: errors.Is(ErrNotPIDFile) = %v, want %v", err, got, tt.notPIDish)
			}
			if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "\x1b") {
				t.Errorf("ReadPIDFile: the error carries the file's content: %q", msg)
			}
		})
	}
}

// readWithin runs ReadPIDFile(path), failing the test if it takes longer
// than d (a FIFO with no writer blocks an ordinary open forever).
func readWithin(t *testing.T, path string, d time.Duration) (int, error) {
	t.Helper()
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		pid, err := ReadPIDFile(path)
		done <- result{pid, err}
	}()
	select {
	case r := <-done:
		return r.pid, r.err
	case <-time.After(d):
		// Unblock the reader so that it does not outlive the test.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("ReadPIDFile(%s) still blocked after %s", path, d)
		return 0, nil
	}
}

func TestReadPIDFile(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]int{"42": 42, "42\n": 42, " \t42\r\n": 42, "4194304\n": 4194304} {
		path := filepath.Join(dir, "pid")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadPIDFile(path); err != nil || got != want {
			t.Errorf("ReadPIDFile(%q) = %d, %v; want %d", content, got, err, want)
		}
	}
	_, err := ReadPIDFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestReadPIDFileReplacedWhileRead: a PID file renamed over while a reader
// has the old one open (writePIDFile replaces atomically) is not refused
// as a file with the wrong number of links: the reader reads the new one.
// Seen as an agent rolling back a healthy release under load ("it has 0
// hard links").
func TestReadPIDFileReplacedWhileRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hello.pid")
	if err := os.WriteFile(path, []byte("111\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := openPIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writePIDFile(path, 222); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readOpenPIDFile(f, path); !errors.Is(err, errPIDFileReplaced) {
		t.Fatalf("the replaced file: %v, want errPIDFileReplaced", err)
	}
	if pid, err := ReadPIDFile(path); err != nil || pid != 222 {
		t.Fatalf("ReadPIDFile = %d, %v; want the new 222", pid, err)
	}
}
