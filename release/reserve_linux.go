//go:build linux

package release

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// reserve allocates bytes [off, off+size) of f (fallocate), so that a
// disk without room for a release fails before its first byte is
// downloaded, and a download never fills the disk part way. It returns
// an error only for a lack of room (ENOSPC, EDQUOT, EFBIG); anything else
// (a file system or file that cannot reserve, such as a pipe) leaves the
// writes to find out, as without it. A file open for appending is left
// alone: its writes would land after the reserved bytes.
func reserve(f *os.File, off, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var ferr error
	rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil || flags&unix.O_APPEND != 0 {
			return
		}
		ferr = unix.Fallocate(int(fd), 0, off, size)
	})
	if errors.Is(ferr, unix.ENOSPC) || errors.Is(ferr, unix.EDQUOT) || errors.Is(ferr, unix.EFBIG) {
		return ferr
	}
	return nil
}
