//go:build !unix

package buildspec

import "io/fs"

// inode reports false: without Unix inode numbers, hard links are not told
// apart from copies.
func inode(fs.FileInfo) (fileID, bool) { return fileID{}, false }
