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
// come in one stream, in ranges, or as a plain upload (FetchPlain); the
// disk's free space is what it was. The same release fetches fine where
// there is room.
func TestFetchWithoutRoom(t *testing.T) {
	disk := t.TempDir()
	testenv.SmallDisk(t, disk, "4m")
	srv := s3env.Server(t)
	c, p := proxiedClient(t, srv, 4, nil)
	a := Address{Bucket: srv.Bucket(t, true), Key: "app/production.deb"}
	published := func(t *testing.T, body []byte) string { return publishBytes(t, c, a, body, "1.0").VersionID }
	plain := func(t *testing.T, body []byte) string { return putWith("")(t, srv, c, a, body) }
	fetch := func(w *os.File, vid string, size int64) error {
		_, err := c.Fetch(testCtx(t), a, vid, w)
		return err
	}
	fetchPlain := func(w *os.File, vid string, size int64) error {
		_, err := c.FetchPlain(testCtx(t), a, vid, size, w)
		return err
	}
	for _, tc := range []struct {
		name   string
		size   int
		upload func(*testing.T, []byte) string
		fetch  func(w *os.File, vid string, size int64) error
	}{
		{"one stream", 6 << 20, published, fetch}, // under two 5 MiB parts: one GET
		{"in ranges", 12 << 20, published, fetch}, // ranged GETs after the first
		{"plain upload", 6 << 20, plain, fetchPlain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := randomBytes(t, tc.size)
			vid := tc.upload(t, body)
			free := testenv.FreeBytes(t, disk)
			before := len(p.Requests())
			f, err := os.Create(filepath.Join(disk, "release.deb"))
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(f.Name())
			defer f.Close()
			err = tc.fetch(f, vid, int64(len(body)))
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), disk) {
				t.Fatalf("fetch into a 4 MiB disk: %v, want ErrNoSpace naming %s", err, disk)
			}
			if n := len(p.Requests()) - before; n != 1 {
				t.Errorf("%d requests, want only the first GET", n)
			}
			if fi, _ := f.Stat(); fi.Size() != 0 || testenv.FreeBytes(t, disk) != free {
				t.Errorf("file holds %d bytes, %d bytes free, want 0 and %d", fi.Size(), testenv.FreeBytes(t, disk), free)
			}
			roomy, err := os.Create(filepath.Join(t.TempDir(), "release.deb"))
			if err != nil {
				t.Fatal(err)
			}
			defer roomy.Close()
			if err := tc.fetch(roomy, vid, int64(len(body))); err != nil {
				t.Fatalf("fetch where there is room: %v", err)
			}
			if got, _ := os.ReadFile(roomy.Name()); !bytes.Equal(got, body) {
				t.Fatalf("fetched %d bytes where there is room, not the %d published", len(got), len(body))
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
