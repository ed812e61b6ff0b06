//go:build linux

package testenv

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// SmallDisk mounts a tmpfs of size bytes ("4m", "256k") on dir, an
// existing directory, for the rest of t, so that a test can fill a disk
// without filling the machine's. It needs root: without it the test is
// skipped, or failed in CI (CI=true), whose runner is root.
func SmallDisk(t testing.TB, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("mounting a small file system needs root, which CI runs as")
		}
		t.Skip("mounting a small file system needs root")
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a %s tmpfs on %s: %v", size, dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// GrowDisk gives the tmpfs SmallDisk mounted on dir a new size, keeping
// its files: room made while a test runs.
func GrowDisk(t testing.TB, dir, size string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT, "size="+size); err != nil {
		t.Fatalf("resize the tmpfs on %s to %s: %v", dir, size, err)
	}
}

// FreeBytes is the space an unprivileged writer has left on dir's file
// system.
func FreeBytes(t testing.TB, dir string) uint64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}
