//go:build unix

package buildspec

import (
	"io/fs"
	"syscall"
)

// inode returns the device and inode numbers of a file with more than one
// name, and false for one with a single name (or no such numbers).
func inode(info fs.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}
