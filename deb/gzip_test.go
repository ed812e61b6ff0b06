package deb

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/debfleet/debfleet/internal/testbytes"
)

// Shorter names for the shared test inputs.
var (
	randomBytes = testbytes.Random
	textBytes   = testbytes.Text
)

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// gzipInputs are the round-trip cases: block boundaries and both levels of
// the adaptive choice.
func gzipInputs() []struct {
	name string
	in   []byte
} {
	const bs = gzipBlockSize
	return []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'x'}},
		{"one block of text", textBytes(bs, 1)},
		{"one block plus one", textBytes(bs+1, 2)},
		{"one block minus one", randomBytes(bs-1, 3)},
		{"many blocks of text", textBytes(3*bs+12345, 4)},
		{"random then text", concat(randomBytes(bs+777, 5), textBytes(2*bs, 6))},
		{"text then random then text", concat(textBytes(bs/2, 7), randomBytes(2*bs, 8), textBytes(bs+3, 9))},
		{"zeros", make([]byte, 2*bs+5)},
	}
}

// gzipCompress compresses in with level, writing it in chunks of chunk
// bytes (0: one Write).
func gzipCompress(t testing.TB, in []byte, level, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	z, err := newGzipWriter(&out, level)
	if err != nil {
		t.Fatal(err)
	}
	if chunk == 0 {
		chunk = max(len(in), 1)
	}
	for p := in; len(p) > 0; {
		k := min(chunk, len(p))
		if n, err := z.Write(p[:k]); err != nil || n != k {
			t.Fatalf("Write: %d, %v", n, err)
		}
		p = p[k:]
	}
	if err := z.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(z.free) + len(z.pending); n > z.slots+1 {
		t.Errorf("%d blocks allocated, want at most %d", n, z.slots+1)
	}
	if z.encCount > z.slots {
		t.Errorf("%d encoders allocated, want at most %d", z.encCount, z.slots)
	}
	return out.Bytes()
}

// checkGzip decodes gz with Go's reader and, when gzip is installed, with
// gzip -t, and checks the header is what gzip -n writes.
func checkGzip(t *testing.T, gz, want []byte, xfl byte) {
	t.Helper()
	if len(gz) < 18 {
		t.Fatalf("%d bytes: too short for gzip", len(gz))
	}
	if h := gz[:10]; !bytes.Equal(h, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3}) {
		t.Errorf("header % x, want no flags, mtime 0, XFL %d, OS 3", h, xfl)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	r.Multistream(false)
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes, want the %d written", len(got), len(want))
	}
	if r.Name != "" || !r.ModTime.IsZero() {
		t.Errorf("header name %q, mtime %v: want none", r.Name, r.ModTime)
	}
	if err := r.Reset(bytes.NewReader(gz)); err != nil {
		t.Fatal(err)
	}
	if all, err := io.ReadAll(r); err != nil || len(all) != len(want) {
		t.Errorf("read as a multistream: %d bytes, %v: want only the one member", len(all), err)
	}
	gzipTool(t, gz)
}

// gzipTool runs gzip -t on gz: the reference decoder. It skips when gzip
// is missing, except in CI.
func gzipTool(t *testing.T, gz []byte) {
	t.Helper()
	bin, err := exec.LookPath("gzip")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gzip is required in CI: %v", err)
		}
		t.Logf("gzip not installed: %v: gzip -t not run", err)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t")
	cmd.Stdin = bytes.NewReader(gz)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gzip -t: %v: %s", err, out)
	}
}

func TestGzipRoundTrip(t *testing.T) {
	for _, tt := range gzipInputs() {
		t.Run(tt.name, func(t *testing.T) {
			// Odd chunks cross block boundaries mid-Write.
			gz := gzipCompress(t, tt.in, 0, 100003)
			checkGzip(t, gz, tt.in, 0)
		})
	}
}

// An explicit level means that level for every block: the header says so
// for 1 and 9, and a one-block stream is exactly flate's output at it.
func TestGzipExplicitLevel(t *testing.T) {
	in := concat(randomBytes(1000, 10), textBytes(200000, 11))
	for level := 1; level <= 9; level++ {
		t.Run(strconv.Itoa(level), func(t *testing.T) {
			gz := gzipCompress(t, in, level, 0)
			xfl := map[int]byte{1: 4, 9: 2}[level]
			checkGzip(t, gz, in, xfl)
			var want bytes.Buffer
			fw, err := flate.NewWriter(&want, level)
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(in)
			fw.Close()
			if got := gz[10 : len(gz)-8]; !bytes.Equal(got, want.Bytes()) {
				t.Errorf("deflate stream (%d bytes) differs from flate level %d (%d bytes)", len(got), level, want.Len())
			}
		})
	}
	if _, err := newGzipWriter(io.Discard, 10); err == nil {
		t.Error("level 10 accepted")
	}
}

// The adaptive default stores random data at klauspost's fast level and
// gives the rest to our own encoder, which is smaller than klauspost's
// level 6 on text and than its level 8 on Go code. On random data the fast
// level's output is kept as it is.
func TestGzipAdaptive(t *testing.T) {
	exe, err := os.ReadFile(os.Args[0]) // a Go binary: this test
	if err != nil {
		t.Fatal(err)
	}
	exe = exe[len(exe)/4:][:min(len(exe)/2, 2*gzipBlockSize)]
	for _, tt := range []struct {
		name    string
		in      []byte
		smaller int // than this klauspost level; 0: the same as denseLevel
	}{
		{"text", textBytes(2*gzipBlockSize, 12), 6},
		{"go binary", exe, 8},
		{"random", randomBytes(2*gzipBlockSize, 13), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			adaptive := gzipCompress(t, tt.in, 0, 0)
			if tt.smaller == 0 {
				if dense := gzipCompress(t, tt.in, denseLevel, 0); !bytes.Equal(adaptive, dense) {
					t.Errorf("adaptive %d bytes, level %d %d: want level %d's output", len(adaptive), denseLevel, len(dense), denseLevel)
				}
				return
			}
			if theirs := gzipCompress(t, tt.in, tt.smaller, 0); len(adaptive) >= len(theirs) {
				t.Errorf("adaptive %d bytes, klauspost level %d %d: want smaller", len(adaptive), tt.smaller, len(theirs))
			}
		})
	}
}

func TestBlockLevel(t *testing.T) {
	exe, err := os.ReadFile(os.Args[0]) // a Go binary: this test
	if err != nil {
		t.Fatal(err)
	}
	exe = exe[:min(len(exe), 4*gzipBlockSize)]
	for _, tt := range []struct {
		name string
		in   []byte
		want int
	}{
		{"empty", nil, ownLevel},
		{"random", randomBytes(gzipBlockSize, 14), denseLevel},
		{"small random", randomBytes(1000, 15), denseLevel},
		{"zeros", make([]byte, gzipBlockSize), ownLevel},
		{"text", textBytes(gzipBlockSize, 16), ownLevel},
		{"go binary", exe[len(exe)/2:][:gzipBlockSize], ownLevel},
		// Half random, half zeros: order-2 entropy about 2 bits.
		{"half random", concat(randomBytes(gzipBlockSize/2, 17), make([]byte, gzipBlockSize/2)), ownLevel},
		// Every byte value equally often: the most even spread there is.
		{"uniform", bytes.Repeat(func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(), 4096), denseLevel},
	} {
		if got := blockLevel(tt.in); got != tt.want {
			t.Errorf("%s: level %d, want %d", tt.name, got, tt.want)
		}
	}
}

// The bytes depend only on the input and level: not on GOMAXPROCS (which
// sets blocks in flight) nor on how the input is cut into writes.
func TestGzipDeterministic(t *testing.T) {
	in := concat(textBytes(gzipBlockSize+99, 18), randomBytes(2*gzipBlockSize, 19), textBytes(3*gzipBlockSize, 20))
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	var first []byte
	for _, procs := range []int{1, 2, 4} {
		for _, chunk := range []int{0, 4096, 1<<20 + 1} {
			runtime.GOMAXPROCS(procs)
			gz := gzipCompress(t, in, 0, chunk)
			if first == nil {
				first = gz
				checkGzip(t, gz, in, 0)
			} else if !bytes.Equal(gz, first) {
				t.Fatalf("GOMAXPROCS %d, writes of %d: output differs", procs, chunk)
			}
		}
	}
}

// failWriter accepts limit bytes, then fails.
type failWriter struct{ limit int }

var errFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		w.limit = 0
		return 0, errFull
	}
	w.limit -= len(p)
	return len(p), nil
}

// A failing destination surfaces from Write or Close, once blocks in
// flight are done; later calls keep failing.
func TestGzipWriteError(t *testing.T) {
	in := textBytes(12*gzipBlockSize, 21)
	for _, limit := range []int{0, 5, 100 << 10} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			z, err := newGzipWriter(&failWriter{limit: limit}, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, werr := z.Write(in)
			cerr := z.Close()
			if !errors.Is(werr, errFull) && !errors.Is(cerr, errFull) {
				t.Fatalf("Write: %v, Close: %v: want %v", werr, cerr, errFull)
			}
			if !errors.Is(cerr, errFull) {
				t.Errorf("Close after a failed Write: %v, want %v", cerr, errFull)
			}
			if len(z.pending) != 0 {
				t.Errorf("%d blocks still in flight after Close", len(z.pending))
			}
			if _, err := z.Write([]byte("x")); err == nil {
				t.Error("Write after Close succeeded")
			}
		})
	}
}

// A multi-block package with the default gzip is read by dpkg-deb.
func TestGzipDpkgDebContents(t *testing.T) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dpkg-deb is required in CI: %v", err)
		}
		t.Skipf("dpkg-deb not installed: %v", err)
	}
	spec := &Spec{
		Control: Control{Package: "gz", Version: "1.0", Architecture: "amd64", Maintainer: "T <t@example.com>",
			Synopsis: "gzip test", Description: "Blocks of both levels."},
		Entries: []Entry{
			{Dest: "/opt/gz/random", Body: randomBytes(gzipBlockSize+5, 22)},
			{Dest: "/opt/gz/text", Body: textBytes(2*gzipBlockSize+7, 23)},
		},
	}
	p := filepath.Join(t.TempDir(), "gz.deb")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Build(t.Context(), f, spec); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, dpkgDeb, "--contents", p).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v: %s", err, out)
	}
	for _, want := range []string{
		"root/root " + strconv.Itoa(gzipBlockSize+5) + " 1970-01-01 00:00 ./opt/gz/random",
		"root/root " + strconv.Itoa(2*gzipBlockSize+7) + " 1970-01-01 00:00 ./opt/gz/text",
	} {
		if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), want) {
			t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkGzipWriter compresses the file named by DEBFLEET_BENCH_GZIP
// (e.g. an uncompressed data.tar) at DEBFLEET_BENCH_LEVEL (default 0, the
// adaptive choice), reporting the compressed size:
//
//	DEBFLEET_BENCH_GZIP=data.tar go test -run '^$' -bench GzipWriter -benchtime 1x ./deb/
func BenchmarkGzipWriter(b *testing.B) {
	name := os.Getenv("DEBFLEET_BENCH_GZIP")
	if name == "" {
		b.Skip("set DEBFLEET_BENCH_GZIP to a file to compress")
	}
	level := 0
	if v := os.Getenv("DEBFLEET_BENCH_LEVEL"); v != "" {
		var err error
		if level, err = strconv.Atoi(v); err != nil {
			b.Fatalf("DEBFLEET_BENCH_LEVEL: %v", err)
		}
	}
	in, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	var n int64
	for b.Loop() {
		c := countWriter{w: io.Discard}
		z, err := newGzipWriter(&c, level)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := z.Write(in); err != nil {
			b.Fatal(err)
		}
		if err := z.Close(); err != nil {
			b.Fatal(err)
		}
		n = c.n
	}
	b.ReportMetric(float64(n), "bytes")
}
