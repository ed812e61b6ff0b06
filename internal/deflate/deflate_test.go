package deflate

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	kflate "github.com/klauspost/compress/flate"

	"github.com/debfleet/debfleet/internal/testbytes"
)

// Shorter names for the shared test inputs.
var (
	randomBytes = testbytes.Random
	textBytes   = testbytes.Text
)

// goBinary returns up to n bytes from the middle of this test's own binary.
func goBinary(t testing.TB, n int) []byte {
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe = exe[len(exe)/4:]
	return exe[:min(n, len(exe))]
}

// encodeChunks encodes in as consecutive chunks of size chunk (the whole
// input when chunk is 0), each primed with everything before it, the way
// the parallel gzip writer uses an Encoder.
func encodeChunks(e *Encoder, in []byte, chunk int) []byte {
	if chunk <= 0 {
		chunk = max(len(in), 1)
	}
	var out []byte
	for start := 0; ; start += chunk {
		end := min(start+chunk, len(in))
		out = e.Encode(out, in[:end], start, end == len(in))
		if end == len(in) {
			return out
		}
	}
}

// klauspost compresses in with klauspost's encoder at level.
func klauspost(t testing.TB, in []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := kflate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zlibBytes compresses in with zlib, as the Go linker compresses DWARF.
func zlibBytes(t testing.TB, in []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func inflate(t testing.TB, compressed, dict []byte) []byte {
	t.Helper()
	got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(compressed), dict))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	ascending := make([]byte, 256*40)
	for i := range ascending {
		ascending[i] = byte(i)
	}
	inputs := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'x'}},
		{"three bytes", []byte("abc")},
		{"four bytes", []byte("abcd")},
		{"short repeat", []byte("abcabcabcabcabc")},
		{"zeros", make([]byte, 300_000)},
		{"ascending", ascending},
		{"random", randomBytes(200_000, 1)},
		{"text", textBytes(300_000, 2)},
		{"go binary", goBinary(t, 400_000)},
		{"mixed", bytes.Join([][]byte{textBytes(70_000, 3), randomBytes(70_000, 4), make([]byte, 70_000), goBinary(t, 70_000)}, nil)},
		// An unstripped Go binary: code, then a DWARF section the linker
		// compressed with zlib (dense segments coded without a search), a
		// short one inside a segment, and code again.
		{"binary with compressed DWARF", bytes.Join([][]byte{goBinary(t, 50_000), zlibBytes(t, textBytes(200_000, 17)), goBinary(t, 30_000), zlibBytes(t, textBytes(9_000, 18)), goBinary(t, 40_000)}, nil)},
		// A match that starts before a dense segment runs into it.
		{"repeat into a dense segment", bytes.Join([][]byte{randomBytes(20_000, 19), randomBytes(20_000, 19), randomBytes(30_000, 20)}, nil)},
	}
	efforts := []Effort{{}, {Depth: 1, Nice: 3}, {Depth: 4, Nice: 16}, {Depth: 256, Nice: 258}}
	for _, in := range inputs {
		for _, eff := range efforts {
			for _, chunk := range []int{0, 1, 1000, 65536 + 3} {
				if chunk == 1 && len(in.in) > 1000 {
					continue // a chunk per byte is for the tiny inputs
				}
				out := encodeChunks(NewEncoder(eff), in.in, chunk)
				if got := inflate(t, out, nil); !bytes.Equal(got, in.in) {
					t.Errorf("%s, effort %+v, chunk %d: round trip differs (%d bytes back of %d)", in.name, eff, chunk, len(got), len(in.in))
				}
			}
		}
	}
}

// Matches reach into the history, and a decoder given the same history
// gets the chunk back; without the history the chunk is much larger.
func TestHistory(t *testing.T) {
	text := textBytes(100_000, 5)
	hist, chunk := text[:60_000], text[60_000:]
	e := NewEncoder(Effort{})
	with := e.Encode(nil, text, len(hist), true)
	without := e.Encode(nil, chunk, 0, true)
	if got := inflate(t, with, hist); !bytes.Equal(got, chunk) {
		t.Fatal("chunk encoded with history does not round trip")
	}
	if len(with) >= len(without) {
		t.Errorf("with history %d bytes, without %d: history unused", len(with), len(without))
	}
}

// Matches at the edge of the 32 KiB window: distance 32767 is the farthest
// the encoder uses (see longest), 32768 and beyond must not be used.
func TestWindowEdge(t *testing.T) {
	for _, gap := range []int{32767 - 16, 32768 - 16, 32769 - 16, 40000} {
		pat := randomBytes(16, 6)
		in := bytes.Join([][]byte{pat, randomBytes(gap, 7), pat}, nil)
		out := encodeChunks(NewEncoder(Effort{}), in, 0)
		if got := inflate(t, out, nil); !bytes.Equal(got, in) {
			t.Errorf("gap %d: round trip differs", gap)
		}
	}
}

// The encoder picks the cheapest block type: stored for random data,
// fixed codes for a few bytes, dynamic codes for text.
func TestBlockType(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		want uint8 // BTYPE of the first block
	}{
		{"random", randomBytes(100_000, 8), 0},
		{"short", []byte("hello, hello"), 1},
		{"text", textBytes(100_000, 9), 2},
	} {
		out := NewEncoder(Effort{}).Encode(nil, tt.in, 0, true)
		if got := (out[0] >> 1) & 3; got != tt.want {
			t.Errorf("%s: first block type %d, want %d", tt.name, got, tt.want)
		}
		// A stored block per Huffman block of literals: 5 bytes per 8 Ki.
		if tt.want == 0 && len(out) > len(tt.in)+5*(len(tt.in)/blockTokens+1) {
			t.Errorf("%s: %d bytes for %d stored", tt.name, len(out), len(tt.in))
		}
	}
}

// The output depends only on the input: a fresh encoder and one reused
// after other work give the same bytes.
func TestDeterministic(t *testing.T) {
	in := goBinary(t, 300_000)
	want := NewEncoder(Effort{}).Encode(nil, in, 1000, false)
	e := NewEncoder(Effort{})
	e.Encode(nil, textBytes(200_000, 10), 0, true)
	if got := e.Encode(nil, in, 1000, false); !bytes.Equal(got, want) {
		t.Error("a reused encoder gives different bytes")
	}
}

// Against klauspost's levels, the reason this package exists: smaller than
// level 8 on Go binaries, and smaller than level 6 on text, the default
// effort's weakest case.
func TestSmallerThanKlauspost(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    []byte
		level int
	}{
		{"go binary", goBinary(t, 2<<20), 8},
		{"text", textBytes(2<<20, 11), 6},
	} {
		ours := len(NewEncoder(Effort{}).Encode(nil, tt.in, 0, true))
		theirs := len(klauspost(t, tt.in, tt.level))
		if ours >= theirs {
			t.Errorf("%s: %d bytes, klauspost level %d %d: want smaller", tt.name, ours, tt.level, theirs)
		}
	}
}

func TestBuildLengths(t *testing.T) {
	fib := make([]uint32, 30) // Fibonacci frequencies: 29 bits deep unlimited
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	r := rand.New(rand.NewPCG(3, 4))
	random := make([]uint32, numLitLen)
	for i := range random {
		if r.IntN(3) > 0 {
			random[i] = r.Uint32N(100_000)
		}
	}
	for _, tt := range []struct {
		name    string
		freq    []uint32
		maxBits int
	}{
		{"two", []uint32{0, 5, 0, 7}, 15},
		{"fibonacci limited to 15", fib, 15},
		{"fibonacci limited to 7", fib[:19], 7},
		{"random", random, 15},
		{"equal", []uint32{3, 3, 3, 3, 3}, 15},
	} {
		var h huffmanScratch
		lens := make([]uint8, len(tt.freq))
		buildLengths(tt.freq, lens, tt.maxBits, &h)
		var kraft float64
		for s, l := range lens {
			switch {
			case tt.freq[s] == 0 && l != 0:
				t.Errorf("%s: unused symbol %d has length %d", tt.name, s, l)
			case tt.freq[s] != 0 && (l == 0 || int(l) > tt.maxBits):
				t.Errorf("%s: symbol %d has length %d, want 1 to %d", tt.name, s, l, tt.maxBits)
			}
			if l != 0 {
				kraft += 1 / float64(uint64(1)<<l)
			}
		}
		if kraft != 1 {
			t.Errorf("%s: Kraft sum %v, want exactly 1 (a complete code)", tt.name, kraft)
		}
	}
	// One symbol: length 1, as decoders expect.
	lens := make([]uint8, 4)
	buildLengths([]uint32{0, 0, 9, 0}, lens, 15, &huffmanScratch{})
	if lens[2] != 1 {
		t.Errorf("single symbol: length %d, want 1", lens[2])
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello hello hello"), uint16(5), uint8(8))
	f.Add(textBytes(5000, 14), uint16(1000), uint8(24))
	f.Add(randomBytes(3000, 15), uint16(0), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16, depth uint8) {
		// At most ~16 chunks: each one re-reads up to 32 KiB of history
		// and clears ~640 KiB of tables, which would make a chunk of a few
		// bytes over a long input take seconds.
		size := int(chunk)
		if size > 0 {
			size = max(size, len(in)/16+1)
		}
		out := encodeChunks(NewEncoder(Effort{Depth: int(depth % 32), Nice: int(depth%32) + 3}), in, size)
		if got := inflate(t, out, nil); !bytes.Equal(got, in) {
			t.Fatalf("round trip differs: %d bytes back of %d", len(got), len(in))
		}
	})
}

// counter counts the bytes written to it.
type counter int

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

// BenchmarkEncode compresses 4 MiB of a Go binary and 4 MiB of text in
// 1 MiB chunks, as the gzip writer does, with our encoder and with
// klauspost's levels 6 and 8, its peers, reporting the output size:
//
//	go test -run '^$' -bench Encode ./internal/deflate/
func BenchmarkEncode(b *testing.B) {
	const chunk = 1 << 20
	in := append(goBinary(b, 4*chunk), textBytes(4*chunk, 16)...)
	b.Run("ours", func(b *testing.B) {
		e := NewEncoder(Effort{})
		b.SetBytes(int64(len(in)))
		var out []byte
		for b.Loop() {
			out = encodeChunks(e, in, chunk)
		}
		b.ReportMetric(float64(len(out)), "bytes")
	})
	for _, level := range []int{6, 8} {
		b.Run(fmt.Sprintf("klauspost-%d", level), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			var c counter
			for b.Loop() {
				c = 0
				for start := 0; start < len(in); start += chunk {
					// Primed with the previous 32 KiB, like ours.
					w, err := kflate.NewWriterDict(&c, level, in[max(0, start-windowSize):start])
					if err != nil {
						b.Fatal(err)
					}
					w.Write(in[start:min(start+chunk, len(in))])
					w.Close()
				}
			}
			n := int(c)
			b.ReportMetric(float64(n), "bytes")
		})
	}
}
