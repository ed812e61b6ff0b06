package restart

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// writePIDFile replaces path with pid atomically: readers see the old PID or
// the new one, never an empty or partial file.
func writePIDFile(path string, pid int) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return fmt.Errorf("write PID file %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.WriteString(strconv.Itoa(pid) + "\n")
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write PID file %s: %w", path, err)
	}
	return nil
}

// ErrNotPIDFile is wrapped by ReadPIDFile and ReadPIDFileOwner when the
// path is not a PID file at all, whatever it holds: a symbolic link, not a
// regular file (a FIFO, a directory, a socket, a device), a file with more
// than one hard link, or one larger than any PID file. Whoever can write
// the PID file's directory can make it so; a reader running as root must
// not follow it elsewhere, block on it or read it without bound.
var ErrNotPIDFile = errors.New("not a PID file")

// maxPIDFileSize bounds what is read of a PID file: a PID and a newline
// take at most 11 bytes; the rest is room for whitespace.
const maxPIDFileSize = 64

// ReadPIDFile returns the PID written in path, by a process using this
// package or by any other: a positive decimal number, surrounding
// whitespace ignored. It is ReadPIDFileOwner without the owner.
func ReadPIDFile(path string) (int, error) {
	pid, _, err := ReadPIDFileOwner(path)
	return pid, err
}

// ReadPIDFileOwner returns the PID written in path and the user ID that
// owns the file (-1 where the system has none), i.e. who wrote it.
//
// It is safe where the directory is writable by someone the caller does
// not trust: the file is opened without following a symbolic link in its
// last component and without blocking, it must be a regular file with one
// link (none: its writer replaced it after it was opened, and the new one
// is read) and at most 64 bytes, and no error carries its content, only its
// length. Such a file is refused with an error wrapping ErrNotPIDFile. A
// missing file is an error wrapping fs.ErrNotExist; content other than one
// positive decimal number is an error that wraps neither. The PID is not
// checked against running processes (see Alive).
func ReadPIDFileOwner(path string) (pid, owner int, err error) {
	for range maxPIDFileReads {
		pid, owner, err = readPIDFileOnce(path)
		if !errors.Is(err, errPIDFileReplaced) {
			return pid, owner, err
		}
	}
	return 0, -1, fmt.Errorf("read PID file %s: replaced %d times while being read", path, maxPIDFileReads)
}

// maxPIDFileReads bounds how often ReadPIDFileOwner opens a PID file that
// its writer keeps replacing.
const maxPIDFileReads = 5

// errPIDFileReplaced: the file opened has no name left: its writer renamed
// a new PID file over it (writePIDFile's atomic replace) after it was
// opened. Read the new one.
var errPIDFileReplaced = errors.New("PID file replaced while being read")

func readPIDFileOnce(path string) (pid, owner int, err error) {
	f, err := openPIDFile(path)
	switch {
	case errors.Is(err, ErrNotPIDFile):
		return 0, -1, fmt.Errorf("read PID file %s: %w", path, err)
	case err != nil:
		return 0, -1, fmt.Errorf("read PID file: %w", err)
	}
	defer f.Close()
	return readOpenPIDFile(f, path)
}

// readOpenPIDFile reads the PID file f, opened from path.
func readOpenPIDFile(f *os.File, path string) (pid, owner int, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, -1, fmt.Errorf("read PID file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return 0, -1, fmt.Errorf("read PID file %s: %w: it is not a regular file", path, ErrNotPIDFile)
	}
	owner, links := fileOwner(fi)
	switch {
	case links == 0:
		return 0, -1, errPIDFileReplaced
	case links != 1:
		return 0, -1, fmt.Errorf("read PID file %s: %w: it has %d hard links", path, ErrNotPIDFile, links)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPIDFileSize+1))
	if err != nil {
		return 0, -1, fmt.Errorf("read PID file: %w", err)
	}
	if len(b) > maxPIDFileSize {
		return 0, -1, fmt.Errorf("read PID file %s: %w: larger than %d bytes", path, ErrNotPIDFile, maxPIDFileSize)
	}
	pid, ok := parsePID(b)
	if !ok {
		// Not the bytes: they may be someone else's secret.
		return 0, -1, fmt.Errorf("read PID file %s: its %d bytes are not a PID", path, len(b))
	}
	return pid, owner, nil
}

// parsePID parses a PID file's content: optional ASCII whitespace around a
// decimal number from 1 to 2^31-1 without sign or leading zero.
func parsePID(b []byte) (int, bool) {
	s := strings.Trim(string(b), " \t\r\n")
	if s == "" || s[0] < '1' || s[0] > '9' || len(s) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

// removePIDFile removes path if it still names pid: after an upgrade it
// names the new generation, which must keep it.
func removePIDFile(path string, pid int) error {
	got, err := ReadPIDFile(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && got != pid) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove PID file: %w", err)
	}
	return nil
}
