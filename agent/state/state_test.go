package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenModes(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(dir string) // what exists before Open
	}{
		{"new directory", func(string) {}},
		{"existing world-readable directory", func(dir string) {
			if err := os.MkdirAll(filepath.Join(dir, debDir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			tt.prepare(dir)
			d, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Save(&State{ETag: `"x"`}); err != nil {
				t.Fatal(err)
			}
			want := map[string]os.FileMode{
				dir:                           0o700 | os.ModeDir,
				filepath.Join(dir, debDir):    0o700 | os.ModeDir,
				filepath.Join(dir, lockName):  0o600,
				filepath.Join(dir, stateName): 0o600,
			}
			for p, mode := range want {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != mode {
					t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
				}
			}
		})
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description, so a second Open
	// conflicts even from this process, just as a second agent would.
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	// And from another process.
	cmd := helper(t, "open", dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("another process opened a locked directory: %s", out)
	}
	if got := string(out); !strings.Contains(got, ErrLocked.Error()) {
		t.Errorf("other process: %q, want it to say %q", got, ErrLocked)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	d2.Close()
}

func TestSaveLoad(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    *State
	}{
		{"empty", &State{}},
		{"installed only", &State{Installed: &Release{Package: "hello", Version: "1.0", SHA256: sha('a'), VersionID: "v1", PublishedAt: at, Deb: sha('a') + ".deb"}}},
		{"everything", &State{
			Installed:  &Release{Package: "hello", Version: "2.0", SHA256: sha('b')},
			Previous:   &Release{Package: "hello", Version: "1.0", SHA256: sha('a'), Deb: sha('a') + ".deb"},
			Installing: &Release{Package: "hello", Version: "3.0", SHA256: sha('c'), PublishedAt: at},
			Bad:        map[string]Bad{sha('d'): {Version: "2.5", Reason: "health: timeout", At: at}},
			ETag:       `"abc"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Save(tt.s); err != nil {
				t.Fatal(err)
			}
			got, err := d.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.s) {
				t.Errorf("Load = %+v, want %+v", got, tt.s)
			}
		})
	}
}

func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.WriteFile(filepath.Join(dir, stateName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(); err == nil {
		t.Fatal("Load of a corrupt state file succeeded")
	}
}

func TestMarkBad(t *testing.T) {
	var s State
	if s.IsBad(sha('a')) {
		t.Fatal("empty state says bad")
	}
	s.MarkBad(sha('a'), "1.0", "postinst failed", time.Unix(0, 0))
	if !s.IsBad(sha('a')) || s.IsBad(sha('b')) {
		t.Errorf("IsBad after MarkBad(a): a=%v b=%v", s.IsBad(sha('a')), s.IsBad(sha('b')))
	}
}

func TestKeepAndPruneDebs(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	names := map[byte]string{}
	for _, c := range []byte{'a', 'b', 'c', 'd'} {
		f, err := d.CreateTemp()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "deb %c", c)
		name, err := d.KeepDeb(f, sha(c))
		if err != nil {
			t.Fatal(err)
		}
		names[c] = name
		fi, err := os.Stat(d.DebPath(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode())
		}
	}
	pending, err := d.CreateTemp() // a download in progress must survive a prune
	if err != nil {
		t.Fatal(err)
	}
	pending.Close()
	s := &State{
		Installed:  &Release{SHA256: sha('b'), Deb: names['b']},
		Previous:   &Release{SHA256: sha('a'), Deb: names['a']},
		Installing: &Release{SHA256: sha('d'), Deb: names['d']},
	}
	if err := d.PruneDebs(s); err != nil {
		t.Fatal(err)
	}
	got := list(t, filepath.Join(dir, debDir))
	want := []string{filepath.Base(pending.Name()), names['a'], names['b'], names['d']}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after prune: %q, want %q", got, want)
	}

	if _, err := d.KeepDeb(mustTemp(t, d), "not-a-sha"); err == nil {
		t.Error("KeepDeb accepted an invalid sha256")
	}
}

func TestOpenRemovesTemps(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := mustTemp(t, d)
	f.Close()
	// What a kill -9 in the middle of WriteFile leaves.
	if err := os.WriteFile(filepath.Join(dir, tmpPrefix+"state.json-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := list(t, filepath.Join(dir, debDir)); len(got) != 0 {
		t.Errorf("debs after reopen: %q, want none", got)
	}
	for _, n := range list(t, dir) {
		if n != lockName && n != debDir {
			t.Errorf("left after reopen: %s", n)
		}
	}
}

// TestKillDuringSave kills a process that saves states in a loop at
// varying moments; the state left must always load and be one that was
// written completely.
func TestKillDuringSave(t *testing.T) {
	dir := t.TempDir()
	for i := range 15 {
		cmd := helper(t, "save-loop", dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until it has saved at least once, then kill it a little later.
		buf := make([]byte, 1)
		if _, err := stdout.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		d, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", i, err)
		}
		s, err := d.Load()
		if err != nil {
			t.Fatalf("round %d: Load after kill: %v", i, err)
		}
		if s.Installed == nil || s.ETag != "etag-"+s.Installed.Version {
			t.Fatalf("round %d: torn state %+v", i, s)
		}
		d.Close()
	}
}

// TestMain lets the test binary act as a second agent process.
func TestMain(m *testing.M) {
	switch os.Getenv("STATE_TEST_HELPER") {
	case "":
		os.Exit(m.Run())
	case "open":
		d, err := Open(os.Getenv("STATE_TEST_DIR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		d.Close()
		os.Exit(0)
	case "save-loop":
		d, err := Open(os.Getenv("STATE_TEST_DIR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for i := 0; i < 1_000_000; i++ {
			v := strconv.Itoa(i)
			s := &State{Installed: &Release{Package: "hello", Version: v, SHA256: sha('a')}, ETag: "etag-" + v}
			if err := d.Save(s); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if i == 0 {
				os.Stdout.Write([]byte{'.'})
			}
		}
		os.Exit(0)
	}
}

func helper(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STATE_TEST_HELPER="+mode, "STATE_TEST_DIR="+dir)
	return cmd
}

func sha(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func mustTemp(t *testing.T, d *Dir) *os.File {
	t.Helper()
	f, err := d.CreateTemp()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}
