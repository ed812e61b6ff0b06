package deb

import (
	"fmt"
	"unsafe"
)

// Limits that bound Read's memory whatever the package holds: one Read
// stays under 64 MB (TestReadMemory measures it). Real packages are far
// below them.
const (
	maxMembers      = 32
	maxDebianBinary = 64
	// maxControlMember bounds the compressed control member, and
	// maxControlTotal the control tarball it decompresses to, headers
	// included.
	maxControlMember  = 16 << 20
	maxControlTotal   = 16 << 20
	maxControlEntries = 1000
	// maxPath bounds an entry's name and link target: PATH_MAX on Linux,
	// whose system calls take no longer path, so dpkg could not create it.
	maxPath = 4096
	// maxXZDict bounds each xz block's LZMA2 dictionary, which its
	// decoder allocates whole: 16 MiB is xz -7's; dpkg-deb's default
	// (xz -6) takes 8 MiB, Build 2 MiB.
	maxXZDict = 16 << 20
	// maxZstdWindow bounds the zstd window in the same way: zstd -19
	// takes 8 MiB, Build 4 MiB.
	maxZstdWindow = 16 << 20
	// maxKept bounds the metadata Read keeps in memory (see keeper).
	maxKept = 24 << 20
)

// Costs, in bytes, of what Read keeps besides the strings themselves.
const (
	// entryCost is one entry of Files: its FileInfo, twice (append
	// copies Files as it grows), its slots in the maps over it, its md5
	// and its place in MD5Mismatches.
	entryCost = 2*int64(unsafe.Sizeof(FileInfo{})) + 192
	// lineCost is one line of md5sums, conffiles or control: its slot in
	// a map or slice, twice as it grows.
	lineCost = 64
)

// errMetadata is what keeper.keep returns once maxKept is passed.
var errMetadata = fmt.Errorf("the package's metadata needs more than the %d bytes Read keeps in memory", maxKept)

// keeper counts the bytes of metadata Read keeps in memory (the control
// files it returns, md5sums parsed, and the entries in Files with the
// maps over them) against maxKept.
type keeper struct{ kept int64 }

// keep adds n bytes; it returns errMetadata once they pass maxKept.
func (k *keeper) keep(n int64) error {
	if k.kept += n; k.kept > maxKept {
		return errMetadata
	}
	return nil
}
