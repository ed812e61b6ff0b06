//go:build unix

package restart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openPIDFile opens path for reading without following a symbolic link in
// its last component (O_NOFOLLOW), without blocking on a FIFO that has no
// writer (O_NONBLOCK), without making a terminal ours (O_NOCTTY) and
// without leaking the descriptor to a child (O_CLOEXEC).
func openPIDFile(path string) (*os.File, error) {
	const flags = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_CLOEXEC
	for {
		fd, err := syscall.Open(path, flags, 0)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case errors.Is(err, syscall.EINTR):
			continue
		// FreeBSD says EMLINK where Linux and macOS say ELOOP.
		case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EMLINK):
			return nil, fmt.Errorf("%w: it is a symbolic link", ErrNotPIDFile)
		// What open(2) says of a socket.
		case errors.Is(err, syscall.ENXIO):
			return nil, fmt.Errorf("%w: it is a socket", ErrNotPIDFile)
		default:
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
	}
}

// fileOwner returns the user ID that owns the file fi describes and its
// number of hard links.
func fileOwner(fi fs.FileInfo) (uid, links int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, 1
	}
	return int(st.Uid), int(st.Nlink)
}
