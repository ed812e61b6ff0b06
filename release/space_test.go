//go:build linux

package release

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debfleet/debfleet/internal/testenv"
)

// TestFetchWithoutRoom: a release fetched into a file on a disk without
// room for it fails with ErrNoSpace after the first GET, before any
// byte is written and without asking for any range, whether it would
// come in one stream or in ranges; the disk's free space is what it
// was. The same release fetches fine where there is room.
func TestFetchWithoutRoom(t *testing.T) {
	disk := t.TempDir()
	testenv.SmallDisk(t, disk, "4m")
	srv := s3env.Server(t)
	c, p := proxiedClient(t, srv, 4, nil)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	for _, tc := range []struct {
		name string
		size int
	}{
		{"one stream", 6 << 20}, // under two 5 MiB parts: one GET
		{"in ranges", 12 << 20}, // ranged GETs after the first
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := randomBytes(t, tc.size)
			res := publishBytes(t, c, a, body, "1.0")
			free := testenv.FreeBytes(t, disk)
			before := len(p.Requests())
			f, err := os.Create(filepath.Join(disk, "release.deb"))
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(f.Name())
			defer f.Close()
			_, err = c.Fetch(testCtx(t), a, res.VersionID, f)
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), disk) {
				t.Fatalf("fetch into a 4 MiB disk: %v, want ErrNoSpace naming %s", err, disk)
			}
			if n := len(p.Requests()) - before; n != 1 {
				t.Errorf("%d requests, want only the first GET", n)
			}
			if fi, _ := f.Stat(); fi.Size() != 0 || testenv.FreeBytes(t, disk) != free {
				t.Errorf("file holds %d bytes, %d bytes free, want 0 and %d", fi.Size(), testenv.FreeBytes(t, disk), free)
			}
			got, _, err := fetchToFile(t, c, a, res.VersionID)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("fetch where there is room: %v (same bytes: %v)", err, bytes.Equal(got, body))
			}
		})
	}
}

// TestFetchIntoAppendedFile: a file open for appending gets the release
// after what it held, with no space reserved ahead of it (its writes
// would land after the reservation).
func TestFetchIntoAppendedFile(t *testing.T) {
	srv := s3env.Server(t)
	c, _ := proxiedClient(t, srv, 4, nil)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	body := randomBytes(t, 1<<20)
	res := publishBytes(t, c, a, body, "1.0")
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.Fetch(testCtx(t), a, res.VersionID, f); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("before\n"), body...); !bytes.Equal(got, want) {
		t.Fatalf("file holds %d bytes, want %d: the 7 it held, then the release", len(got), len(want))
	}
}
