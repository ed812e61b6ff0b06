package deb_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debfleet/debfleet/deb"
)

// readMemoryEnv names the package a child process reads (see TestMain),
// and readControlEnv, set to "1", makes it read only the control member
// (ReadControl).
const (
	readMemoryEnv  = "DEBFLEET_READ_MEMORY"
	readControlEnv = "DEBFLEET_READ_CONTROL"
)

// maxReadMemory is the peak resident memory a process that only reads one
// package, whatever it holds, may reach.
const maxReadMemory = 64 << 20

// TestMain lets the test binary act as a child process that reads one
// package and reports its peak memory (see peakRead).
func TestMain(m *testing.M) {
	if path := os.Getenv(readMemoryEnv); path != "" {
		os.Exit(readMemoryChild(path, os.Getenv(readControlEnv) == "1"))
	}
	os.Exit(m.Run())
}

// readResult is what the child process reports.
type readResult struct {
	Alloc uint64 // bytes allocated
	Peak  int64  // bytes, VmHWM
	Err   string // Read's error, "" for none
}

func readMemoryChild(path string, control bool) int {
	a0 := allocated()
	var err error
	if control {
		err = readControlFile(path)
	} else {
		_, err = deb.ReadFile(path)
	}
	alloc := allocated() - a0
	peak, herr := vmHWM()
	if herr != nil {
		fmt.Fprintln(os.Stderr, herr)
		return 2
	}
	res := readResult{Peak: peak, Alloc: alloc}
	if err != nil {
		res.Err = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 2
	}
	return 0
}

// readControlFile reads the control fields of the package at path with
// ReadControl, the file being the prefix.
func readControlFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = deb.ReadControl(f, st.Size())
	return err
}

// vmHWM is this process's peak resident set size in bytes.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// allocated is what the process has allocated on the heap so far, from
// runtime/metrics (which, unlike ReadMemStats, does not stop the world).
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakRead reads data with ReadFile (or only its control fields with
// ReadControl, when control) in a fresh process (this test binary, see
// TestMain) and returns that process's peak resident memory and the
// error: the memory of one Read, without the test runner's or that of the
// test that made data. GOGC and GOMEMLIMIT are left at Go's defaults, as
// a caller would have them.
func peakRead(t *testing.T, data []byte, control bool) readResult {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.deb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, readMemoryEnv+"="+path)
	if control {
		cmd.Env = append(cmd.Env, readControlEnv+"=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var res readResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	return res
}

// One Read takes under maxReadMemory, whatever the package holds: hostile
// packages small on disk are refused before they take it, and real ones
// still read.
func TestReadMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak memory comes from /proc")
	}
	// A name as in real packages, and the longest Read takes (PATH_MAX,
	// 4096 bytes, with the NUL).
	docName, longName := "./usr/share/doc/a-package-name/some-file-name.txt", "./"+strings.Repeat("n", 4093)
	perl := filepath.Join(realPackageCache, "perl-base_5.36.0-7+deb12u4_amd64.deb")
	tests := []struct {
		name    string
		data    func(t testing.TB) []byte
		wantErr string // "" means Read succeeds
	}{
		{"valid xz", func(t testing.TB) []byte { return validDeb(t, deb.XZ) }, ""},
		{"real perl-base", func(t testing.TB) []byte {
			b, err := os.ReadFile(perl)
			if err != nil {
				t.Skip(err)
			}
			return b
		}, ""},
		{"30,000 files", func(t testing.TB) []byte { return manyFilesDeb(t, 30_000) }, ""},
		{"GNU long names", func(t testing.TB) []byte { return longNamesDeb(t, 300, 1<<20, false) }, "GNU long name of 1048576 bytes is longer than PATH_MAX"},
		{"GNU long names and links", func(t testing.TB) []byte { return longNamesDeb(t, 300, 1<<20, true) }, "GNU long link target of 1048576 bytes"},
		{"PAX names in control", func(t testing.TB) []byte { return paxNamesDeb(t, 300, 1<<20-100) }, "longer than PATH_MAX"},
		{"xz second block 4 GiB dictionary", func(t testing.TB) []byte { return xzDictDeb(t, 512, 40) }, "block 2 asks for an LZMA2 dictionary of 4294967295 bytes"},
		{"xz second block 64 MiB dictionary", func(t testing.TB) []byte { return xzDictDeb(t, 128, 28) }, "block 2 asks for an LZMA2 dictionary of 67108864 bytes"},
		{"xz 16 MiB dictionary filled", func(t testing.TB) []byte { return xzDictDeb(t, 64, 24) }, ""},
		{"xz many blocks", func(t testing.TB) []byte { return xzBlocksDeb(t, 20000, 24) }, ""},
		{"xz 16 MiB dictionary full, entries to the cap", func(t testing.TB) []byte { return xzFullDeb(t, 16<<20, 250_000, docName) }, "metadata needs more than"},
		{"xz 16 MiB dictionary full, long names to the cap", func(t testing.TB) []byte { return xzFullDeb(t, 16<<20, 20_000, longName) }, "metadata needs more than"},
		{"zstd many frames", func(t testing.TB) []byte { return zstdFramesDeb(t, 100_000, 16<<20) }, ""},
		{"zstd 16 MiB window filled", func(t testing.TB) []byte { return zstdWindowDeb(t, 16<<20, 128<<20) }, ""},
		{"zstd 32 MiB window", func(t testing.TB) []byte { return zstdWindowDeb(t, 32<<20, 128<<20) }, "window"},
		{"many entries", func(t testing.TB) []byte { return manyEntriesDeb(t, 250_000, docName) }, "metadata needs more than"},
		{"many long names", func(t testing.TB) []byte { return manyEntriesDeb(t, 250_000, longName) }, "metadata needs more than"},
		{"big md5sums", func(t testing.TB) []byte { return controlFilesDeb(t, 15<<20, "md5sums") }, "metadata needs more than"},
		{"big scripts", func(t testing.TB) []byte {
			return controlFilesDeb(t, 3<<20, "preinst", "postinst", "prerm", "postrm", "config")
		}, ""},
		{"control continuation lines", func(t testing.TB) []byte { return continuationDeb(t, 12<<20) }, "metadata needs more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			res := peakRead(t, data, false)
			t.Logf("%d bytes on disk: peak %.1f MiB, alloc %.1f MiB, error: %.80s", len(data), float64(res.Peak)/(1<<20), float64(res.Alloc)/(1<<20), res.Err)
			switch {
			case tt.wantErr == "" && res.Err != "":
				t.Errorf("Read: %s", res.Err)
			case tt.wantErr != "" && !strings.Contains(res.Err, tt.wantErr):
				t.Errorf("Read error %q, want %q", res.Err, tt.wantErr)
			}
			if res.Peak >= maxReadMemory {
				t.Errorf("peak memory %d bytes, want under %d", res.Peak, maxReadMemory)
			}
		})
	}
}

// ReadControl takes under maxReadMemory too, whatever the control member
// holds; the data member, which it does not read, is a small valid one.
func TestReadControlMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak memory comes from /proc")
	}
	xzControl := func(t testing.TB, n int, dict byte) []byte {
		return debWith("control.tar.xz", xzDictStream(t, n, dict), "data.tar.gz", tarGz(t, tarFile{name: "./a", body: []byte("a")}))
	}
	tests := []struct {
		name    string
		data    func(t testing.TB) []byte
		wantErr string // "" means ReadControl succeeds
	}{
		{"valid xz", func(t testing.TB) []byte { return validDeb(t, deb.XZ) }, ""},
		{"PAX names in control", func(t testing.TB) []byte { return paxNamesDeb(t, 300, 1<<20-100) }, "longer than PATH_MAX"},
		{"xz control, second block 4 GiB dictionary", func(t testing.TB) []byte { return xzControl(t, 512, 40) }, "block 2 asks for an LZMA2 dictionary of 4294967295 bytes"},
		{"xz control, 16 MiB dictionary filled", func(t testing.TB) []byte { return xzControl(t, 64, 24) }, "decompressed control tarball exceeds"},
		{"big md5sums", func(t testing.TB) []byte { return controlFilesDeb(t, 15<<20, "md5sums") }, "metadata needs more than"},
		{"big scripts", func(t testing.TB) []byte {
			return controlFilesDeb(t, 3<<20, "preinst", "postinst", "prerm", "postrm", "config")
		}, ""},
		{"control continuation lines", func(t testing.TB) []byte { return continuationDeb(t, 12<<20) }, "metadata needs more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			res := peakRead(t, data, true)
			t.Logf("%d bytes on disk: peak %.1f MiB, alloc %.1f MiB, error: %.80s", len(data), float64(res.Peak)/(1<<20), float64(res.Alloc)/(1<<20), res.Err)
			switch {
			case tt.wantErr == "" && res.Err != "":
				t.Errorf("ReadControl: %s", res.Err)
			case tt.wantErr != "" && !strings.Contains(res.Err, tt.wantErr):
				t.Errorf("ReadControl error %q, want %q", res.Err, tt.wantErr)
			}
			if res.Peak >= maxReadMemory {
				t.Errorf("peak memory %d bytes, want under %d", res.Peak, maxReadMemory)
			}
		})
	}
}
