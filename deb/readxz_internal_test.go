package deb

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

func xzCompress(t *testing.T, p []byte, cfg xz.WriterConfig) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := cfg.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// xzTool compresses p with xz(1) and args, or skips the test without it.
func xzTool(t *testing.T, p []byte, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("no xz(1)")
	}
	cmd := exec.Command(bin, append(args, "-c")...)
	cmd.Stdin = bytes.NewReader(p)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func xzDecode(b []byte) ([]byte, error) {
	r, err := newXZReader(io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Streams as ulikunitz/xz and xz(1) write them: one block or many, sizes
// in the block headers or not, every check type.
func TestXZReaderValid(t *testing.T) {
	var text bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&text, "line %d of some text to compress\n", i*i)
	}
	for _, tt := range []struct {
		name string
		xz   func(t *testing.T) []byte
	}{
		{"one block, CRC64", func(t *testing.T) []byte { return xzCompress(t, text.Bytes(), xz.WriterConfig{}) }},
		{"blocks of 64 KiB, CRC32", func(t *testing.T) []byte {
			return xzCompress(t, text.Bytes(), xz.WriterConfig{BlockSize: 64 << 10, CheckSum: xz.CRC32})
		}},
		{"SHA-256", func(t *testing.T) []byte { return xzCompress(t, text.Bytes(), xz.WriterConfig{CheckSum: xz.SHA256}) }},
		{"no check", func(t *testing.T) []byte { return xzCompress(t, text.Bytes(), xz.WriterConfig{NoCheckSum: true}) }},
		{"xz -6", func(t *testing.T) []byte { return xzTool(t, text.Bytes(), "-6") }},
		{"xz threads, sizes in headers", func(t *testing.T) []byte { return xzTool(t, text.Bytes(), "-T2", "--block-size=65536") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := xzDecode(tt.xz(t))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, text.Bytes()) {
				t.Errorf("decoded %d bytes, not the %d compressed", len(got), text.Len())
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		if got, err := xzDecode(xzTool(t, nil)); err != nil || len(got) != 0 {
			t.Errorf("decoded %q, %v", got, err)
		}
	})
}

func TestXZReaderRefuses(t *testing.T) {
	text := bytes.Repeat([]byte("some text to compress\n"), 10000)
	good := xzCompress(t, text, xz.WriterConfig{BlockSize: 64 << 10, CheckSum: xz.CRC32})
	edit := func(i int, c byte) []byte {
		b := bytes.Clone(good)
		b[(i+len(b))%len(b)] ^= c
		return b
	}
	for _, tt := range []struct {
		name, want string
		xz         func(t *testing.T) []byte
	}{
		{"data after the stream", "data after the end of the stream", func(*testing.T) []byte { return append(bytes.Clone(good), 0, 0, 0, 0) }},
		{"truncated", "unexpected EOF", func(*testing.T) []byte { return good[:len(good)-1] }},
		{"footer magic", "bad stream footer", func(*testing.T) []byte { return edit(-1, 1) }},
		{"index checksum", "index checksum mismatch", func(*testing.T) []byte { return edit(-13, 1) }},
		{"stream header", "stream header checksum mismatch", func(*testing.T) []byte { return edit(7, 4) }},
		{"block header", "block 1 header: checksum mismatch", func(*testing.T) []byte { return edit(12+4, 1) }},
		{"dictionary past the cap", "block 1 asks for an LZMA2 dictionary of 33554432 bytes, more than the 16777216 Read allows",
			func(t *testing.T) []byte { return xzCompress(t, text, xz.WriterConfig{DictCap: 32 << 20}) }},
		{"BCJ filter", "filter chains (BCJ, delta) are not supported", func(t *testing.T) []byte { return xzTool(t, text, "--x86", "--lzma2") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := xzDecode(tt.xz(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A block's decoder gets no larger a dictionary than the block's output,
// whatever its header asks for.
func TestXZReaderDictionaryFitsBlock(t *testing.T) {
	b := xzCompress(t, []byte("hello\n"), xz.WriterConfig{DictCap: maxXZDict})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := xzDecode(b); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("decoding 6 bytes allocated %d bytes", n)
	}
}
