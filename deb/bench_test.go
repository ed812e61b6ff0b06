package deb_test

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/debfleet/debfleet/deb"
)

// dirEntries maps every file of dir under dest (e.g. /opt/x), keeping the
// executable bit.
func dirEntries(tb testing.TB, dir, dest string) []deb.Entry {
	tb.Helper()
	var out []deb.Entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		out = append(out, deb.Entry{Dest: dest + "/" + filepath.ToSlash(rel), Source: p, Mode: mode})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// syntheticPayload writes a small deterministic payload: pseudo-random
// bytes, text, and many small files.
func syntheticPayload(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := make([]byte, 0, 4<<20)
	for i := 0; len(text) < 4<<20; i++ {
		text = append(text, "func handler"+strconv.Itoa(i)+"(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, \"hello\") }\n"...)
	}
	files := map[string][]byte{"bin/random": random, "share/text.go": text}
	for i := range 200 {
		files["share/small/"+strconv.Itoa(i)+".txt"] = text[i*97 : i*97+1+i*13]
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func benchBuild(b *testing.B, dir string, comp deb.Compression, level int) {
	spec := testSpec()
	spec.Compression = comp
	spec.Level = level
	spec.Entries = dirEntries(b, dir, "/opt/bench")
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			total += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ResetTimer()
	var size int64
	for b.Loop() {
		res, err := deb.Build(b.Context(), io.Discard, spec)
		if err != nil {
			b.Fatal(err)
		}
		size = res.Size
	}
	b.ReportMetric(float64(size)/float64(total)*100, "%size")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
	}
}

// BenchmarkBuild builds a small synthetic payload (~8 MiB) with each
// compression.
func BenchmarkBuild(b *testing.B) {
	dir := syntheticPayload(b)
	for _, c := range []deb.Compression{deb.Gzip, deb.Zstd, deb.XZ, deb.None} {
		b.Run(string(c), func(b *testing.B) { benchBuild(b, dir, c, 0) })
	}
}

// BenchmarkBuildDir builds the directory named by DEBFLEET_BENCH_PAYLOAD
// (e.g. a 214 MB or 1 GB tree), reporting the output size and the peak RSS
// of the whole test process; DEBFLEET_BENCH_LEVEL sets Spec.Level. Run one
// compression at a time for a clean RSS:
//
//	DEBFLEET_BENCH_PAYLOAD=/path/to/tree go test -run '^$' -bench 'BuildDir/gzip' -benchtime 1x ./deb/
func BenchmarkBuildDir(b *testing.B) {
	dir := os.Getenv("DEBFLEET_BENCH_PAYLOAD")
	if dir == "" {
		b.Skip("set DEBFLEET_BENCH_PAYLOAD to a directory to package")
	}
	level := 0
	if v := os.Getenv("DEBFLEET_BENCH_LEVEL"); v != "" {
		var err error
		if level, err = strconv.Atoi(v); err != nil {
			b.Fatalf("DEBFLEET_BENCH_LEVEL: %v", err)
		}
	}
	for _, c := range []deb.Compression{deb.Gzip, deb.Zstd, deb.XZ, deb.None} {
		b.Run(string(c), func(b *testing.B) { benchBuild(b, dir, c, level) })
	}
}

// BenchmarkReadDir builds the directory named by DEBFLEET_BENCH_PAYLOAD once,
// then times Read on it (md5s of every file verified), reporting peak RSS.
func BenchmarkReadDir(b *testing.B) {
	dir := os.Getenv("DEBFLEET_BENCH_PAYLOAD")
	if dir == "" {
		b.Skip("set DEBFLEET_BENCH_PAYLOAD to a directory to package")
	}
	spec := testSpec()
	spec.Entries = dirEntries(b, dir, "/opt/bench")
	p := filepath.Join(b.TempDir(), "bench.deb")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := deb.Build(b.Context(), f, spec); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		pkg, err := deb.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := pkg.Verify(); err != nil {
			b.Fatal(err)
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
	}
}
