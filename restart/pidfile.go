package restart

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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

// ReadPIDFile returns the PID written in path, by a process using this
// package or by any other: a positive decimal number, surrounding
// whitespace ignored. An error reading the file is wrapped, so
// errors.Is(err, fs.ErrNotExist) tells a missing file; any other content is
// an error. The PID is not checked against running processes (see Alive).
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read PID file: %w", err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		if len(b) > 40 {
			b = append(b[:40:40], "..."...)
		}
		return 0, fmt.Errorf("read PID file %s: not a PID: %q", path, b)
	}
	return pid, nil
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
