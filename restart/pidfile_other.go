//go:build !unix

package restart

import (
	"fmt"
	"io/fs"
	"os"
)

// openPIDFile opens path for reading, refusing a symbolic link. Without
// O_NOFOLLOW the check and the open are two steps; the systems this file
// builds for run no agent as root.
func openPIDFile(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: it is a symbolic link", ErrNotPIDFile)
	}
	return os.Open(path)
}

// fileOwner knows no owner here: -1, and one link.
func fileOwner(fs.FileInfo) (uid, links int) { return -1, 1 }
